"""The kit's cookies as ``Set-Cookie`` lines, with their attributes (framework-neutral).

The relying party says which cookies to set or clear (:class:`~oidc_kit.CookieChange`); this
module gives them their attributes. Only the session cookie takes the app's
``SESSION_COOKIE_DOMAIN``, ``_PATH`` and ``_SAMESITE``: the short-lived login and logout cookies
stay host-only, ``Path=/`` and ``Lax``, since they must reach the callback (a cross-site
navigation from the provider) and the post-logout landing, and no sibling subdomain may plant
one. A line is written as Starlette's ``Response.set_cookie`` writes it (the standard
library's ``SimpleCookie``), whichever framework sends it, except that a clearing line's
``expires`` is the fixed date :data:`CLEARED_EXPIRES` rather than the time of writing.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any, Protocol

from ._config import OIDCConfig
from ._outcome import CookieChange

__all__ = ["CLEARED_EXPIRES", "CookieWriter"]

#: The ``expires`` of a line clearing a cookie. A fixed date long past (as Werkzeug writes it)
#: rather than "now" (Starlette's): the line is then the same whenever it is written, and a
#: browser whose clock runs behind the server's cannot read it as a date still to come.
CLEARED_EXPIRES = "Thu, 01 Jan 1970 00:00:00 GMT"


class _RawHeaders(Protocol):
    """A response holding its headers as ASGI does (a Starlette ``Response``)."""

    raw_headers: list[tuple[bytes, bytes]]


class CookieWriter:
    """Sets and clears the kit's cookies with the attributes each must have."""

    def __init__(self, config: OIDCConfig, session_cookie: str) -> None:
        self._config = config
        self._session_cookie = session_cookie

    def header(self, cookie: CookieChange) -> str:
        """The ``Set-Cookie`` value that sets ``cookie``, or clears it (``value`` ``None``)."""
        jar: SimpleCookie = SimpleCookie()
        name = cookie.name
        jar[name] = cookie.value or ""
        attributes = jar[name]
        if cookie.value is None:
            attributes["max-age"] = 0
            attributes["expires"] = CLEARED_EXPIRES
        elif cookie.max_age is not None:
            attributes["max-age"] = cookie.max_age
        for key, value in self._attributes(name, cookie.cross_site).items():
            if value is not None and value is not False:
                attributes[key] = value
        return jar.output(header="").strip()

    def apply(self, response: _RawHeaders, cookie: CookieChange) -> None:
        """Add the ``Set-Cookie`` line for ``cookie`` to an ASGI-style ``response``."""
        response.raw_headers.append((b"set-cookie", self.header(cookie).encode("latin-1")))

    def _attributes(self, name: str, cross_site: bool) -> dict[str, Any]:
        """The attributes in the order a cookie line lists them."""
        config = self._config
        secure = config.secure_cookies or cross_site
        if name != self._session_cookie:
            samesite = "none" if cross_site else "lax"
            return {"path": "/", "secure": secure, "httponly": True, "samesite": samesite}
        return {
            "path": config.cookie_path,
            "domain": config.cookie_domain,
            "secure": secure,
            "httponly": True,
            "samesite": config.cookie_samesite,
        }
