"""Mutual TLS at the sandbox (RFC 8705): the certificate a client presents, client
authentication by it, and certificate-bound access tokens.

Where the certificate comes from: the ASGI TLS extension (``scope["extensions"]["tls"]
["client_cert_chain"]``), which only the server fills, from its TLS socket
(``_tls_server.py``). No request header is ever read for it, so nothing a client sends can
claim a certificate it did not present in the handshake.

The sandbox serves its RFC 8705 5 ``mtls_endpoint_aliases`` under ``/mtls`` (``/mtls/token``
and so on): only there does it look at the certificate, as a provider whose aliases live on a
host that asks for one. The plain endpoints ignore it, so a client that calls them instead of
the aliases gets neither certificate authentication nor bound tokens.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from joserfc.jwk import KeySet
from starlette.requests import Request
from starlette.responses import Response

from .._mtls import cert_thumbprint
from ._op_assertion import invalid_client
from ._op_context import AT_MTLS_ALIAS as _AT_ALIAS
from ._op_dpop import DPoPError
from ._op_models import SandboxClient

__all__ = [
    "ALIASED_PATHS",
    "MTLS_METHODS",
    "MTLS_PREFIX",
    "at_alias",
    "at_mtls_alias",
    "authenticate_by_certificate",
    "bound_thumbprint",
    "check_certificate_binding",
    "endpoint_certificate",
    "presented_certificate",
    "thumbprint",
    "without_certificate_binding",
]

#: Where the aliases are, under the issuer.
MTLS_PREFIX = "/mtls"
#: Each aliased endpoint's metadata name and path (the authorization endpoint is never one).
ALIASED_PATHS: Mapping[str, str] = {
    "token_endpoint": "/token",
    "pushed_authorization_request_endpoint": "/par",
    "revocation_endpoint": "/revoke",
    "userinfo_endpoint": "/userinfo",
    "introspection_endpoint": "/introspect",
}
MTLS_METHODS = frozenset({"tls_client_auth", "self_signed_tls_client_auth"})

Endpoint = Callable[[Request], Awaitable[Response]]


def presented_certificate(scope: Mapping[str, Any]) -> x509.Certificate | None:
    """The certificate the client presented in the TLS handshake (the server verified it
    against the CAs it trusts), from the ASGI TLS extension; ``None`` without one."""
    extensions = scope.get("extensions") or {}
    tls = extensions.get("tls") if isinstance(extensions, Mapping) else None
    chain = tls.get("client_cert_chain") if isinstance(tls, Mapping) else None
    if not chain:
        return None
    return x509.load_pem_x509_certificate(str(chain[0]).encode())


def thumbprint(cert: x509.Certificate) -> str:
    """RFC 8705 3.1's ``x5t#S256`` of ``cert``."""
    return cert_thumbprint(cert.public_bytes(serialization.Encoding.DER))


def at_mtls_alias(endpoint: Endpoint) -> Endpoint:
    """``endpoint`` served at its alias: there it sees the client's certificate."""

    async def aliased(request: Request) -> Response:
        scope: MutableMapping[str, Any] = request.scope
        scope[_AT_ALIAS] = True
        return await endpoint(request)

    return aliased


def endpoint_certificate(request: Request) -> x509.Certificate | None:
    """The presented certificate when the request came to an alias, else ``None``."""
    return presented_certificate(request.scope) if request.scope.get(_AT_ALIAS) else None


def at_alias(request: Request) -> bool:
    """Whether the request came to one of the ``mtls_endpoint_aliases``."""
    return bool(request.scope.get(_AT_ALIAS))


def authenticate_by_certificate(client: SandboxClient, cert: x509.Certificate | None) -> None:
    """RFC 8705 2: ``tls_client_auth``, a certificate issued by a CA the server trusts (not
    self-signed) with the registered subject DN; ``self_signed_tls_client_auth``, a
    certificate in the client's registered JWKS (``x5c`` or ``x5t#S256``). Else
    ``invalid_client``."""
    if cert is None:
        raise invalid_client("no client certificate was presented at the mTLS endpoint")
    method = client.token_endpoint_auth_method
    self_signed = cert.issuer == cert.subject
    if method == "tls_client_auth":
        if self_signed:
            raise invalid_client("tls_client_auth needs a CA-issued certificate")
        if cert.subject.rfc4514_string() != client.tls_client_auth_subject_dn:
            raise invalid_client("the certificate's subject DN is not the registered one")
        return
    if thumbprint(cert) not in _registered_thumbprints(client.jwks or {}):
        raise invalid_client("the certificate is not in the client's registered JWKS")


def _registered_thumbprints(jwks: Mapping[str, Any]) -> set[str]:
    """Every certificate thumbprint a JWK Set names: ``x5t#S256``, and that of ``x5c[0]``."""
    found: set[str] = set()
    KeySet.import_key_set(dict(jwks))  # type: ignore[arg-type]  # only well-formed sets
    for key in jwks.get("keys", ()):
        if isinstance(key.get("x5t#S256"), str):
            found.add(key["x5t#S256"])
        chain = key.get("x5c")
        if isinstance(chain, list) and chain and isinstance(chain[0], str):
            cert = x509.load_der_x509_certificate(base64.b64decode(chain[0]))
            found.add(thumbprint(cert))
    return found


def bound_thumbprint(claims: Mapping[str, Any]) -> str | None:
    """The certificate thumbprint an access token is bound to (``cnf["x5t#S256"]``)."""
    cnf = claims.get("cnf")
    value = cnf.get("x5t#S256") if isinstance(cnf, Mapping) else None
    return value if isinstance(value, str) and value else None


def without_certificate_binding(claims: Mapping[str, Any]) -> Mapping[str, Any]:
    """``claims`` without ``cnf["x5t#S256"]`` (``cnf`` dropped when nothing else is left):
    what the DPoP checks (``ResourceServerDPoP.bound_jkt``) are to see once the certificate
    binding is checked by :func:`check_certificate_binding`."""
    cnf = claims.get("cnf")
    if not isinstance(cnf, Mapping) or "x5t#S256" not in cnf:
        return claims
    rest = {k: v for k, v in cnf.items() if k != "x5t#S256"}
    trimmed = {k: v for k, v in claims.items() if k != "cnf"}
    return {**trimmed, "cnf": rest} if rest else trimmed


def check_certificate_binding(claims: Mapping[str, Any], scope: Mapping[str, Any]) -> None:
    """A resource server's side of RFC 8705 3: a token bound to a certificate is accepted only
    over a connection presenting that certificate; else :class:`DPoPError`
    ``invalid_token`` (answered 401, as every refusal of how a token is presented)."""
    bound = bound_thumbprint(claims)
    if bound is None:
        return
    cert = presented_certificate(scope)
    if cert is None:
        raise DPoPError("invalid_token", "The access token is bound to a client certificate")
    if thumbprint(cert) != bound:
        description = "The access token is bound to another client certificate"
        raise DPoPError("invalid_token", description)
