"""The app's settings: where it is served, its sessions, cookies and routes.

Shared by every provider the app logs users in with, and the other half of
:class:`~oidc_kit.OIDCConfig`; a client of the provider alone (a batch job, the doctor) has no
use for them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Self
from urllib.parse import urlsplit

from ._env import settings_from_env
from ._errors import ConfigurationError
from ._provider_config import check_http_url

__all__ = ["DEFAULT_SESSION_STORE", "AppConfig"]

#: Where sessions live when neither ``session_store`` nor a store object says otherwise.
DEFAULT_SESSION_STORE = "sqlite:///.oidc_kit/sessions.db"
_RESPONSE_MODES = (None, "query", "form_post", "query.jwt", "form_post.jwt", "jwt")
#: A URL path: segments of unreserved characters, none starting with a dot (nothing to
#: escape, nothing to inject, no ``..``).
_PATH = re.compile(r"/(?:[A-Za-z0-9_~-][A-Za-z0-9._~-]*/?)*")
#: A host name for ``Domain``: letters, digits, dots and hyphens, no leading or trailing dot.
_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")


@dataclass(frozen=True, kw_only=True)
class AppConfig:
    """The app's side of logging users in: its URL, session secrets and store, cookies, the
    kit's routes and timeouts. One per app, whatever the number of providers.

    Every field has a matching environment variable read by :meth:`from_env`; the docs'
    configuration page lists them. Secrets are never part of ``repr``.
    """

    #: The app's external origin; ``redirect_uri`` is ``{base_url}{route_prefix}/callback``.
    base_url: str
    #: Key material for cookie signing and token sealing, each at least 16 characters,
    #: newest first: new cookies and records use the first; older ones still open until
    #: their secret is removed. Unset: a random secret per process, with a warning.
    session_secrets: tuple[str, ...] = field(repr=False)
    #: Where sessions live: ``memory://`` (one process), ``sqlite:///PATH`` (processes on one
    #: host; ``sqlite:////abs/path`` for an absolute path), ``redis://HOST:PORT/DB``,
    #: ``redis+sentinel://S1,S2/SERVICE/DB`` or ``redis+cluster://N1,N2`` (``rediss...`` for TLS;
    #: many hosts; ``pip install 'oidc_kit[redis]'``), or
    #: ``postgresql://USER:PASSWORD@HOST/DB`` (many hosts; ``oidc_kit[postgres]``). Unset:
    #: the store object given to ``OIDCAuth(store=...)``, else ``sqlite:///.oidc_kit/sessions.db``;
    #: set, it cannot be combined with ``store=`` (which of the two would hold the sessions?).
    session_store: str | None = None
    #: A session unused for this many seconds ends.
    session_idle_timeout: int = 30 * 60
    #: A session ends this many seconds after login, used or not.
    session_absolute_timeout: int = 12 * 3600
    #: A login must come back from the provider within this many seconds.
    login_timeout: int = 600
    #: ``response_mode`` sent at login: ``form_post`` (the callback is a POST), ``query``, or
    #: ``None`` (none sent: the provider's default, the query string). JARM, the response as
    #: one signed JWT: ``query.jwt``, ``form_post.jwt``, or ``jwt`` (the provider's default
    #: for the code flow, ``query.jwt``); ``fragment.jwt`` never reaches a server (refused).
    response_mode: str | None = None
    #: Name of the session cookie (``__Host-`` is prefixed on https).
    cookie_name: str = "oidc_session"
    #: Name of the short-lived cookie that binds a login to the browser that started it.
    login_cookie_name: str = "oidc_login"
    #: Where the kit's routes are mounted (``{route_prefix}/login``, ``/callback``...): a path
    #: such as ``/auth`` or ``/sso``. The redirect URI is ``{base_url}{route_prefix}/callback``.
    route_prefix: str = "/auth"
    #: The cookies' ``Domain`` (unset: the app's host only, the safest). Set, the cookies
    #: lose the ``__Host-`` prefix for ``__Secure-`` on https: every subdomain then sees them.
    cookie_domain: str | None = None
    #: The cookies' ``Path`` (``/``: the whole app). Another path costs the ``__Host-`` prefix.
    cookie_path: str = "/"
    #: ``SameSite`` of the session cookie: ``lax`` or ``strict``. (The login cookie stays
    #: ``Lax``: it must come back with the provider's redirect.) With ``strict`` the callback
    #: answers with a small page that moves the browser on, same-site, to where it was going: a
    #: redirect would arrive without the Strict cookie and send it to log in again, forever.
    cookie_samesite: str = "lax"
    #: Where the browser lands after logout (a path of this app): the provider sends it to
    #: ``{base_url}{post_logout_path}``, which must be registered as a post-logout redirect URI.
    post_logout_path: str = "/"

    def __post_init__(self) -> None:
        self._check_app()

    def _check_app(self) -> None:
        """Every app setting."""
        check_http_url("base_url", self.base_url)
        if self.base_url.endswith("/"):
            object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        self._check_paths()
        if not self.session_secrets or any(len(s) < 16 for s in self.session_secrets):
            raise ConfigurationError("session secrets must each be at least 16 characters")
        if self.response_mode in ("fragment", "fragment.jwt"):
            raise ConfigurationError(
                f"response_mode {self.response_mode} puts the response in the URL's fragment, "
                "which browsers never send to the server: use query.jwt or form_post.jwt "
                "(OIDC_RESPONSE_MODE)",
                expected=[mode for mode in _RESPONSE_MODES if mode],
                actual=self.response_mode,
            )
        if self.response_mode not in _RESPONSE_MODES:
            raise ConfigurationError(
                "response_mode must be query, form_post, query.jwt, form_post.jwt or jwt "
                "(OIDC_RESPONSE_MODE)",
                expected=[mode for mode in _RESPONSE_MODES if mode],
                actual=self.response_mode,
            )

    def _check_paths(self) -> None:
        prefix = self.route_prefix.rstrip("/")
        object.__setattr__(self, "route_prefix", prefix)
        for name, path in (
            ("route_prefix", prefix or "/"),
            ("post_logout_path", self.post_logout_path),
            ("cookie_path", self.cookie_path),
        ):
            if not _PATH.fullmatch(path):
                raise ConfigurationError(
                    f"{name} must be a path such as /auth (letters, digits, - _ . / only)",
                    actual=path,
                )
        if not prefix:
            raise ConfigurationError("route_prefix cannot be / (the kit's routes need a prefix)")
        if self.cookie_samesite not in ("lax", "strict"):
            raise ConfigurationError(
                "cookie_samesite must be lax or strict (SESSION_COOKIE_SAMESITE)",
                expected=["lax", "strict"],
                actual=self.cookie_samesite,
            )
        if self.cookie_domain is not None:
            self._check_cookie_domain(self.cookie_domain)

    def _check_cookie_domain(self, domain: str) -> None:
        """A host name, and ``base_url``'s host or a parent of it (else browsers drop the
        cookie, or the app would set cookies for a site it is not)."""
        host = (urlsplit(self.base_url).hostname or "").lower()
        wanted = domain.lower().removeprefix(".")
        if not _DOMAIN.fullmatch(wanted) or not (host == wanted or host.endswith("." + wanted)):
            raise ConfigurationError(
                "cookie_domain (SESSION_COOKIE_DOMAIN) must be APP_BASE_URL's host or a parent "
                "domain of it",
                expected=host,
                actual=domain,
            )

    @property
    def session_store_url(self) -> str:
        """``session_store`` when set, else the default SQLite file."""
        return self.session_store or DEFAULT_SESSION_STORE

    @property
    def redirect_uri(self) -> str:
        """``{base_url}{route_prefix}/callback``, the redirect URI this client uses."""
        return f"{self.base_url}{self.route_prefix}/callback"

    @property
    def post_logout_redirect_uri(self) -> str:
        """``{base_url}{post_logout_path}``: where the provider sends the browser after logout."""
        return f"{self.base_url}{self.post_logout_path}"

    @property
    def cookie_prefix(self) -> str:
        """``__Host-`` on https with no ``Domain`` and ``Path=/`` (the strongest: no subdomain
        can set or see it), ``__Secure-`` on https otherwise, nothing on http."""
        if not self.secure_cookies:
            return ""
        if self.cookie_domain is None and self.cookie_path == "/":
            return "__Host-"
        return "__Secure-"

    @property
    def secure_cookies(self) -> bool:
        """True when the app is served over https: cookies get ``Secure`` and ``__Host-``."""
        return self.base_url.startswith("https://")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Self:
        """The app's settings from its variables (``APP_BASE_URL``, ``SESSION_*``, the
        routes' and cookies' ``OIDC_*``), ``overrides`` winning. Without ``SESSION_SECRET`` a
        random one is made for this process, with a warning: sessions then do not survive a
        restart or work across processes."""
        return settings_from_env(cls, environ, overrides, required=("base_url",))
