"""The client's side: how it authenticates, its redirect URI, and a client-credentials grant
sent only where the kit itself would send the secret."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

from .._client_auth import Unsupported, auth_method_refusal, client_authentication, method_in_force
from .._client_key import check_auth_method
from .._errors import ConfigurationError, ProviderError
from .._http import json_object
from .._tokens import parse_token_response
from .discovery import scheme_status
from .endpoints import Endpoints
from .net import describe_http_error, split_url, strings
from .report import Check, Status, scrub, verdict
from .settings import DoctorSettings

__all__ = ["check_client_credentials", "check_redirect_uri", "check_token_auth_methods"]


def check_token_auth_methods(doc: Mapping[str, Any], settings: DoctorSettings) -> Check:
    """The client authentication method in force (``OIDC_TOKEN_AUTH_METHOD``, else the kit's
    automatic choice), judged by the kit's rules and against what the provider advertises
    (``token_endpoint_auth_methods_supported``, and ``..._signing_alg_values_supported`` for
    ``client_secret_jwt``)."""
    name, configured = "token_auth_methods", settings.token_endpoint_auth_method
    has_key = settings.client_key is not None
    if configured is None and not settings.client_secret and not has_key:
        return Check(name, "skip", "no client secret or key given")
    try:
        check_auth_method(
            configured,
            settings.client_secret,
            has_key=has_key,
            fapi2=settings.fapi2,
            has_cert=settings.client_cert is not None,
        )
    except ConfigurationError as exc:
        return Check(name, "fail", exc.description)
    advertised = strings(doc, "token_endpoint_auth_methods_supported")
    method = method_in_force(
        configured, has_secret=bool(settings.client_secret), has_key=has_key, advertised=advertised
    )
    source = " (OIDC_TOKEN_AUTH_METHOD)" if configured is not None else ""
    signing_algs = strings(doc, "token_endpoint_auth_signing_alg_values_supported")
    if refusal := auth_method_refusal(method, advertised, signing_algs):
        return Check(name, "fail", f"the kit will use {method}{source}, but {refusal}")
    if advertised is None:
        return Check(name, "ok", f"not advertised: {method}{source or ' assumed'}")
    return Check(name, "ok", f"the kit will use {method}{source}")


def check_redirect_uri(uri: str | None, allow_insecure_http: bool) -> Check:
    """Absolute, https (loopback http if allowed), no fragment, the kit's callback path."""
    if uri is None:
        return Check("redirect_uri", "skip", "not given (--redirect-uri)")
    parts = split_url(uri)
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return Check("redirect_uri", "fail", f"{uri!r} is not an absolute http(s) URL")
    findings: list[tuple[Status, str]] = []
    if parts.fragment or uri.endswith("#"):
        findings.append(("fail", "a redirect URI must not have a fragment"))
    status = scheme_status(uri, allow_insecure_http)
    if status != "ok":
        plain = "plain http on loopback (--allow-insecure-http): development only"
        findings.append((status, plain if status == "warn" else "not https (nor allowed http)"))
    if not parts.path.endswith("/auth/callback") or parts.query:
        findings.append(("warn", "the kit's redirect URI is {APP_BASE_URL}/auth/callback"))
    return verdict("redirect_uri", findings, f"{uri} is usable")


async def check_client_credentials(
    http: httpx.AsyncClient,
    settings: DoctorSettings,
    endpoints: Endpoints | None,
    clock: Callable[[], float],
) -> Check:
    """A client-credentials grant where the kit would send it (``endpoints``, None without
    a discovery document); never shows the token."""
    name = "client_credentials"
    if not settings.client_credentials or not settings.client_secret:
        return Check(name, "skip", "not asked for (--client-credentials, with a secret)")
    if endpoints is None:
        return Check(name, "skip", "no discovery document")
    config, meta = endpoints.config, endpoints.meta
    if config is None or meta is None:  # the secret is not sent where the kit would not send it
        detail = f"not attempted, the kit refuses this provider: {endpoints.refusal}"
        return Check(name, "skip", detail)
    authentication = client_authentication(config, meta)
    if isinstance(authentication, Unsupported):  # token_auth_methods says why
        return Check(name, "skip", f"not attempted: {authentication.reason}")
    form = {"grant_type": "client_credentials"}
    if settings.scopes:
        form["scope"] = " ".join(settings.scopes)
    auth = authentication.apply(form, clock())
    headers = {"Accept": "application/json"}
    try:
        response = await http.post(
            meta.token_endpoint, data=form, auth=auth or httpx.Auth(), headers=headers
        )
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return Check(name, "fail", f"token endpoint: {describe_http_error(exc)}")
    return _grant_outcome(response, clock())


def _grant_outcome(response: httpx.Response, now: float) -> Check:
    try:
        body = json_object(response, ProviderError, "the token endpoint")
    except ProviderError as exc:
        body, unreadable = {}, exc.description
    else:
        unreadable = ""
    if response.status_code == 200:
        try:
            tokens = parse_token_response(body, now)
        except ProviderError as exc:
            return Check("client_credentials", "fail", unreadable or exc.description)
        detail = f"token_type {tokens.token_type}, expires_in {body.get('expires_in')!r}, "
        detail += f"scope {body.get('scope')!r}"
        sent = (body.get(k) for k in ("access_token", "refresh_token", "id_token"))
        return Check("client_credentials", "ok", scrub(detail, [s for s in sent if s]))
    error = body.get("error") if isinstance(body.get("error"), str) else None
    said = f"{error or 'no error code'}, HTTP {response.status_code}"
    if response.status_code == 401 or error == "invalid_client":
        detail = f"the provider refused the client's credentials ({said})"
        return Check("client_credentials", "fail", detail)
    text = body.get("error_description")
    about = f": {text}" if isinstance(text, str) else ""
    return Check("client_credentials", "fail", f"the provider refused the grant ({said}){about}")
