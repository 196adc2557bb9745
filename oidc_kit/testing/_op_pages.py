"""The sandbox provider's HTML pages: self-contained, never cached, locked down by CSP."""

from __future__ import annotations

import secrets
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.responses import HTMLResponse

from ._op_context import NO_STORE

__all__ = ["error_page", "render_page"]

_ENV = Environment(
    loader=PackageLoader("oidc_kit.testing", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=StrictUndefined,
)


def render_page(template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template``; inline styles are allowed, scripts only with this page's nonce."""
    nonce = secrets.token_urlsafe(16)
    html = _ENV.get_template(template).render(script_nonce=nonce, **context)
    csp = (
        "default-src 'none'; style-src 'unsafe-inline'; "
        f"script-src 'nonce-{nonce}'; base-uri 'none'; frame-ancestors 'none'"
    )
    headers = {
        **NO_STORE,
        "Content-Security-Policy": csp,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    return HTMLResponse(html, status_code=status, headers=headers)


def error_page(error: str, description: str, *, status: int = 400) -> HTMLResponse:
    """An error shown to the user instead of a redirect to an untrusted place."""
    return render_page("error.html", status=status, error=error, description=description)
