"""A sandbox OpenID Provider for development, demos and relying-party tests.

    from oidc_kit.testing import SandboxClient, SandboxProvider

    op = SandboxProvider(
        "http://op.test",
        [SandboxClient("app", "secret", ("http://app.test/auth/callback",))],
    )
    transport = httpx.ASGITransport(app=op.app)  # or Mount("/sandbox/op", app=op.app)

Users ``alice``/``alice`` and ``bob``/``bob`` exist by default (``SANDBOX_USERS``);
:func:`sandbox_login` logs one in to your app from a test.

For the FAPI 2.0 Security Profile, register the client with its public keys and ask for
DPoP and PAR; have the provider sign with PS256 (or ES256) and, if you like, refuse every
request that was not pushed:

    client = SandboxClient(
        "app", None, ("http://app.test/auth/callback",),
        token_endpoint_auth_method="private_key_jwt",
        jwks_uri="http://app.test/auth/jwks",  # or jwks={"keys": [...]}
        dpop_bound_access_tokens=True,
        require_par=True,
    )
    op = SandboxProvider("http://op.test", [client], id_token_alg="PS256", require_par=True)

A sandbox resource server (an API the tokens are for) checks how a request presents the
provider's access tokens, DPoP-bound or Bearer, with :class:`ResourceServerDPoP`, which
raises :class:`DPoPError`; the provider's own userinfo endpoint does the same.

Mutual TLS (RFC 8705): ``SandboxProvider(..., mtls=True)`` serves ``mtls_endpoint_aliases``
under ``/mtls``; serve it over real TLS with :class:`MTLSServer` (needs uvicorn), which
hands the app the client's certificate. :class:`TestCA` and
:func:`self_signed_client` make the certificates; a resource server checks a
certificate-bound token with :func:`check_certificate_binding`.
"""

from ._browser import sandbox_login
from ._op_dpop import DPoPError
from ._op_models import SANDBOX_USERS, SandboxClient, SandboxUser
from ._op_mtls import (
    bound_thumbprint,
    check_certificate_binding,
    presented_certificate,
    without_certificate_binding,
)
from ._op_provider import DEFAULT_SCOPES, SandboxProvider
from ._pki import Issued, TestCA, self_signed_client
from ._resource import ResourceServerDPoP
from ._tls_server import MTLSServer

__all__ = [
    "DEFAULT_SCOPES",
    "SANDBOX_USERS",
    "DPoPError",
    "Issued",
    "MTLSServer",
    "ResourceServerDPoP",
    "SandboxClient",
    "SandboxProvider",
    "SandboxUser",
    "TestCA",
    "bound_thumbprint",
    "check_certificate_binding",
    "presented_certificate",
    "sandbox_login",
    "self_signed_client",
    "without_certificate_binding",
]
