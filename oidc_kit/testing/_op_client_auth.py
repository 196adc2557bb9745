"""Client authentication at the token and revocation endpoints (RFC 6749 2.3.1)."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from urllib.parse import unquote_plus

from starlette.requests import Request

from ._op_context import OAuthError
from ._op_models import SandboxClient

__all__ = ["authenticate_client"]

_CHALLENGE = {"WWW-Authenticate": 'Basic realm="sandbox"'}


def _invalid_client(description: str) -> OAuthError:
    return OAuthError("invalid_client", description, status=401, headers=_CHALLENGE)


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    """HTTP Basic credentials, each form-urlencoded before base64 as RFC 6749 2.3.1 says."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise _invalid_client("only HTTP Basic client authentication is accepted in a header")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _invalid_client("malformed HTTP Basic credentials") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise _invalid_client("malformed HTTP Basic credentials")
    return unquote_plus(client_id), unquote_plus(secret)


def _presented(request: Request, form: Mapping[str, str]) -> tuple[str, str, str | None]:
    """(method, client_id, secret) as the request presents them."""
    basic = _basic_credentials(request)
    if basic is not None:
        if "client_secret" in form:
            raise OAuthError("invalid_request", "more than one client authentication method")
        if form.get("client_id", basic[0]) != basic[0]:
            raise _invalid_client("client_id in the body differs from the Basic credentials")
        return "client_secret_basic", basic[0], basic[1]
    client_id = form.get("client_id", "")
    if "client_secret" in form:
        return "client_secret_post", client_id, form["client_secret"]
    return "none", client_id, None


def authenticate_client(
    request: Request, form: Mapping[str, str], clients: Mapping[str, SandboxClient]
) -> SandboxClient:
    """The registered client the request authenticates as, or ``invalid_client`` (401)."""
    method, client_id, secret = _presented(request, form)
    client = clients.get(client_id)
    if client is None:
        raise _invalid_client("unknown client")
    if method not in client.auth_methods:
        allowed = " or ".join(sorted(client.auth_methods))
        raise _invalid_client(f"this client must authenticate with {allowed}")
    if client.client_secret is not None and not hmac.compare_digest(
        (secret or "").encode(), client.client_secret.encode()
    ):
        raise _invalid_client("wrong client secret")
    return client
