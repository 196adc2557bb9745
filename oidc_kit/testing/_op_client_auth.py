"""Client authentication at the token, PAR and revocation endpoints.

RFC 6749 2.3.1 (a secret, in HTTP Basic or in the form) and RFC 7523 2.2 (a signed assertion
in the form: ``client_secret_jwt`` when its ``alg`` is HMAC, else ``private_key_jwt``) and
RFC 8705 2 (the client certificate, at the ``/mtls`` aliases: ``_op_mtls``). One
request uses exactly one method, and it must be the client's registered one.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Mapping
from urllib.parse import unquote_plus

from starlette.requests import Request

from ._op_assertion import HMAC_ASSERTION_ALGS, AssertionVerifier, assertion_header, invalid_client
from ._op_context import OAuthError
from ._op_models import SandboxClient
from ._op_mtls import MTLS_METHODS, authenticate_by_certificate, endpoint_certificate

__all__ = ["authenticate_client"]

_ASSERTION_FIELDS = ("client_assertion", "client_assertion_type")
_ASSERTION_METHODS = frozenset({"client_secret_jwt", "private_key_jwt"})


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    """HTTP Basic credentials, each form-urlencoded before base64 as RFC 6749 2.3.1 says."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise invalid_client("only HTTP Basic client authentication is accepted in a header")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise invalid_client("malformed HTTP Basic credentials") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise invalid_client("malformed HTTP Basic credentials")
    return unquote_plus(client_id), unquote_plus(secret)


#: Far above a real assertion (a header, six claims, one signature); nothing longer is parsed.
MAX_ASSERTION_LENGTH = 8192


def _assertion_subject(form: Mapping[str, str]) -> tuple[str, str]:
    """The method an assertion presents (by its header's ``alg``) and the client it names
    (its ``sub``); unverified, only to find the client and how to verify it."""
    token = form.get("client_assertion", "")
    if len(token) > MAX_ASSERTION_LENGTH:
        raise invalid_client("client_assertion is too large")
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error, RecursionError):
        raise invalid_client("client_assertion is not a compact JWS") from None
    sub = claims.get("sub") if isinstance(claims, dict) else None
    hmac_alg = assertion_header(token).get("alg") in HMAC_ASSERTION_ALGS
    method = "client_secret_jwt" if hmac_alg else "private_key_jwt"
    return method, sub if isinstance(sub, str) else ""


def _presented(request: Request, form: Mapping[str, str]) -> tuple[str, str, str | None]:
    """(method, client_id, secret) as the request presents them."""
    basic = _basic_credentials(request)
    assertion = any(name in form for name in _ASSERTION_FIELDS)
    if (basic is not None) + ("client_secret" in form) + assertion > 1:
        raise OAuthError("invalid_request", "more than one client authentication method")
    if basic is not None:
        if form.get("client_id", basic[0]) != basic[0]:
            raise invalid_client("client_id in the body differs from the Basic credentials")
        return "client_secret_basic", basic[0], basic[1]
    client_id = form.get("client_id", "")
    if "client_secret" in form:
        return "client_secret_post", client_id, form["client_secret"]
    if assertion:
        method, sub = _assertion_subject(form)
        if client_id and client_id != sub:
            raise invalid_client("client_id differs from the client assertion's sub")
        return method, client_id or sub, None
    return "none", client_id, None


async def authenticate_client(
    request: Request,
    form: Mapping[str, str],
    clients: Mapping[str, SandboxClient],
    assertions: AssertionVerifier,
) -> SandboxClient:
    """The registered client the request authenticates as, or ``invalid_client`` (401)."""
    method, client_id, secret = _presented(request, form)
    client = clients.get(client_id)
    if client is None:
        raise invalid_client("unknown client")
    if method == "none" and client.auth_methods & MTLS_METHODS:
        # RFC 8705 2: only client_id in the form; the certificate is the credential.
        authenticate_by_certificate(client, endpoint_certificate(request))
        return client
    if method not in client.auth_methods:
        allowed = " or ".join(sorted(client.auth_methods))
        raise invalid_client(f"this client must authenticate with {allowed}")
    if method in _ASSERTION_METHODS:
        await assertions.verify(client, form)
    elif client.client_secret is not None and not hmac.compare_digest(
        (secret or "").encode(), client.client_secret.encode()
    ):
        raise invalid_client("wrong client secret")
    return client
