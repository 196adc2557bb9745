"""One app's kit for a sync web framework (Flask, Django), in no framework's terms.

:class:`SyncKit` owns the bridge (``_bridge.CoreLoop``) and builds on its loop what
``OIDCAuth`` builds for Starlette (``_kit_parts.build_parts``: the relying party, its answers
and the kit's routes, the store, the HTTP client). An adapter translates its own request and
response, and calls these steps, each crossing to the loop at most once:

- :meth:`SyncKit.begin`: the per-request session step of the Starlette middleware
  (``_middleware.py``), with its decisions (``WebAnswers.logout_return``,
  ``WebAnswers.cookie_repairs``): the session or none, the ``Set-Cookie`` lines the answer
  gets on its way out, whether it is ``no-store``; a store outage is a 503 answer;
- :meth:`SyncKit.handle`: one of the kit's routes (``_handlers.KitHandlers``);
- :meth:`SyncKit.refusal`: a view's ``login_required`` decisions (no session, scopes, claims,
  step-up), and :meth:`SyncKit.raised` for a kit error a view raised;
- :meth:`SyncKit.httpx_auth`: a sync ``httpx.Auth`` with the user's token, which drives
  :class:`~oidc_kit.BearerAuth`'s flow through the bridge (refreshed before expiry, once more
  on a 401, DPoP when the tokens are bound): the same code as the async adapters'.

Django's async middleware and views run on an event loop that is not the kit's: they await
the ``a``-named counterparts (:meth:`SyncKit.abegin`, :meth:`SyncKit.arefusal`,
:meth:`SyncKit.acall`, :meth:`SyncKit.aaccess_token`, :meth:`SyncKit.bridged_auth` for an
``httpx.AsyncClient`` on their loop), the same decisions with the crossing awaited.

The adapter binds each request's audit context (``oidc_kit.audit.request_context``) for as
long as it serves it: every crossing made meanwhile carries it (the caller's contextvars go
with each call to the loop), so the audit events of a login, a refresh or a logout name the
request's client.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from typing import Any, Literal, TypeVar

import anyio.to_thread
import httpx
import jinja2

from ._answers import WebAnswers
from ._bridge import CoreLoop
from ._claims import ClaimsRequirement
from ._clients import named_configs
from ._config import OIDCConfig
from ._errors import LoginRequired, OIDCError, StoreUnavailable
from ._exchange import WebRequest, WebResponse
from ._handlers import KitHandlers, KitRoute
from ._hooks import Hooks
from ._introspection import TokenIntrospection
from ._kit_parts import KitParts, build_parts, check_store_choice
from ._session import Session
from ._step_up import StepUp
from .httpx_auth import BearerAuth
from .stores import SessionStore

__all__ = ["Begun", "BridgedBearerAuth", "SyncBearerAuth", "SyncKit"]

R = TypeVar("R")
_Parts = KitParts[WebAnswers]


@dataclass(frozen=True, slots=True)
class ViewRequirements:
    """What a protected view needs beyond a session, from the options of the sync adapters'
    ``login_required`` (Flask's and Django's read them the same way, here)."""

    step_up: StepUp
    rules: ClaimsRequirement
    scopes: tuple[str, ...]

    @classmethod
    def for_view(
        cls,
        *,
        scopes: str | Sequence[str] = (),
        max_age: int | None = None,
        acr_values: str | Sequence[str] = (),
        prompt: Literal["login"] | None = None,
        claims: Mapping[str, Any] | None = None,
        authorization_details: Sequence[Mapping[str, Any]] | None = None,
    ) -> ViewRequirements:
        """The requirements of ``login_required(...)``'s options (invalid ones refused now,
        at decoration, by ``StepUp`` and ``ClaimsRequirement``); ``authorization_details``
        (RFC 9396) the session's grant must hold, else a step-up login asks for them."""
        return cls(
            StepUp.for_route(
                max_age=max_age,
                acr_values=acr_values,
                prompt=prompt,
                authorization_details=authorization_details,
            ),
            ClaimsRequirement.for_route(claims),
            (scopes,) if isinstance(scopes, str) else tuple(scopes),
        )

    @property
    def beyond_session(self) -> bool:
        """Whether anything but a session is needed (else a view with one just runs)."""
        return self.step_up.required or self.rules.required or bool(self.scopes)


@dataclass(frozen=True, slots=True)
class Begun:
    """What the per-request session step found, and what the answer gets on its way out."""

    #: The live session the cookie names, or ``None``.
    session: Session | None
    #: The request lands on the post-logout page right after a logout (a page may say so).
    signed_out: bool = False
    #: The answer may depend on a session (the request carried one's cookie): never cached.
    no_store: bool = False
    #: ``Set-Cookie`` lines for an answer that does not set the session cookie itself ...
    repairs: tuple[str, ...] = ()
    #: ... and for one that does (only the logout cookie's expiry, if any).
    repairs_if_set: tuple[str, ...] = ()
    #: The answer instead of the app's (503 when the store cannot be reached: no session
    #: lost, the user not treated as logged out).
    refusal: WebResponse | None = None

    def set_cookies(self, sets_session_cookie: bool) -> tuple[str, ...]:
        """The ``Set-Cookie`` lines to add to an answer (which sets the session cookie itself,
        or not)."""
        return self.repairs_if_set if sets_session_cookie else self.repairs


#: A request without the kit's cookies: nothing to load, nothing to repair.
_NO_SESSION = Begun(None)


class SyncKit:
    """OpenID Connect login for one sync web app, over the async core through one bridge."""

    def __init__(
        self,
        config: OIDCConfig | Mapping[str, OIDCConfig],
        *,
        store: SessionStore | None = None,
        http_client: Callable[[], httpx.AsyncClient] | None = None,
        json_paths: Sequence[str] = ("/api/",),
        hooks: Hooks | None = None,
        template_dirs: Sequence[str | PathLike[str]] = (),
        templates: jinja2.Environment | None = None,
        clock: Callable[[], float] = time.time,
        owner: str = "SyncKit",
    ) -> None:
        """As ``OIDCAuth``'s arguments, but ``http_client`` is a factory: called on the kit's
        loop (an ``httpx.AsyncClient`` belongs to the loop that uses it), and the client it
        makes is closed by :meth:`close`. Nothing is built until the first request (or
        :meth:`parts`): making the app opens no store and starts no thread."""
        self._configs = named_configs(config)
        #: The default (first) provider's settings, which hold the app-wide ones.
        self.config = next(iter(self._configs.values()))
        check_store_choice(self.config, store, owner)  # at once, not on the first request
        self._store = store
        self._http_client = http_client
        self._options: dict[str, Any] = {
            "json_paths": json_paths,
            "hooks": hooks,
            "template_dirs": template_dirs,
            "templates": templates,
            "clock": clock,
            "owner": owner,
        }
        self._clock = clock
        #: The kit's loop in this process, once started (a bridged auth tells it from others).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._core: CoreLoop[_Parts] = CoreLoop(self._build, cleanup=self._cleanup)

    async def _build(self) -> _Parts:
        """On the loop: the parts, with the HTTP client made here."""
        self._loop = asyncio.get_running_loop()
        http = self._http_client() if self._http_client is not None else None
        return build_parts(
            self._configs, WebAnswers, http_client=http, store=self._store, **self._options
        )

    async def _cleanup(self, parts: _Parts) -> None:
        await parts.aclose()
        if self._http_client is not None:  # made by the app's factory, on our loop
            await parts.http.aclose()

    @property
    def parts(self) -> _Parts:
        """This process's parts (the loop started, and they built, on first use)."""
        return self._core.get()

    @property
    def web(self) -> WebAnswers:
        """How the answers look on the web: pages, cookies, JSON paths, the app's origin."""
        return self._core.get().web

    def close(self) -> None:
        """Close the store and the HTTP client (if the kit made them) and stop the loop;
        idempotent. The adapter calls it at interpreter exit (``atexit``)."""
        self._core.close()

    def call(self, fn: Callable[..., Awaitable[R]], /, *args: Any) -> R:
        """``await fn(*args)`` on the kit's loop, from a request's thread: for the app's own
        async clients (an ``httpx.AsyncClient`` made for the loop, an
        :meth:`async_auth`)."""
        return self._core.call(fn, *args)

    # -- the per-request steps ------------------------------------------------------------

    def begin(
        self, cookies: Mapping[str, str], path: str, state: Callable[[], str | None]
    ) -> Begun:
        """The session step of a request to ``path`` with these ``cookies`` (``state()``: its
        query's ``state``, read only on the return from logout): at most one crossing, none
        for a request without the kit's cookies."""
        web = self.web
        cookie, logout_cookie = _kit_cookies(web, cookies)
        if cookie is None and logout_cookie is None:
            return _NO_SESSION  # the common anonymous request: nothing crosses
        try:
            loaded = self._core.call(web.rp.load_session, cookie) if cookie else None
        except StoreUnavailable as exc:
            return Begun(None, refusal=web.error(WebRequest("GET", path), exc))
        return _begun(web, path, state, cookie, logout_cookie, loaded)

    async def abegin(
        self, cookies: Mapping[str, str], path: str, state: Callable[[], str | None]
    ) -> Begun:
        """:meth:`begin` for a caller on another event loop (Django's async middleware): the
        crossing awaited, the caller's loop never blocked (not even by the first request,
        which starts the kit's loop)."""
        web = (await self._aparts()).web
        cookie, logout_cookie = _kit_cookies(web, cookies)
        if cookie is None and logout_cookie is None:
            return _NO_SESSION
        try:
            loaded = await self._core.acall(web.rp.load_session, cookie) if cookie else None
        except StoreUnavailable as exc:
            return Begun(None, refusal=web.error(WebRequest("GET", path), exc))
        return _begun(web, path, state, cookie, logout_cookie, loaded)

    async def _aparts(self) -> _Parts:
        """:attr:`parts`, from another event loop: started on a worker thread the first
        time (starting the loop and building the parts waits)."""
        if self._core.running:
            return self._core.get()
        return await anyio.to_thread.run_sync(self._core.get)

    async def acall(self, fn: Callable[..., Awaitable[R]], /, *args: Any) -> R:
        """``await fn(*args)`` on the kit's loop, awaited from another event loop (an async
        view): :meth:`call` for async callers."""
        return await self._core.acall(fn, *args)

    @staticmethod
    def match(subpath: str) -> tuple[KitRoute, dict[str, str]] | None:
        """The kit's route at ``subpath`` (the path under the prefix) and its parameters."""
        return KitHandlers.match(subpath)

    def reads_body(self, route: KitRoute, request: WebRequest) -> bool:
        """Whether the adapter reads ``request``'s body (bounded) before :meth:`handle`."""
        return self.parts.handlers.reads_body(route, request)

    def handle(self, route: KitRoute, request: WebRequest) -> WebResponse:
        """``route``'s answer to ``request``: one crossing."""
        return self._core.call(self.parts.handlers.answer, route, request)

    def refusal(
        self, request: WebRequest, target: str, needs: ViewRequirements
    ) -> WebResponse | None:
        """What a protected view answers instead (``None``: it runs): no session, a scope or
        claims missing, with no crossing; a step-up the session does not satisfy, with one
        (``RelyingParty.needs_step_up`` records its audit event)."""
        web = self.web
        step_up = needs.step_up
        answer = web.session_refusal(request, target, needs.rules, needs.scopes)
        if answer is not None or not step_up.required:
            return answer
        assert request.session is not None  # session_refusal answered otherwise
        if self._core.call(web.rp.needs_step_up, request.session, step_up):
            return web.step_up(request, target, step_up)
        return None

    async def arefusal(
        self, request: WebRequest, target: str, needs: ViewRequirements
    ) -> WebResponse | None:
        """:meth:`refusal` for an async view: the step-up's crossing awaited."""
        web = (await self._aparts()).web
        step_up = needs.step_up
        answer = web.session_refusal(request, target, needs.rules, needs.scopes)
        if answer is not None or not step_up.required:
            return answer
        assert request.session is not None  # session_refusal answered otherwise
        if await self._core.acall(web.rp.needs_step_up, request.session, step_up):
            return web.step_up(request, target, step_up)
        return None

    def raised(self, request: WebRequest, target: str, exc: OIDCError) -> WebResponse:
        """The answer to a kit error a view raised (``WebAnswers.raised``)."""
        return self.web.raised(request, target, exc)

    # -- the user's tokens ------------------------------------------------------------------

    def async_auth(self, session: Session | None) -> BearerAuth:
        """:class:`~oidc_kit.BearerAuth` with ``session``'s tokens, for an
        ``httpx.AsyncClient`` used on the kit's loop (:meth:`call`).
        :class:`~oidc_kit.LoginRequired` without a session."""
        if session is None:
            raise LoginRequired("log in to continue")
        parts = self.parts
        source = parts.rp.token_source(session)
        return BearerAuth(source, nonces=parts.api_nonces, clock=self._clock)

    def httpx_auth(self, session: Session | None) -> SyncBearerAuth:
        """A sync ``httpx.Auth`` with ``session``'s tokens, for an ``httpx.Client``: refreshed
        first when due, once more on a 401 (one retry), DPoP-bound ones with their proofs."""
        return SyncBearerAuth(self._core, self.async_auth(session))

    def access_token(self, session: Session | None) -> str:
        """``session``'s access token, refreshed first when due: one crossing."""
        if session is None:
            raise LoginRequired("log in to continue")
        return self._core.call(_access_token, self.parts, session)

    async def aaccess_token(self, session: Session | None) -> str:
        """:meth:`access_token` for an async caller: the crossing awaited."""
        if session is None:
            raise LoginRequired("log in to continue")
        return await self._core.acall(_access_token, await self._aparts(), session)

    def token_status(self, session: Session | None) -> dict[str, Any]:
        """What a profile page may show about ``session``'s tokens, never a token itself
        (``RelyingParty.token_status``): one crossing."""
        if session is None:
            raise LoginRequired("log in to continue")
        return self._core.call(self.parts.rp.token_status, session)

    async def atoken_status(self, session: Session | None) -> dict[str, Any]:
        """:meth:`token_status` for an async caller: the crossing awaited."""
        if session is None:
            raise LoginRequired("log in to continue")
        return await self._core.acall((await self._aparts()).rp.token_status, session)

    def introspect(self, session: Session | None) -> TokenIntrospection:
        """Whether ``session``'s access token is still active at the provider, RFC 7662
        (``RelyingParty.introspect``): one crossing."""
        if session is None:
            raise LoginRequired("log in to continue")
        return self._core.call(self.parts.rp.introspect, session)

    async def aintrospect(self, session: Session | None) -> TokenIntrospection:
        """:meth:`introspect` for an async caller: the crossing awaited."""
        if session is None:
            raise LoginRequired("log in to continue")
        return await self._core.acall((await self._aparts()).rp.introspect, session)

    def bridged_auth(self, session: Session | None) -> BridgedBearerAuth:
        """An ``httpx.Auth`` with ``session``'s tokens for an ``httpx.AsyncClient`` on
        another event loop (an async view's): :class:`~oidc_kit.BearerAuth`'s flow, each step
        awaited on the kit's loop."""
        return BridgedBearerAuth(self._core, self.async_auth(session), self._on_loop)

    def _on_loop(self) -> bool:
        """Whether the caller runs on the kit's loop (where a step needs no crossing)."""
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False


async def _access_token(parts: _Parts, session: Session) -> str:
    return (await parts.rp.token_source(session).tokens()).access_token


def _kit_cookies(web: WebAnswers, cookies: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The session cookie and the logout cookie of a request, if it has them."""
    return cookies.get(web.rp.session_cookie), cookies.get(web.rp.logout_cookie)


def _begun(
    web: WebAnswers,
    path: str,
    state: Callable[[], str | None],
    cookie: str | None,
    logout_cookie: str | None,
    loaded: tuple[Session | None, bool] | None,
) -> Begun:
    """What the session step found (``loaded``: the store's answer, when the request had a
    session cookie), with the cookie repairs its answer gets."""
    logout_return, signed_out = web.logout_return(path, logout_cookie, state)
    session, current = loaded if loaded is not None else (None, True)
    stale = cookie is not None and session is None
    # A cookie signed with an older secret is re-issued under the newest one.
    resign = session if session is not None and not current else None

    def repairs(sets: bool) -> tuple[str, ...]:
        return tuple(
            web.cookie_repairs(
                sets_session_cookie=sets,
                stale=stale,
                resign=resign,
                logout_return=logout_return,
            )
        )

    return Begun(
        session,
        signed_out=signed_out,
        no_store=cookie is not None,
        repairs=repairs(False),
        repairs_if_set=repairs(True),
    )


class SyncBearerAuth(httpx.Auth):
    """:class:`~oidc_kit.BearerAuth` for an ``httpx.Client``: its flow, each step run on the
    kit's loop (where the token source refreshes, single-flight, with the kit's HTTP
    client); the requests it yields sent by the sync client in the caller's thread."""

    #: Bodies are read before the flow sees them: it decides on a 401's challenge on the loop,
    #: where a sync stream could not be read.
    requires_request_body = True
    requires_response_body = True

    def __init__(self, core: CoreLoop[Any], auth: BearerAuth) -> None:
        self._core = core
        self._auth = auth

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """httpx's flow: each step of :meth:`BearerAuth.async_auth_flow` run on the loop."""
        flow = self._auth.async_auth_flow(request)
        call = self._core.call
        try:
            sent = call(flow.__anext__)
            while True:
                response = yield sent
                try:
                    sent = call(flow.asend, response)
                except StopAsyncIteration:
                    return
        finally:
            call(flow.aclose)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        raise RuntimeError("SyncBearerAuth is for httpx.Client: use SyncKit.async_auth")
        yield request  # pragma: no cover  (makes this a generator, as httpx expects)


class BridgedBearerAuth(httpx.Auth):
    """:class:`~oidc_kit.BearerAuth` for an ``httpx.AsyncClient`` on any event loop: on one
    that is not the kit's (Django's async views), each step of its flow awaited on the kit's
    loop (where the token source refreshes, single-flight, with the kit's HTTP client and
    store), the requests it yields sent by the caller's client on the caller's loop; on the
    kit's own loop (a client run there with ``SyncKit.call``), the steps run in place."""

    requires_request_body = True
    requires_response_body = True

    def __init__(
        self, core: CoreLoop[Any], auth: BearerAuth, on_kit_loop: Callable[[], bool]
    ) -> None:
        self._core = core
        self._auth = auth
        self._on_kit_loop = on_kit_loop

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("BridgedBearerAuth is for httpx.AsyncClient: use SyncKit.httpx_auth")
        yield request  # pragma: no cover  (makes this a generator, as httpx expects)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """httpx's flow: each step of :meth:`BearerAuth.async_auth_flow` awaited on the kit's
        loop."""
        flow = self._auth.async_auth_flow(request)
        acall = _in_place if self._on_kit_loop() else self._core.acall
        try:
            sent = await acall(flow.__anext__)
            while True:
                response = yield sent
                try:
                    sent = await acall(flow.asend, response)
                except StopAsyncIteration:
                    return
        finally:
            await acall(flow.aclose)


async def _in_place(fn: Callable[..., Awaitable[R]], /, *args: Any) -> R:
    """``await fn(*args)`` where the caller runs: the kit's own loop needs no crossing."""
    return await fn(*args)
