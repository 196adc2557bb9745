"""DPoP (RFC 9449): access tokens bound to a key pair that only this session holds.

Each session gets its own P-256 key at login, kept sealed with its tokens. Every request that
uses the tokens (the token endpoint, userinfo, ORCA) carries a fresh proof: a JWT signed by
that key naming the method and URL (``htm``, ``htu``), when (``iat``), a unique ``jti`` and,
towards a resource server, the hash of the access token (``ath``). A stolen access token is
then useless without the key.

A server may demand a nonce it chose (``DPoP-Nonce``): the client remembers the latest one
per origin and, when a request is refused for want of it, retries that request once.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey

__all__ = [
    "DPOP_ALG",
    "PROOF_ERRORS",
    "DPoPKey",
    "DPoPNonces",
    "access_token_hash",
    "challenge_errors",
    "load_key",
    "send_with_nonce",
    "wants_nonce",
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


def wants_nonce(response: httpx.Response) -> bool:
    """Whether a server refused a request for want of its ``DPoP-Nonce`` (RFC 9449 8, 9).

    An authorization server answers 400 ``use_dpop_nonce`` in its JSON body (read it
    first); a resource server answers 401 with the error in ``WWW-Authenticate``.
    """
    if "dpop-nonce" not in response.headers:
        return False
    if response.status_code == 401:
        return "use_dpop_nonce" in challenge_errors(response)
    if response.status_code == 400:
        try:
            body = json.loads(response.content)
        except ValueError:
            return False
        return isinstance(body, dict) and body.get("error") == "use_dpop_nonce"
    return False


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


async def send_with_nonce(
    send: Callable[[str | None], Awaitable[httpx.Response]], url: str, nonces: DPoPNonces
) -> httpx.Response:
    """Send with the server's latest nonce; when it asks for a newer one, once more."""
    response = await send(nonces.get(url))
    nonces.remember(url, response)
    if wants_nonce(response):
        await response.aread()
        response = await send(nonces.get(url))
        nonces.remember(url, response)
    return response
