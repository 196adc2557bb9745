"""Signed request objects (JAR, RFC 9101) at the sandbox provider's ``/authorize`` and ``/par``.

A request object is a JWT the client signs with one of its registered keys (the same keys,
and key cache, as its ``private_key_jwt`` assertions), PS256 or ES256. It is checked as the
FAPI 2.0 Message Signing profile (5.3.1) asks: ``iss`` and ``client_id`` the client, ``aud``
the issuer, ``exp`` in the future and at most an hour after ``nbf``, ``nbf`` in the past and
at most an hour ago, a ``jti`` never seen before; a ``typ`` other than
``oauth-authz-req+jwt`` is refused. Once it verifies, the request's parameters are its
claims only (RFC 9101 5: those outside it are ignored, but ``client_id``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError

from ._op_assertion import ASSERTION_ALGS, AssertionVerifier
from ._op_context import OAuthError, OPContext
from ._op_models import SandboxClient
from ._op_replay import ReplayCache

__all__ = ["MAX_REQUEST_OBJECT_AGE", "RequestObjects"]

#: How far apart ``nbf`` and ``exp`` may be, and how old ``nbf`` (FAPI 2.0 MS 5.3.1: 60 min).
MAX_REQUEST_OBJECT_AGE = 3600
_MAX_LENGTH = 16384
_SKEW = 5
_TYPE = "oauth-authz-req+jwt"
#: Claims that describe the object, not the request.
_JWT_CLAIMS = frozenset({"iss", "aud", "exp", "nbf", "iat", "jti", "sub"})


def _invalid(description: str) -> OAuthError:
    return OAuthError("invalid_request_object", description)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class RequestObjects:
    """Verifies request objects; one per provider (it keeps the ``jti`` cache)."""

    def __init__(self, ctx: OPContext, assertions: AssertionVerifier) -> None:
        self._ctx = ctx
        self._assertions = assertions
        self._replay = ReplayCache(ctx.config.now)

    def check_required(self, client: SandboxClient, params: Mapping[str, str]) -> None:
        """A client registered with ``require_signed_request_object`` sends one, always."""
        if client.require_signed_request_object and "request" not in params:
            raise OAuthError("invalid_request", "this client must send a signed request object")

    async def params(self, client: SandboxClient, params: Mapping[str, str]) -> dict[str, str]:
        """The request's parameters: the verified object's claims, and ``client_id``."""
        token = params["request"]
        header = self._header(token)
        try:
            claims = await self._assertions.signed_claims(client, token, header)
        except OAuthError:
            raise _invalid("the request object's signature does not verify") from None
        self._check(client, claims)
        unpacked = {k: _param(v) for k, v in claims.items() if k not in _JWT_CLAIMS}
        return {**unpacked, "client_id": client.client_id}

    def _header(self, token: str) -> dict[str, Any]:
        if len(token) > _MAX_LENGTH or token.count(".") != 2:
            raise _invalid("the request object is not a compact JWS (encryption is unsupported)")
        try:
            header = dict(jws.extract_compact(token.encode("ascii")).protected)
        except (JoseError, ValueError, TypeError, UnicodeEncodeError):
            raise _invalid("the request object is not a compact JWS") from None
        if header.get("alg") not in ASSERTION_ALGS:
            allowed = " or ".join(ASSERTION_ALGS)
            raise _invalid(f"the request object's alg must be {allowed}")
        if header.get("typ", _TYPE) != _TYPE:
            raise _invalid(f"the request object's typ must be {_TYPE}")
        return header

    def _check(self, client: SandboxClient, claims: Mapping[str, Any]) -> None:
        client_id, issuer = client.client_id, self._ctx.config.issuer
        if claims.get("iss") != client_id or claims.get("client_id") != client_id:
            raise _invalid("the request object's iss and client_id must be the client_id")
        aud = claims.get("aud")
        if not (aud == issuer or (isinstance(aud, list) and issuer in aud)):
            raise _invalid(f"the request object's aud must be the issuer {issuer}")
        if "request" in claims or "request_uri" in claims:
            raise _invalid("a request object cannot hold request or request_uri")
        self._check_times(claims)
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise _invalid("the request object needs a jti")
        if not self._replay.first_use(f"{client_id}:{jti}", float(claims["exp"]) + 1):
            raise _invalid("this request object (its jti) was already used")

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now = self._ctx.config.now()
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not _is_int(exp) or not _is_int(nbf):
            raise _invalid("the request object needs exp and nbf")
        assert isinstance(exp, int) and isinstance(nbf, int)
        if exp <= now - _SKEW:
            raise _invalid("the request object has expired")
        if nbf > now + _SKEW:
            raise _invalid("the request object is not valid yet (nbf)")
        if nbf < now - MAX_REQUEST_OBJECT_AGE or exp - nbf > MAX_REQUEST_OBJECT_AGE:
            raise _invalid("the request object lives longer than an hour")


def _param(value: object) -> str:
    """A claim as the parameter it stands for: text as it is, numbers as digits, JSON
    (``authorization_details``, ``claims``, several ``resource`` values) as its text."""
    if isinstance(value, str):
        return value
    if _is_int(value):
        return str(value)
    return json.dumps(value, separators=(",", ":"))
