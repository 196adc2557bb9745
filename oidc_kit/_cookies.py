"""Writing the kit's cookies onto Starlette responses (adapter layer).

The relying party says which cookies to set or clear (:class:`~oidc_kit.CookieChange`); this
module gives them their attributes. Only the session cookie takes the app's
``SESSION_COOKIE_DOMAIN``, ``_PATH`` and ``_SAMESITE``: the short-lived login and logout cookies
stay host-only, ``Path=/`` and ``Lax``, since they must reach the callback (a cross-site
navigation from the provider) and the post-logout landing, and no sibling subdomain may plant
one.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from ._config import OIDCConfig
from ._outcome import CookieChange

__all__ = ["CookieWriter"]


class CookieWriter:
    """Sets and clears the kit's cookies with the attributes each must have."""

    def __init__(self, config: OIDCConfig, session_cookie: str) -> None:
        self._config = config
        self._session_cookie = session_cookie

    def apply(self, response: Response, cookie: CookieChange) -> None:
        """Set ``cookie`` on ``response``, or clear it (``value`` ``None``)."""
        attributes = self._attributes(cookie.name, cookie.cross_site)
        if cookie.value is None:
            response.delete_cookie(cookie.name, **attributes)
        else:
            response.set_cookie(cookie.name, cookie.value, max_age=cookie.max_age, **attributes)

    def header(self, cookie: CookieChange) -> str:
        """The ``Set-Cookie`` value for ``cookie`` (for a raw ASGI message)."""
        response = Response()
        self.apply(response, cookie)
        return response.headers["set-cookie"]

    def _attributes(self, name: str, cross_site: bool) -> dict[str, Any]:
        config = self._config
        secure = config.secure_cookies or cross_site
        if name != self._session_cookie:
            samesite = "none" if cross_site else "lax"
            return {"path": "/", "httponly": True, "secure": secure, "samesite": samesite}
        return {
            "path": config.cookie_path,
            "domain": config.cookie_domain,
            "httponly": True,
            "secure": secure,
            "samesite": config.cookie_samesite,
        }
