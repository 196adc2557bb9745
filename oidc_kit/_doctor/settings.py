"""What the doctor checks against: the app's settings, and the kit's configuration from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .._provider_config import ProviderConfig

__all__ = ["DoctorSettings", "kit_config"]


@dataclass(frozen=True)
class DoctorSettings:
    """What to check: the provider's issuer and the client as the app would configure it."""

    issuer: str
    client_id: str
    #: Never shown: not in ``repr``, and scrubbed from every detail.
    client_secret: str | None = field(default=None, repr=False)
    #: The redirect URI to check (``{APP_BASE_URL}/auth/callback``), if any.
    redirect_uri: str | None = None
    #: Perform a client-credentials grant (needs ``client_secret``).
    client_credentials: bool = False
    #: Scopes for that grant.
    scopes: tuple[str, ...] = ()
    #: Accept plain http on loopback hosts, as ``OIDC_ALLOW_INSECURE_HTTP`` does.
    allow_insecure_http: bool = False
    #: Check what the FAPI 2.0 profile (``OIDC_PROFILE=fapi2``) needs of the provider.
    fapi2: bool = False
    #: The ID-token algorithms the app allows (``OIDC_ID_TOKEN_ALGS``); None: the kit's
    #: default (the FAPI 2.0 profile's with ``fapi2``).
    id_token_algs: tuple[str, ...] | None = None
    #: The client's registered ``id_token_signed_response_alg`` (``OIDC_ID_TOKEN_ALG``): then
    #: the only algorithm the kit accepts on ID and logout tokens.
    id_token_alg: str | None = None
    #: The endpoints the app's configuration sets (``OIDC_REVOCATION_ENDPOINT``,
    #: ``OIDC_INTROSPECTION_ENDPOINT``), which win over the provider's metadata.
    revocation_endpoint: str | None = None
    introspection_endpoint: str | None = None
    #: Seconds per HTTP request (the kit's ``http_timeout``).
    timeout: float = 10.0
    #: The client authentication method the app sets (``OIDC_TOKEN_AUTH_METHOD``); None: the
    #: kit's automatic choice.
    token_endpoint_auth_method: str | None = None
    #: The client's private key (``OIDC_CLIENT_KEY``), for ``private_key_jwt``. Never shown.
    client_key: str | None = field(default=None, repr=False)
    #: The client's certificate and its key (``OIDC_CLIENT_CERT``, ``OIDC_CLIENT_CERT_KEY``:
    #: PEM or a PEM file's path), for mutual TLS. The key is never shown.
    client_cert: str | None = field(default=None, repr=False)
    client_cert_key: str | None = field(default=None, repr=False)
    #: Certificate-bound access tokens asked for (``OIDC_MTLS_BOUND_TOKENS``).
    mtls_bound_tokens: bool = False
    #: Signed request objects (JAR, ``OIDC_SIGNED_REQUESTS``), signed with ``client_key``.
    signed_requests: bool = False
    #: Logins pushed (PAR, ``OIDC_PAR``): whether request objects go by value decides what
    #: the provider must say (``request_parameter_supported``).
    par: bool = False
    #: The ``response_mode`` the app sends (``OIDC_RESPONSE_MODE``): ``query``, ``form_post``,
    #: or a JARM mode (``query.jwt``, ``form_post.jwt``, ``jwt``); None: none sent (query).
    response_mode: str | None = None


def kit_config(settings: DoctorSettings, **more: Any) -> ProviderConfig:
    """The kit's configuration for this client, ``more`` fields added; its rules decide where
    the secret may go. Raises the kit's :class:`~oidc_kit.ConfigurationError` as it would."""
    fields: dict[str, Any] = {
        "issuer": settings.issuer,
        "client_id": settings.client_id,
        "client_secret": settings.client_secret,
        "allow_insecure_http": settings.allow_insecure_http,
        "revocation_endpoint": settings.revocation_endpoint,
        "introspection_endpoint": settings.introspection_endpoint,
        "http_timeout": settings.timeout,
        "token_endpoint_auth_method": settings.token_endpoint_auth_method,
        "client_key": settings.client_key,
        "client_cert": settings.client_cert,
        "client_cert_key": settings.client_cert_key,
        "mtls_bound_tokens": settings.mtls_bound_tokens,
        "signed_requests": settings.signed_requests,
        "par": settings.par or None,  # not given: the kit's default, not "off"
    }
    return ProviderConfig(**(fields | more))
