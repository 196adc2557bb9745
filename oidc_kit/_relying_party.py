"""The relying party: login, callback, logout, back-channel logout and users' sessions,
framework-neutral.

Each step takes plain inputs (a request's parameters, its cookies, the session the adapter
loaded) and returns an :class:`Outcome`: a status, where to send the browser, the cookies to
set or clear, a kit page to show (by name, with its values), or an error. Nothing here imports
a web framework: ``oidc_kit.starlette`` (and any other adapter) reads the request, calls these
methods, and turns the outcome into its own response. Apps shape a login with
:class:`Hooks` (``_hooks``): ``on_login`` may add claims to the session or refuse the user.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

import httpx

from ._audit import Auditor
from ._auth_params import login_params_from_query
from ._authorization_details import details_of
from ._backchannel import backchannel_logout
from ._clients import ProviderClient, ProviderClients
from ._config import OIDCConfig
from ._cookie_signer import CookieSigner
from ._dpop import load_key
from ._errors import (
    CrossSiteRequest,
    InsufficientScope,
    InvalidLoginRequest,
    OIDCError,
    SessionError,
)
from ._form_post import FORM_POST_MODES, needs_repost, repost_fields, without_marker
from ._hooks import Hooks, LogoutEvent, claims_after_login, notify
from ._instrumented_store import instrument_store
from ._introspection import Introspector, TokenIntrospection
from ._logout import end_session_url
from ._outcome import CookieChange, Outcome
from ._session import Session, new_id
from ._step_up import StepUp
from ._telemetry import login_span, record_login, set_provider
from ._urls import origin_of, safe_next_path
from ._user_sessions import SessionInfo, UserSessions
from .httpx_auth import TokenSource
from .stores import SessionStore

__all__ = ["RelyingParty"]

log = logging.getLogger("oidc_kit")

Params = Mapping[str, Sequence[str]]

#: The logout cookie's value when this app, not the provider, sends the browser to the landing.
_LOCAL_LOGOUT = "local"


class RelyingParty:
    """The app's providers, sessions and cookies, and the steps that change them.

    Public for adapter authors (docs/architecture.md): a web framework's integration reads
    its request into a step (:meth:`start_login`, :meth:`finish_login`,
    :meth:`confirm_logout`, :meth:`logout`, :meth:`backchannel_logout`,
    :meth:`revoke_session`) and renders the
    :class:`Outcome`; per request it loads the session its cookie names
    (:meth:`load_session`) and calls APIs with :meth:`token_source`. Apps use an adapter
    (``oidc_kit.starlette.OIDCAuth``), not this.
    """

    #: The default (first) provider's configuration, which holds the app-wide settings.
    config: OIDCConfig
    store: SessionStore
    http: httpx.AsyncClient
    hooks: Hooks
    #: The cookies' names (with the ``__Host-`` prefix on https).
    session_cookie: str
    login_cookie: str
    logout_cookie: str
    #: ``base_url``'s origin, what a same-origin request's ``Origin`` is.
    origin: str

    def __init__(
        self,
        configs: Mapping[str, OIDCConfig],
        *,
        store: SessionStore,
        http: httpx.AsyncClient,
        hooks: Hooks | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = next(iter(configs.values()))
        self.store = store
        self.http = http
        self.hooks = hooks or Hooks()
        self._clock = clock
        #: Where the audit events go (the ``oidc_kit.audit`` logger, ``hooks.on_audit``).
        self._auditor = Auditor(self.hooks.on_audit, clock)
        #: Each configured provider by name, the default first.
        self._clients = ProviderClients(
            configs,
            store=instrument_store(store),  # timed, with OpenTelemetry installed
            http=http,
            clock=clock,
            on_refresh_failed=self.hooks.on_refresh_failed,
            auditor=self._auditor,
        )
        self._sessions = self._clients.default.sessions
        self._users = UserSessions(self._sessions, self._auditor, self._clients, http, clock)
        self._cookies = CookieSigner(self.config.session_secrets, self.config.login_timeout)
        self.session_cookie = self.config.cookie_prefix + self.config.cookie_name
        # The short-lived login and logout cookies stay host-only with Path=/ whatever the
        # session cookie's domain and path: a sibling subdomain must not plant a login binding.
        host_only = "__Host-" if self.config.secure_cookies else ""
        self.login_cookie = host_only + self.config.login_cookie_name
        self.logout_cookie = host_only + "oidc_logout"
        self.origin = origin_of(self.config.base_url)
        #: Each provider's introspector (by name), made when first asked for.
        self._introspectors: dict[str, Introspector] = {}

    @property
    def cross_site_login_cookie(self) -> bool:
        """A form_post callback is a cross-site POST: on https the login cookie is then
        ``SameSite=None; Secure`` so that browsers send it (on http, where ``SameSite=None``
        needs ``Secure``, the same-origin re-post of :mod:`oidc_kit._form_post` covers it)."""
        return self.config.response_mode in FORM_POST_MODES and self.config.secure_cookies

    def _client_for(self, session: Session) -> ProviderClient:
        """The provider a session came from (by its issuer)."""
        return self._clients.for_session(session)

    async def load_session(self, cookie: str) -> tuple[Session | None, bool]:
        """The live session a session cookie names (``None``: a bad signature, or no such
        session, ended or expired), and whether the cookie was signed with the newest secret
        (if not, re-issue it: :meth:`session_cookie_change`). :class:`~oidc_kit.StoreUnavailable`
        when the store cannot be reached: answer 503, do not treat the user as logged out.

        :meth:`read_session_cookie` then :meth:`load_session_id`, in one call."""
        sid, current = self.read_session_cookie(cookie)
        return (None if sid is None else await self.load_session_id(sid)), current

    def read_session_cookie(self, cookie: str) -> tuple[str | None, bool]:
        """The session id a session cookie names (``None``: a bad signature), and whether the
        cookie was signed with the newest secret: :meth:`load_session`'s first half.

        A pure function of ``cookie`` for this relying party's life (its secrets are fixed),
        so an adapter may remember it per cookie: the Starlette middleware does, per
        ``Cookie`` header, and then calls :meth:`load_session_id` alone."""
        return self._cookies.read_session(cookie)

    def load_session_id(self, sid: str) -> Coroutine[Any, Any, Session | None]:
        """Await it: the live session ``sid`` (``None``: no such session, ended or expired),
        :meth:`load_session`'s second half, with the same :class:`~oidc_kit.StoreUnavailable`.

        Not a coroutine function: it hands back the sessions' own coroutine, so that the read
        every protected request makes costs one coroutine less."""
        return self._sessions.load(sid)

    def satisfies(self, session: Session, step_up: StepUp) -> bool:
        """Whether ``session``'s authentication meets a route's step-up (``max_age``,
        ``acr_values``, ``prompt=login``) now; if not, the adapter asks for it
        (:meth:`login_provider` names where)."""
        flow = self._client_for(session).flow
        return flow.satisfies(session.claims, step_up, session.authorization_details)

    def granted_scopes(self, session: Session) -> frozenset[str]:
        """The scopes of the session's access token, as the token endpoint granted them.

        A provider may grant fewer scopes than asked for (the user declined some), which is
        why the configured ``scopes`` are not the answer. The session record carries the grant
        in the clear; only a record written before it did needs its sealed token set opened
        (by the session's own provider)."""
        granted = session.granted_scope
        if granted is None:
            sessions = self._client_for(session).sessions
            granted = sessions.granted_scope(sessions.tokens(session))
        return frozenset(granted.split())

    def require_scopes(self, session: Session, required: Sequence[str]) -> None:
        """:class:`~oidc_kit.InsufficientScope` (403) unless the session's access token was
        granted every scope of ``required``: what every adapter's scope check calls."""
        if not required:
            return
        granted = self.granted_scopes(session)
        missing = [scope for scope in dict.fromkeys(required) if scope not in granted]
        if missing:
            log.info("insufficient scope for sub=%s: missing %s", session.sub, " ".join(missing))
            noun = "scope" if len(missing) == 1 else "scopes"
            raise InsufficientScope(
                f"this needs the {noun} {' '.join(missing)}, which the login did not grant",
                expected=list(required),
                actual=sorted(granted),
            )

    async def needs_step_up(self, session: Session, step_up: StepUp) -> bool:
        """Not :meth:`satisfies`, and then a ``step_up.required`` audit event: what an
        adapter calls before it sends the browser to log in again."""
        if self.satisfies(session, step_up):
            return False
        await self._auditor.emit(
            "step_up.required", sub=session.sub, iss=session.iss, sid=session.sid
        )
        return True

    def login_provider(self, session: Session | None) -> str | None:
        """``provider=`` for logging in again where ``session`` came from (``None``: the
        default provider, or no session)."""
        client = self._clients.by_issuer(session.iss) if session is not None else None
        return self._clients.login_name(client) if client is not None else None

    def token_source(self, session: Session) -> TokenSource:
        """The session's tokens, for API calls (``BearerAuth(rp.token_source(session))``):
        refreshed first when due, once per session however many requests race, and once
        more when an API refuses them. :class:`~oidc_kit.SessionEnded` when the session's
        provider is no longer configured."""
        return self._client_for(session).tokens.source(session)

    async def token_status(self, session: Session) -> dict[str, Any]:
        """What a profile page may show about ``session``'s tokens, never a token itself:
        ``sub``, ``claims``, ``expires_at``, ``scope``, ``has_refresh_token``, ``token_type``,
        ``dpop_jkt`` (the thumbprint of the session's DPoP key), ``profile``, ``provider``,
        ``authorization_details`` (RFC 9396: those granted at login, a list, empty if none)."""
        # Re-read: a refresh earlier in this request stored newer tokens than the caller's.
        session = await self._sessions.load(session.sid) or session
        tokens = self._sessions.tokens(session)
        client = self._client_for(session)
        return {
            "sub": session.sub,
            "claims": session.claims,
            "expires_at": tokens.expires_at,
            "scope": tokens.scope,
            "has_refresh_token": tokens.refresh_token is not None,
            "token_type": tokens.scheme,
            "dpop_jkt": load_key(tokens.dpop_key).thumbprint if tokens.dpop_key else None,
            "profile": client.config.profile,
            "provider": client.name,
            "authorization_details": list(details_of(session.authorization_details)),
        }

    async def introspect(self, session: Session) -> TokenIntrospection:
        """Whether ``session``'s access token is still active at its provider (RFC 7662
        introspection, :mod:`oidc_kit._introspection`): the token as stored, not refreshed
        first. The answer must be about a token of this client (and of the session's DPoP
        key, if bound); it is cached per the provider's ``introspection_cache_ttl``, never
        past the token's expiry. :class:`~oidc_kit.IntrospectionFailed` when the provider
        has no introspection endpoint or answers wrongly."""
        session = await self._sessions.load(session.sid) or session
        tokens = self._sessions.tokens(session)
        client = self._client_for(session)
        introspector = self._introspectors.get(client.name)
        if introspector is None:
            introspector = Introspector._for_provider(
                client.config, client.provider, self.http, self._clock
            )
            self._introspectors[client.name] = introspector
        return await introspector.introspect(
            tokens.access_token,
            expires_at=tokens.expires_at,
            expected_client_id=client.config.client_id,
            expected_jkt=load_key(tokens.dpop_key).thumbprint if tokens.dpop_key else None,
        )

    def session_cookie_change(self, sid: str) -> CookieChange:
        """The session cookie naming ``sid``, signed with the newest secret."""
        value = self._cookies.sign_session(sid)
        return CookieChange(self.session_cookie, value, self.config.session_absolute_timeout)

    # -- login -------------------------------------------------------------------------

    async def start_login(self, query: Params, cookies: Mapping[str, str]) -> Outcome:
        """``GET /login``: record a transaction, send the browser to the provider."""
        with login_span("start"):
            return await self._start_login(query, cookies)

    async def _start_login(self, query: Params, cookies: Mapping[str, str]) -> Outcome:
        try:
            step_up = StepUp.from_query(query)
            hints = login_params_from_query(query)
            client = self._client_named(_single(query, "provider"))
        except OIDCError as exc:
            record_login("failure", exc.code)
            return Outcome(exc.status, error=exc)
        set_provider(client.name)
        next_path = safe_next_path(_single(query, "next"))
        # A fresh binding at every start, never one read from a cookie: a cookie planted in
        # the victim's browser (http, no __Host- prefix) must not bind the victim's login to
        # a binding the planter holds. The cookie keeps the browser's last few bindings, so
        # logins started in several tabs all complete.
        binding = new_id()
        existing = cookies.get(self.login_cookie)
        bindings = [binding, *(self._cookies.login_bindings(existing) if existing else [])]
        url = await client.flow.start(
            binding,
            next_path,
            max_age=step_up.max_age,
            acr_values=step_up.acr_values,
            prompt=step_up.prompt,
            login_params=hints,
            authorization_details=step_up.authorization_details,
        )
        cookie = CookieChange(
            self.login_cookie,
            self._cookies.sign_login_bindings(bindings),
            self.config.login_timeout,
            cross_site=self.cross_site_login_cookie,
        )
        return Outcome(303, location=url, cookies=(cookie,))

    def _client_named(self, name: str | None) -> ProviderClient:
        client = self._clients.default if name is None else self._clients.get(name)
        if client is None:
            raise InvalidLoginRequest("no provider of that name is configured")
        return client

    async def finish_login(
        self,
        method: str,
        params: Params,
        cookies: Mapping[str, str],
        current: Session | None,
        arrived_at: str | None = None,
    ) -> Outcome:
        """The callback: ``params`` is the query (GET) or the form (POST, form_post);
        ``arrived_at`` the provider name in the redirect URI (``/callback/{name}``).

        The login cookie is left alone, failure or success: it holds the browser's recent
        bindings, which the logins of other tabs still need (it expires after
        login_timeout). A failed callback ends at most the transaction its own state names,
        and only when this browser started it (``LoginFlow.take``).
        """
        with login_span("callback"):
            return await self._finish_login(method, params, cookies, current, arrived_at)

    async def _finish_login(
        self,
        method: str,
        params: Params,
        cookies: Mapping[str, str],
        current: Session | None,
        arrived_at: str | None,
    ) -> Outcome:
        raw = cookies.get(self.login_cookie)
        if needs_repost(method, params, raw is not None, self.config.response_mode):
            # A cross-site form_post without our SameSite=Lax cookie: once more, same-origin.
            action = self._clients.at_redirect_uri(arrived_at).flow.redirect_uri
            return Outcome(200, page="repost", context=repost_fields(action, params))
        try:
            session = await self._login(params, raw, current, arrived_at)
        except OIDCError as exc:
            log.info("login failed: %s", exc.code)
            await self._auditor.emit("login.failed", outcome="failure", error=exc.code)
            record_login("failure", exc.code)
            return Outcome(exc.status, error=exc)
        next_path, sid = session
        session_cookie = (self.session_cookie_change(sid),)
        if self.config.cookie_samesite == "strict":
            # The provider's redirect here is a cross-site navigation, and so is our redirect
            # onwards: a Strict cookie would not come with it, and the page would send the
            # browser to log in again, forever. A page of ours moves it on, same-site.
            context = {"next": next_path}
            return Outcome(200, page="continue", context=context, cookies=session_cookie)
        return Outcome(303, location=next_path, cookies=session_cookie)

    async def _login(
        self, params: Params, raw: str | None, current: Session | None, arrived_at: str | None
    ) -> tuple[str, str]:
        bindings = self._cookies.login_bindings(raw) if raw else []
        params = without_marker(params)
        txn = await self._clients.default.flow.take(params, bindings)
        client = self._clients.for_transaction(txn, arrived_at)
        set_provider(client.name)
        result = await client.flow.complete(txn, params)
        claims = await claims_after_login(self.hooks.on_login, client.name, result.claims)
        if current is not None:
            await self._sessions.delete(current.sid)  # a new id at every login
        session = await client.sessions.create(
            result.tokens, claims, result.provider_sid, result.authorization_details
        )
        log.info("login succeeded for sub=%s", session.sub)
        await self._auditor.emit(
            "login.succeeded", sub=session.sub, provider=client.name, sid=session.sid
        )
        record_login("success", None, client.name)
        return result.next_path, session.sid

    # -- logout ------------------------------------------------------------------------

    def confirm_logout(self) -> Outcome:
        """``GET /logout``: the page with the POST form (a GET never logs out)."""
        return Outcome(200, page="logout")

    async def logout(
        self, session: Session | None, *, same_origin: bool, everywhere: bool = False
    ) -> Outcome:
        """``POST /logout``: end the session here and at the provider. ``same_origin``: the
        request's ``Sec-Fetch-Site``/``Origin`` show no other site
        (:func:`oidc_kit._urls.is_same_origin`); a cross-site logout is refused (CSRF).
        ``everywhere`` (``?everywhere=1``): the user's other sessions end first, on every
        instance, their tokens revoked (``session.revoked``, reason ``everywhere``)."""
        if not same_origin:
            refusal = CrossSiteRequest("cross-site logout refused")
            return Outcome(refusal.status, error=refusal)
        cookies = [CookieChange(self.session_cookie, None)]
        if session is None:
            return Outcome(303, location=self.config.post_logout_path, cookies=tuple(cookies))
        if everywhere:
            await self._users.revoke_all(session.iss, session.sub, "everywhere", keep=session.sid)
        location, state = await self._end(session)
        await self._on_logout(session, "user")
        # The landing page is told the browser is back from logout (and checks the state
        # the provider returns), whether the provider or this app sends it there.
        value = self._cookies.sign_login(state)
        cookies.append(CookieChange(self.logout_cookie, value, self.config.login_timeout))
        return Outcome(303, location=location, cookies=tuple(cookies))

    async def _on_logout(self, session: Session, reason: str) -> None:
        """Record a session that ended by logout (``user`` or ``backchannel``), and tell the
        app's ``on_logout``."""
        event = "backchannel_logout" if reason == "backchannel" else "logout"
        await self._auditor.emit(
            event, sub=session.sub, iss=session.iss, sid=session.sid, reason=reason
        )
        if self.hooks.on_logout is None:
            return
        try:
            provider = self._client_for(session).name
        except SessionError:
            provider = ""
        await notify(self.hooks.on_logout, LogoutEvent(provider, session.sub, reason))

    def check_logout_return(self, state: str | None, cookie: str) -> bool:
        """The browser is back from logout: whether ``state`` is the logout's (else logged:
        harmless, the session already ended here, but worth a line)."""
        expected = self._cookies.login_binding(cookie)
        if expected == _LOCAL_LOGOUT:
            return True  # this app sent the browser here itself: no state travels
        if (
            expected is not None
            and state is not None
            and secrets.compare_digest(expected.encode(), state.encode())
        ):
            log.info("returned from the provider's logout")
            return True
        log.warning("return from the provider's logout with a wrong or missing state")
        return False

    async def _end(self, session: Session) -> tuple[str, str]:
        """End ``session`` here, revoke its tokens (``UserSessions.end``); the provider's logout
        URL and the state it brings back (else the app's post-logout landing, and
        :data:`_LOCAL_LOGOUT`)."""
        ended = await self._users.end(session)
        return_to = self.config.post_logout_redirect_uri
        provider = ended and end_session_url(ended.config, ended.meta, ended.tokens, return_to)
        return provider or (self.config.post_logout_path, _LOCAL_LOGOUT)

    # -- back-channel logout ------------------------------------------------------------

    async def backchannel_logout(self, form: Params) -> Outcome:
        """``POST /backchannel-logout``: 200 when the logout token is valid, else 400
        (``_backchannel.py``)."""
        clients, now = self._clients, self._clock()
        return await backchannel_logout(form, clients, self.store, self._auditor, now, self._gone)

    async def _gone(self, session: Session) -> None:
        await self._on_logout(session, "backchannel")

    # -- users' sessions (``_user_sessions.py``) ----------------------------------------

    async def user_sessions(self, session: Session) -> list[SessionInfo]:
        """``GET /sessions``: the live sessions of ``session``'s user, newest first."""
        return await self._users.listing(session)

    async def revoke_session(
        self, session: Session | None, handle: str, *, same_origin: bool
    ) -> Outcome:
        """``POST /sessions/{handle}/revoke``: end one of the user's sessions, this one too
        (then the cookie goes): 200, or 403 cross-site, 401 without a session, 404
        ``unknown_session`` for a handle naming none of the user's live sessions."""
        try:
            current = await self._users.revoke_one(session, handle, same_origin=same_origin)
        except OIDCError as exc:
            return Outcome(exc.status, error=exc)
        cookies = (CookieChange(self.session_cookie, None),) if current else ()
        return Outcome(200, cookies=cookies)

    async def revoke_user(self, sub: str, provider: str | None = None) -> int:
        """End every session of ``sub`` at ``provider`` (a name; the default provider), on
        every instance, their tokens revoked (reason ``operator``); how many ended.
        ``KeyError`` for a provider that is not configured."""
        client = self._clients.default if provider is None else self._clients[provider]
        return len(await self._users.revoke_all(client.config.issuer, sub, "operator"))


def _single(params: Params, name: str) -> str | None:
    """The parameter's last value, as Starlette's ``query_params.get`` reads it."""
    values = params.get(name, ())
    return values[-1] if values else None
