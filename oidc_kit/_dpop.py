"""DPoP (RFC 9449): access tokens bound to a key pair that only this session holds.

Each session gets its own P-256 key at login, kept sealed with its tokens. Every request that
uses the tokens (the token endpoint, userinfo, ORCA) carries a fresh proof: a JWT signed by
that key naming the method and URL (``htm``, ``htu``), when (``iat``), a unique ``jti`` and,
towards a resource server, the hash of the access token (``ath``). A stolen access token is
then useless without the key.

A server may demand a nonce it chose (``DPoP-Nonce``): the client remembers the latest one
per origin and, when a request is refused for want of it, retries that request once.
:class:`DPoPAuth` is that step, the one place it is written: an ``httpx.Auth`` used for the
token and PAR endpoints, userinfo, and (through :class:`~oidc_kit.BearerAuth`) APIs.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
import secrets
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey

from ._http import AsyncAuth

__all__ = [
    "DPOP_ALG",
    "PROOF_ERRORS",
    "DPoPAuth",
    "DPoPKey",
    "DPoPNonces",
    "access_token_hash",
    "challenge_errors",
    "load_key",
]

DPOP_ALG = "ES256"

_CHALLENGE_ERROR = re.compile(r'\berror\s*=\s*"?([A-Za-z_]+)"?', re.IGNORECASE)


class DPoPKey:
    """One session's DPoP key pair. ``repr`` shows only its thumbprint."""

    def __init__(self, key: ECKey) -> None:
        self._key = key
        self.thumbprint = key.thumbprint()
        self._public = key.as_dict(private=False)

    def __repr__(self) -> str:
        return f"DPoPKey(jkt={self.thumbprint!r})"

    @classmethod
    def generate(cls) -> DPoPKey:
        """A new P-256 key (ES256, the algorithm every DPoP server supports)."""
        return cls(ECKey.generate_key("P-256", private=True))

    @classmethod
    def from_json(cls, data: str) -> DPoPKey:
        """The key :meth:`to_json` wrote (from a sealed session record)."""
        return cls(ECKey.import_key(json.loads(data)))

    def to_json(self) -> str:
        """The private key as a JWK, for sealing into the session: never store it in clear."""
        return json.dumps(self._key.as_dict(private=True), separators=(",", ":"))

    def proof(
        self,
        method: str,
        url: str,
        *,
        access_token: str | None = None,
        nonce: str | None = None,
        now: float | None = None,
    ) -> str:
        """A DPoP proof for one request (RFC 9449 4.2)."""
        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(24),
            "htm": method.upper(),
            "htu": target_uri(url),
            "iat": int(time.time() if now is None else now),
        }
        if access_token is not None:
            claims["ath"] = access_token_hash(access_token)
        if nonce is not None:
            claims["nonce"] = nonce
        header = {"typ": "dpop+jwt", "alg": DPOP_ALG, "jwk": self._public}
        return jwt.encode(header, claims, self._key, algorithms=[DPOP_ALG])


@functools.lru_cache(maxsize=256)
def load_key(data: str) -> DPoPKey:
    """:meth:`DPoPKey.from_json`, remembered for the busiest sessions of the process:
    importing the key cost as much as signing the proof (``python -m bench.dpop``)."""
    return DPoPKey.from_json(data)


def target_uri(url: str) -> str:
    """``htu``: the request URI without query and fragment (RFC 9449 4.2)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def access_token_hash(access_token: str) -> str:
    """``ath``: base64url of the SHA-256 of the access token, unpadded."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def challenge_errors(response: httpx.Response) -> frozenset[str]:
    """The ``error`` codes of a 401's ``WWW-Authenticate`` challenges (RFC 6750 3, RFC 9449
    7.1), read from the headers only: a streaming body stays unread. A server may offer
    several schemes at once (``Bearer error="invalid_token", DPoP error="use_dpop_nonce"``):
    every challenge's error counts."""
    if response.status_code != 401:
        return frozenset()
    values = response.headers.get_list("www-authenticate")
    return frozenset(m.group(1) for v in values for m in _CHALLENGE_ERROR.finditer(v))


#: 401s that a new access token cannot cure: the proof, not the token, was refused.
PROOF_ERRORS = frozenset({"invalid_dpop_proof", "use_dpop_nonce"})


class DPoPNonces:
    """The latest nonce each server gave, by origin. Shared by the sessions of one process:
    a nonce belongs to the server, not to a key."""

    def __init__(self) -> None:
        self._by_origin: dict[str, str] = {}

    def get(self, url: str) -> str | None:
        """The nonce to put in a proof for ``url``, if its server gave one."""
        return self._by_origin.get(_origin(url))

    def remember(self, url: str, response: httpx.Response) -> None:
        """Keep the nonce a response carries (servers may send a new one with any answer)."""
        nonce = response.headers.get("dpop-nonce")
        if nonce and nonce.isascii() and nonce.isprintable() and len(nonce) <= 1024:
            self._by_origin[_origin(url)] = nonce


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class DPoPAuth(AsyncAuth):
    """An ``httpx.Auth`` that sends each request with a fresh proof of ``key``, and once more
    (with a new proof) when the server refuses it for want of its nonce.

    With ``access_token`` the server is a resource server (userinfo, an API): the request
    carries ``Authorization: DPoP <token>`` and the proof its hash (``ath``), and the nonce
    challenge is a 401 whose ``WWW-Authenticate`` says ``use_dpop_nonce`` (RFC 9449 9; only
    headers are read, the caller reads the body). Without, it is an authorization server
    (token, PAR): the challenge is a 400 whose JSON body is ``{"error": "use_dpop_nonce"}``
    (RFC 9449 8). Either must carry a ``DPoP-Nonce``. Every answer's nonce is kept in
    ``nonces``, unless a redirect led to another origin.

    ``prepare`` makes each request sent from the caller's, before it is signed: the client's
    own authentication (:class:`~oidc_kit._client_auth.ClientAuth`), so that a client
    assertion, good for one request only, is new on the retry too. The request's body is read
    into memory first (as httpx's ``DigestAuth`` does), so the retry can send it again.
    """

    def __init__(
        self,
        key: DPoPKey,
        nonces: DPoPNonces,
        clock: Callable[[], float] = time.time,
        access_token: str | None = None,
        *,
        prepare: Callable[[httpx.Request], httpx.Request] | None = None,
    ) -> None:
        self._key = key
        self._nonces = nonces
        self._clock = clock
        self._access_token = access_token
        self._prepare = prepare

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        await request.aread()  # a retry resends the body: a streamed one must be kept
        response = yield self._signed(request)
        if await self._asks_for_nonce(request, response):
            await response.aread()  # release the connection before the retry
            response = yield self._signed(request)
            self._remember(request, response)

    def _signed(self, request: httpx.Request) -> httpx.Request:
        """The request to send now: prepared afresh, with a new proof and the latest nonce."""
        sent = self._prepare(request) if self._prepare is not None else request
        url = str(sent.url)
        if self._access_token is not None:
            sent.headers["Authorization"] = f"DPoP {self._access_token}"
        sent.headers["DPoP"] = self._key.proof(
            sent.method,
            url,
            access_token=self._access_token,
            nonce=self._nonces.get(url),
            now=self._clock(),
        )
        return sent

    def _remember(self, request: httpx.Request, response: httpx.Response) -> bool:
        """Keep the answer's nonce; ``False`` when the answer came from another origin (a
        redirect was followed): it teaches nothing about this server's nonce."""
        if not _same_origin(request.url, response.url):
            return False
        self._nonces.remember(str(request.url), response)
        return True

    async def _asks_for_nonce(self, request: httpx.Request, response: httpx.Response) -> bool:
        if not self._remember(request, response) or "dpop-nonce" not in response.headers:
            return False
        if self._access_token is not None:
            return "use_dpop_nonce" in challenge_errors(response)
        if response.status_code != 400:
            return False
        try:
            body = json.loads(await response.aread())
        except (ValueError, RecursionError):  # deep nesting raises RecursionError
            return False
        return isinstance(body, dict) and body.get("error") == "use_dpop_nonce"


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)
