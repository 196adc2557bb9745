"""The client's side: how it authenticates, its redirect URI, and a client-credentials grant
sent only where the kit itself would send the secret."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

from .._client_auth import client_authentication
from .._errors import ProviderError
from .._http import json_object
from .._tokens import parse_token_response
from .discovery import scheme_status
from .endpoints import Endpoints
from .net import describe_http_error, split_url, strings
from .report import Check, Status, scrub, verdict
from .settings import DoctorSettings

__all__ = ["check_client_credentials", "check_redirect_uri", "check_token_auth_methods"]


def check_token_auth_methods(doc: Mapping[str, Any], has_secret: bool) -> Check:
    """With a secret: ``client_secret_basic`` or ``client_secret_post``, the kit's methods."""
    if not has_secret:
        return Check("token_auth_methods", "skip", "no client secret given")
    methods = strings(doc, "token_endpoint_auth_methods_supported")
    if methods is None:
        return Check("token_auth_methods", "ok", "not advertised: client_secret_basic assumed")
    for method in ("client_secret_basic", "client_secret_post"):
        if method in methods:
            return Check("token_auth_methods", "ok", f"the kit will use {method}")
    detail = f"only {', '.join(methods) or 'nothing'}; the kit needs client_secret_basic or _post"
    return Check("token_auth_methods", "fail", detail)


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
    form = {"grant_type": "client_credentials"}
    if settings.scopes:
        form["scope"] = " ".join(settings.scopes)
    auth = client_authentication(config, meta).apply(form, clock())
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
