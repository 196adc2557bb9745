"""The kit's own pages (error, logout confirmation, sign-in refused, form_post re-post), from
Jinja2 templates an app can override (framework-neutral: a page is a
:class:`~oidc_kit._exchange.WebResponse`, which the adapter sends).

The templates are ``oidc_kit/<name>.html`` in the package; a directory the app passes as
``template_dirs`` is searched first, so ``mytemplates/oidc_kit/error.html`` replaces the kit's
error page and ``mytemplates/oidc_kit/base.html`` the layout of all of them. Every page is
HTML-escaped (autoescape), never cached, and cannot be framed.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from os import PathLike
from typing import Any

import jinja2

from ._exchange import WebResponse, html_response
from ._urls import origin_of

__all__ = ["KitPages", "deny_framing", "framing_policy"]

_FRAME_ANCESTORS = "frame-ancestors 'none'"

_NO_STORE = ("Cache-Control", "no-store")


def framing_policy(policy: str | None) -> str:
    """``policy`` (a ``Content-Security-Policy``) with ``frame-ancestors 'none'``, replacing
    any ``frame-ancestors`` it had."""
    kept = [
        directive.strip()
        for directive in (policy or "").split(";")
        if directive.strip() and directive.split()[0].lower() != "frame-ancestors"
    ]
    return "; ".join([*kept, _FRAME_ANCESTORS])


def deny_framing(response: WebResponse) -> WebResponse:
    """``response``, which no other page may frame: CSP ``frame-ancestors 'none'`` (merged into
    the response's own policy, replacing any ``frame-ancestors`` there) and, for browsers
    without CSP level 2, ``X-Frame-Options: DENY``.

    Every page the kit serves goes through here: a framed logout confirmation lets a page of
    the same site (another port, a sibling subdomain) log the user out with one click.
    """
    policy = framing_policy(response.header("content-security-policy"))
    framed = response.with_header("Content-Security-Policy", policy)
    return framed.with_header("X-Frame-Options", "DENY")


class KitPages:
    """Renders the kit's pages; ``template_dirs`` come before the kit's own templates."""

    def __init__(
        self,
        template_dirs: Sequence[str | PathLike[str]] = (),
        prefix: str = "/auth",
        env: jinja2.Environment | None = None,
    ) -> None:
        """``env``: the app's own Jinja2 environment (its loader searched first, its globals
        and filters available), so the app's versions of the kit's pages can extend its
        layout; ``template_dirs``: directories searched first, without one."""
        loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(list(template_dirs))]
        if env is not None and env.loader is not None:
            loaders.append(env.loader)
        loaders.append(jinja2.PackageLoader("oidc_kit", "templates"))
        loader = jinja2.ChoiceLoader(loaders)
        if env is None:
            self.env = jinja2.Environment(loader=loader, autoescape=True)
        else:
            # Rendered synchronously, whatever the app's own environment does.
            self.env = env.overlay(loader=loader, autoescape=True, enable_async=False)
        self.prefix = prefix

    def render(
        self, page: str, status: int = 200, context: Mapping[str, Any] | None = None
    ) -> WebResponse:
        """``oidc_kit/{page}.html`` with ``context`` (and ``prefix``, which wins), as a
        response (status, headers, body) for any adapter to send."""
        values = {**(context or {}), "prefix": self.prefix}
        if page == "repost":
            return self._repost(values)
        html = self.env.get_template(f"oidc_kit/{page}.html").render(values)
        return deny_framing(html_response(html, status, [_NO_STORE]))

    def _repost(self, context: Mapping[str, Any]) -> WebResponse:
        """The form_post re-post page: one inline script, allowed by its nonce, loads nothing."""
        nonce = secrets.token_urlsafe(16)
        html = self.env.get_template("oidc_kit/repost.html").render({**context, "nonce": nonce})
        csp = (
            f"default-src 'none'; script-src 'nonce-{nonce}'; "
            f"form-action {origin_of(context['action'])}; base-uri 'none'"
        )
        headers = [
            _NO_STORE,
            ("Content-Security-Policy", csp),
            ("Referrer-Policy", "no-referrer"),
            ("X-Content-Type-Options", "nosniff"),
        ]
        return deny_framing(html_response(html, 200, headers))
