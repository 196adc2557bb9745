"""A scriptable, misbehaving OpenID Provider behind ``httpx.MockTransport``, for unit tests.

It behaves like a correct provider until a test tells it otherwise through its attributes:
``discovery`` (extra or replaced metadata), ``id_claims``/``id_header`` (overrides for the next
ID tokens; a value of ``DROP`` removes the claim), ``token_body`` (overrides of the token
response), ``userinfo_status``/``userinfo_body``, ``fail_with`` (an exception to raise for the
next requests, e.g. ``httpx.ConnectError``). ``token_body`` shapes the login's token response
only; refresh responses take ``refresh_body``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections import Counter
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

ISSUER = "https://op.test"
CLIENT_ID = "client-1"
CLIENT_SECRET = "client-secret-0123456789"
DROP = object()

_KEYS: dict[str, RSAKey] = {}


def rsa_key(kid: str) -> RSAKey:
    """RSA keys are slow to make: one per kid per test session."""
    if kid not in _KEYS:
        _KEYS[kid] = RSAKey.generate_key(
            2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"}
        )
    return _KEYS[kid]


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class FakeOP:
    """A provider at ``https://op.test`` answering through :meth:`transport`."""

    def __init__(self) -> None:
        self.clock = time.time
        self.key = rsa_key("k1")
        self.jwks_keys: list[Any] = [self.key]
        self.jwks_raw: list[dict[str, Any]] | None = None  # served instead of jwks_keys
        self.discovery: dict[str, Any] = {}
        self.id_claims: dict[str, Any] = {}
        self.id_header: dict[str, Any] = {}
        self.sign_key: Any = None  # None: self.key
        self.token_body: dict[str, Any] = {}
        self.token_status = 200
        self.refresh_body: dict[str, Any] = {}
        self.userinfo_status = 200
        self.userinfo_body: dict[str, Any] = {}
        self.fail_with: type[Exception] | None = None
        self.calls: Counter[str] = Counter()
        self.requests: list[httpx.Request] = []
        self.sub = "user-1"
        self._codes: dict[str, dict[str, str]] = {}
        self.refresh_tokens: set[str] = set()

    # -- wiring ---------------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        # Looked up per request: a test may replace `handle` after the transport is made.
        return httpx.MockTransport(lambda request: self.handle(request))

    def metadata(self) -> dict[str, Any]:
        doc = {
            "issuer": ISSUER,
            "authorization_endpoint": f"{ISSUER}/authorize",
            "token_endpoint": f"{ISSUER}/token",
            "userinfo_endpoint": f"{ISSUER}/userinfo",
            "jwks_uri": f"{ISSUER}/jwks",
            "revocation_endpoint": f"{ISSUER}/revoke",
            "end_session_endpoint": f"{ISSUER}/logout",
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "authorization_response_iss_parameter_supported": True,
        }
        doc.update(self.discovery)
        return {k: v for k, v in doc.items() if v is not DROP}

    def authorize(self, authorization_url: str) -> dict[str, str]:
        """What a browser + provider do: read the request, return the callback parameters."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(authorization_url).query).items()}
        assert query["response_type"] == "code"
        assert query["code_challenge_method"] == "S256"
        code = secrets.token_urlsafe(16)
        self._codes[code] = query
        return {"code": code, "state": query["state"], "iss": ISSUER}

    # -- tokens ---------------------------------------------------------------------------

    def id_token(self, nonce: str | None, access_token: str, **extra: Any) -> str:
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": self.sub,
            "aud": CLIENT_ID,
            "exp": now + 300,
            "iat": now,
            "auth_time": now,
            "at_hash": _at_hash(access_token),
            "sid": "op-session-1",
            "name": "Test User",
        }
        if nonce is not None:
            claims["nonce"] = nonce
        claims.update(extra)
        claims.update(self.id_claims)
        claims = {k: v for k, v in claims.items() if v is not DROP}
        header = {"alg": "RS256", "kid": self.key.kid, **self.id_header}
        header = {k: v for k, v in header.items() if v is not DROP}
        key = self.sign_key if self.sign_key is not None else self.key
        if header.get("alg") == "none":
            return _unsigned(header, claims)
        return jwt.encode(header, claims, key, algorithms=[header["alg"]])

    def access_token(self) -> str:
        return "at-" + secrets.token_urlsafe(24)

    # -- endpoints ------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        self.calls[path] += 1
        if self.fail_with is not None:
            raise self.fail_with("provider down", request=request)  # type: ignore[call-arg]
        if path == "/.well-known/openid-configuration":
            return httpx.Response(200, json=self.metadata())
        if path == "/jwks":
            keys = self.jwks_raw
            if keys is None:
                keys = [k.as_dict(private=False) for k in self.jwks_keys]
            return httpx.Response(200, json={"keys": keys})
        if path == "/token":
            return self._token(request)
        if path == "/userinfo":
            body = {"sub": self.sub, "email": "user@example.com", **self.userinfo_body}
            return httpx.Response(self.userinfo_status, json=body)
        if path == "/revoke":
            return httpx.Response(200)
        return httpx.Response(404)

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if not self._client_ok(request, form):
            return httpx.Response(401, json={"error": "invalid_client"})
        if form["grant_type"] == "authorization_code":
            return self._code_grant(form)
        return self._refresh_grant(form)

    def _client_ok(self, request: httpx.Request, form: dict[str, str]) -> bool:
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            return user == CLIENT_ID and password == CLIENT_SECRET
        return form.get("client_id") == CLIENT_ID and form.get("client_secret") == CLIENT_SECRET

    def _code_grant(self, form: dict[str, str]) -> httpx.Response:
        query = self._codes.pop(form.get("code", ""), None)
        if (
            query is None
            or form.get("redirect_uri") != query["redirect_uri"]
            or s256(form.get("code_verifier", "")) != query["code_challenge"]
        ):
            return httpx.Response(400, json={"error": "invalid_grant"})
        if self.token_status != 200:
            return httpx.Response(self.token_status, json=self.token_body)
        return self._issue(query.get("nonce"))

    def _refresh_grant(self, form: dict[str, str]) -> httpx.Response:
        token = form.get("refresh_token", "")
        if token not in self.refresh_tokens:
            return httpx.Response(400, json={"error": "invalid_grant"})
        self.refresh_tokens.discard(token)  # rotation
        return self._issue(None, self.refresh_body)

    def _issue(self, nonce: str | None, overrides: dict[str, Any] | None = None) -> httpx.Response:
        access = self.access_token()
        refresh = "rt-" + secrets.token_urlsafe(24)
        self.refresh_tokens.add(refresh)
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": 3600,
            "refresh_token": refresh,
            "scope": "openid profile accounts:read",
            "id_token": self.id_token(nonce, access),
        }
        body.update(self.token_body if overrides is None else overrides)
        body = {k: v for k, v in body.items() if v is not DROP}
        return httpx.Response(200, json=body, headers={"Cache-Control": "no-store"})


def _at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """An ``alg: none`` token, built by hand because joserfc rightly refuses to make one."""
    return f"{_b64(header)}.{_b64(claims)}."


def hmac_key(secret: str = CLIENT_SECRET) -> OctKey:
    return OctKey.import_key(secret.encode())
