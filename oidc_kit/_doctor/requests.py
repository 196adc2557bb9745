"""The doctor's signed request objects check (JAR, RFC 9101): what the provider must say for
the kit to send the authorization request as a JWT signed with the client's key, judged by
the kit's own check (:func:`check_request_object_support`, the one the login calls)."""

from __future__ import annotations

from .._errors import OIDCError
from .._request_object import check_request_object_support
from .endpoints import Endpoints
from .report import Check, offered
from .settings import DoctorSettings

__all__ = ["check_request_objects"]


def check_request_objects(settings: DoctorSettings, endpoints: Endpoints) -> Check:
    """With ``OIDC_SIGNED_REQUESTS``: the client key's algorithm in
    ``request_object_signing_alg_values_supported``, and ``request_parameter_supported`` when
    the request goes by value (no PAR: neither ``OIDC_PAR``, the fapi2 profile, nor the
    provider's ``require_pushed_authorization_requests``)."""
    name = "request_objects"
    config, meta = endpoints.config, endpoints.meta
    if config is None:  # the kit would not start: e.g. signed requests without a client key
        return Check(name, "fail", f"the kit refuses the settings: {endpoints.refusal}")
    if meta is None:
        return Check(name, "skip", f"the kit refuses this provider: {endpoints.refusal}")
    # As the login decides (_authorize.Authorizer.url); the doctor's configuration leaves
    # the profile out (its checks need no client key), so fapi2's PAR is added here.
    pushed = settings.fapi2 or config.uses_par or meta.require_par
    try:
        key = check_request_object_support(config, meta, pushed=pushed)
    except OIDCError as exc:
        return Check(name, "fail", exc.description + offered(exc.actual))
    how = "pushed (PAR)" if pushed else "by value (request_parameter_supported)"
    return Check(name, "ok", f"authorization requests signed with {key.alg}, sent {how}")
