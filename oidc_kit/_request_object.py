"""Signed request objects (JAR, RFC 9101): the authorization request as a JWT the client signs.

With ``signed_requests`` the login's parameters (``_authorize.Authorizer.params``) become the
claims of a JWT signed with the client's key (``client_key``: PS256 or ES256, the algorithm of
its client assertions), with ``iss`` the client, ``aud`` the issuer, a random ``jti`` and a
short life (``nbf``, ``iat``, ``exp``): RFC 9101 4 and the FAPI 2.0 Message Signing profile
(5.3.1). The provider then trusts only what the signature covers. Pushed (PAR, RFC 9126 3) the
form carries ``request`` and ``client_id`` beside the client authentication; by value (RFC
9101 5.1) the URL carries ``client_id`` and ``request``, and ``scope`` and ``response_type``
again, as OpenID Connect Core 6.1 requires of an OpenID request.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from joserfc import jwt

from ._client_key import ClientKey
from ._errors import ConfigurationError, DiscoveryError
from ._provider import ProviderMetadata
from ._provider_config import ProviderConfig

__all__ = [
    "REQUEST_OBJECT_LIFETIME",
    "REQUEST_OBJECT_TYPE",
    "check_request_object_support",
    "request_object",
    "signed_request",
]

#: The media type of a request object (RFC 9101 10.8), its header's ``typ``.
REQUEST_OBJECT_TYPE = "oauth-authz-req+jwt"
#: Seconds a request object is valid: the browser's trip to the provider, and little more
#: (FAPI 2.0 Message Signing 5.3.1 allows at most 60 minutes).
REQUEST_OBJECT_LIFETIME = 300
#: Parameters whose claim is a JSON value rather than the parameter's text.
_INTEGER_CLAIMS = frozenset({"max_age"})
_JSON_CLAIMS = frozenset({"authorization_details", "claims"})
#: Repeated outside the object by value: OpenID Connect Core 6.1.
_DUPLICATED = ("scope", "response_type")
_SETTING = "signed_requests (OIDC_SIGNED_REQUESTS)"


def check_request_object_support(
    config: ProviderConfig, meta: ProviderMetadata, *, pushed: bool
) -> ClientKey:
    """The key request objects are signed with, once the provider is known to take them:
    the key's algorithm in ``request_object_signing_alg_values_supported``, and (sent by
    value, not pushed) ``request_parameter_supported``. :class:`DiscoveryError` otherwise,
    before the user is sent anywhere."""
    key = config.signing_key
    if key is None:  # the settings refuse it; here for the type checker
        raise ConfigurationError(f"{_SETTING} needs client_key (OIDC_CLIENT_KEY)")
    algs = meta.raw.get("request_object_signing_alg_values_supported")
    if not isinstance(algs, list) or key.alg not in algs:
        raise DiscoveryError(
            f"the provider does not advertise {key.alg} (the client key's algorithm) in "
            f"request_object_signing_alg_values_supported, which {_SETTING} needs",
            expected=key.alg,
            actual=algs,
        )
    if not pushed and meta.raw.get("request_parameter_supported") is not True:
        raise DiscoveryError(
            f"the provider does not advertise request_parameter_supported, which {_SETTING} "
            "needs without PAR (OIDC_PAR)",
            expected=True,
            actual=meta.raw.get("request_parameter_supported"),
        )
    return key


def request_object(
    params: Mapping[str, str],
    resource: Sequence[str],
    key: ClientKey,
    *,
    client_id: str,
    audience: str,
    now: float,
) -> str:
    """The request object for ``params``: each parameter a claim (``max_age`` a number,
    ``authorization_details`` and ``claims`` their JSON, the RFC 8707 ``resource``
    indicators a string or an array), with ``iss``, ``aud``, ``client_id``, ``jti``,
    ``iat``, ``nbf`` and ``exp``; signed with ``key`` (its ``kid`` in the header)."""
    claims: dict[str, Any] = {name: _claim(name, value) for name, value in params.items()}
    if resource:
        claims["resource"] = resource[0] if len(resource) == 1 else list(resource)
    issued = int(now)
    claims.update(
        iss=client_id,
        aud=audience,
        client_id=client_id,
        jti=secrets.token_urlsafe(24),
        iat=issued,
        nbf=issued,
        exp=issued + REQUEST_OBJECT_LIFETIME,
    )
    header = {"alg": key.alg, "kid": key.kid, "typ": REQUEST_OBJECT_TYPE}
    return jwt.encode(header, claims, key.key, algorithms=[key.alg])


def signed_request(
    params: Mapping[str, str],
    resource: Sequence[str],
    config: ProviderConfig,
    meta: ProviderMetadata,
    now: float,
    *,
    pushed: bool,
) -> dict[str, str]:
    """What replaces ``params`` (and ``resource``) in the push or the URL: ``client_id`` and
    the signed ``request``; by value also ``scope`` and ``response_type`` (OIDC Core 6.1)."""
    key = check_request_object_support(config, meta, pushed=pushed)
    signed = request_object(
        params, resource, key, client_id=config.client_id, audience=config.issuer, now=now
    )
    outside = {"client_id": config.client_id, "request": signed}
    if not pushed:
        outside.update({name: params[name] for name in _DUPLICATED if name in params})
    return outside


def _claim(name: str, value: str) -> object:
    """A parameter's value as its claim: the number or JSON it spells, else the text."""
    if name in _INTEGER_CLAIMS and value.isdigit():
        return int(value)
    if name in _JSON_CLAIMS:
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
