"""``response_mode=form_post``: keeping the login transaction through a cross-site POST.

With form_post the provider's page POSTs the authorization response to our callback. That POST
comes from the provider's site, and browsers do not send ``SameSite=Lax`` cookies with a
cross-site POST, so the login cookie that binds the transaction to this browser is missing.
Two defences:

- on an ``https`` base URL the login cookie is ``SameSite=None; Secure`` (see
  :class:`oidc_kit.starlette.OIDCAuth`), which browsers send with a cross-site POST;
- where that does not work (``http`` loopback development, browsers that drop such cookies) a
  POST callback arriving without the login cookie is answered with a tiny page that POSTs the
  authorization response again to the callback, now from our own origin: a same-origin POST
  carries the ``SameSite=Lax`` cookie. The page adds a :data:`REPOST_MARKER` field, so this
  happens at most once: a second POST without the cookie fails with ``invalid_state`` as usual.

The page loads nothing, runs one inline script allowed by a per-response CSP nonce, offers a
``<noscript>`` button, HTML-escapes every value, cannot be framed, and is never cached.

It echoes only what an authorization response carries (:data:`REPOST_FIELDS`), each value at
most :data:`MAX_REPOST_VALUE` characters, and only for a request that could be a form_post
response: anything else sent to the callback would otherwise come back several times larger
(HTML escaping), for anyone, without a cookie.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "FORM_POST_MODES",
    "MAX_REPOST_VALUE",
    "REPOST_FIELDS",
    "REPOST_MARKER",
    "needs_repost",
    "repost_fields",
    "without_marker",
]

#: The response modes whose callback is the provider's cross-site POST (``form_post.jwt``:
#: JARM's, one ``response`` field carrying the signed response).
FORM_POST_MODES = ("form_post", "form_post.jwt")

#: The field the re-posting page adds: a callback carrying it is never re-posted again.
REPOST_MARKER = "_oidc_repost"

#: The authorization response's parameters (RFC 6749 4.1.2 and 4.1.2.1, RFC 9207, OpenID
#: Connect Session Management): the only fields the page posts again.
REPOST_FIELDS = (
    "code",
    "state",
    "iss",
    "error",
    "error_description",
    "error_uri",
    "session_state",
    "response",
)

#: The longest value re-posted: codes and states are far shorter (a long provider code is a
#: couple of KiB); a longer value is no authorization response, and is not re-posted.
MAX_REPOST_VALUE = 4096


def needs_repost(
    method: str,
    params: Mapping[str, Sequence[str]],
    has_login_cookie: bool,
    response_mode: str | None,
) -> bool:
    """Whether this callback is a cross-site form_post that lost the login cookie.

    Only when the app asks for ``response_mode=form_post`` (or ``form_post.jwt``), and only a
    POST that came without the login cookie, was not re-posted already, and looks like an
    authorization response: one non-empty ``state``, a ``code`` or an ``error`` (or, JARM,
    one non-empty ``response``), no response parameter twice or over
    :data:`MAX_REPOST_VALUE` characters.
    """
    return (
        method == "POST"
        and response_mode in FORM_POST_MODES
        and not has_login_cookie
        and REPOST_MARKER not in params
        and _is_authorization_response(params, jarm=response_mode == "form_post.jwt")
    )


def _is_authorization_response(params: Mapping[str, Sequence[str]], *, jarm: bool) -> bool:
    if not all(
        len(params.get(name, ())) <= 1
        and all(len(value) <= MAX_REPOST_VALUE for value in params.get(name, ()))
        for name in REPOST_FIELDS
    ):
        return False
    if jarm:
        return any(params.get("response", ()))  # the signed response holds state, code...
    return any(params.get("state", ())) and ("code" in params or "error" in params)


def without_marker(params: Mapping[str, Sequence[str]]) -> dict[str, Sequence[str]]:
    """The authorization response without the re-post marker."""
    return {name: values for name, values in params.items() if name != REPOST_MARKER}


def repost_fields(action: str, params: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """What the re-post page shows: the ``action`` it POSTs to, and the authorization
    response's :data:`REPOST_FIELDS` in ``params`` (plus the marker); any other field is left
    out. The page itself is the adapter's (a template)."""
    fields = [(name, value) for name in REPOST_FIELDS for value in params.get(name, ())]
    return {"action": action, "fields": fields, "marker": REPOST_MARKER}
