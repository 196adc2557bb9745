"""``response_mode=form_post``: keeping the login transaction through a cross-site POST.

With form_post the provider's page POSTs the authorization response to our callback. That POST
comes from the provider's site, and browsers do not send ``SameSite=Lax`` cookies with a
cross-site POST, so the login cookie that binds the transaction to this browser is missing.
Two defences:

- on an ``https`` base URL the login cookie is ``SameSite=None; Secure`` (see
  :class:`oidc_kit.starlette.OIDCAuth`), which browsers send with a cross-site POST;
- where that does not work (``http`` loopback development, browsers that drop such cookies) a
  POST callback arriving without the login cookie is answered with a tiny page that POSTs the
  same fields again to the callback, now from our own origin: a same-origin POST carries the
  ``SameSite=Lax`` cookie. The page adds a :data:`REPOST_MARKER` field, so this happens at
  most once: a second POST without the cookie fails with ``invalid_state`` as usual.

The page loads nothing, runs one inline script allowed by a per-response CSP nonce, offers a
``<noscript>`` button, HTML-escapes every name and value, and is never cached.
"""

from __future__ import annotations

import html
import secrets
from collections.abc import Mapping, Sequence

from starlette.responses import HTMLResponse, Response

from ._web import origin_of

__all__ = ["REPOST_MARKER", "needs_repost", "repost_page", "without_marker"]

#: The field the re-posting page adds: a callback carrying it is never re-posted again.
REPOST_MARKER = "_oidc_repost"


def needs_repost(method: str, params: Mapping[str, Sequence[str]], has_login_cookie: bool) -> bool:
    """Whether this callback is a cross-site form_post that lost the login cookie.

    Only a POST that carries a ``state`` (an authorization response, successful or not), came
    without the login cookie, and was not re-posted already.
    """
    return (
        method == "POST"
        and not has_login_cookie
        and REPOST_MARKER not in params
        and any(params.get("state", ()))
    )


def without_marker(params: Mapping[str, Sequence[str]]) -> dict[str, Sequence[str]]:
    """The authorization response without the re-post marker."""
    return {name: values for name, values in params.items() if name != REPOST_MARKER}


def repost_page(action: str, params: Mapping[str, Sequence[str]]) -> Response:
    """A page POSTing ``params`` (plus the marker) to ``action`` from our own origin."""
    nonce = secrets.token_urlsafe(16)
    fields = "".join(
        f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
        for name, values in params.items()
        for value in values
    )
    body = _PAGE.format(
        action=html.escape(action),
        fields=fields,
        marker=REPOST_MARKER,
        nonce=nonce,
    )
    csp = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; form-action {origin_of(action)}; "
        "base-uri 'none'; frame-ancestors 'none'"
    )
    headers = {
        "Content-Security-Policy": csp,
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }
    return HTMLResponse(body, headers=headers)


# The script calls the prototype's submit(): a field named "submit" would shadow form.submit.
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signing in</title></head>
<body><form id="oidc-repost" method="post" action="{action}">{fields}\
<input type="hidden" name="{marker}" value="1">
<noscript><p>One more step to finish signing in.</p>
<button type="submit">Continue</button></noscript></form>
<script nonce="{nonce}">HTMLFormElement.prototype.submit.call(\
document.getElementById("oidc-repost"));</script>
</body></html>
"""
