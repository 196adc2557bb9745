"""The relying party under test, as a browser and the provider see it: through HTTP only.

:class:`RP` is the same app on each web adapter, Starlette, Flask and Django
(``tests/conformance/apps.py``): the kit's ``/auth`` routes and session step, plus
``login_required`` API routes calling a resource server with the user's token and showing
the session's token status. The ``rp`` and ``rp_factory`` fixtures are parametrized over the
three (``framework``): every test runs against each adapter, with the same assertions. An
``httpx.AsyncClient`` plays the browser (over ASGI for Starlette and Django, over WSGI on
worker threads for Flask). The provider is
:class:`~tests.conformance.misbehaving_op.MisbehavingOP`, reached through
``httpx.MockTransport``; nothing touches the network and nothing sleeps (the kit, the provider
and the test share one hand-moved clock).

Each test asserts what a certified RP must show: a success (303, a session cookie,
``/auth/session`` 200) or a refusal (4xx, the stable code in the JSON body, and no session:
no session cookie set, no session record written, ``/auth/session`` 401).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from html.parser import HTMLParser
from http.cookiejar import Cookie
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from joserfc.jwk import ECKey, RSAKey

from oidc_kit import MemoryStore, OIDCConfig
from tests.conformance.apps import FRAMEWORKS, ResourceServer, build
from tests.conformance.misbehaving_op import MisbehavingOP
from tests.conftest import Clock, make_config

APP = "https://app.test"
SESSION_COOKIE = "__Host-oidc_session"
LOGIN_COOKIE = "__Host-oidc_login"


class RecordingStore(MemoryStore):
    """The memory store, remembering every key written: proof that no session was made."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[str] = []

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        self.written.append(key)
        await super().set(key, value, ttl)

    async def add(self, key: str, value: bytes, ttl: float) -> bool:
        self.written.append(key)
        return await super().add(key, value, ttl)

    def sessions_written(self) -> list[str]:
        return [k for k in self.written if k.startswith("session:")]


_CLIENT_KEYS: dict[str, RSAKey | ECKey] = {}


def client_key(alg: str = "ES256") -> RSAKey | ECKey:
    """The client's private key for ``private_key_jwt`` (PS256: RSA 2048, ES256: P-256),
    one per alg per test session."""
    if alg not in _CLIENT_KEYS:
        _CLIENT_KEYS[alg] = (
            RSAKey.generate_key(2048, private=True)
            if alg == "PS256"
            else ECKey.generate_key("P-256", private=True)
        )
    return _CLIENT_KEYS[alg]


def client_key_pem(alg: str = "ES256") -> str:
    """The ``client_key`` setting: the key as a PKCS#8 PEM."""
    return client_key(alg).as_pem(private=True).decode()


class _FormReader(HTMLParser):
    """What a browser reads from a form_post page: the form's action and its fields."""

    def __init__(self) -> None:
        super().__init__()
        self.method = ""
        self.action = ""
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.method, self.action = values.get("method", "get").lower(), values["action"]
        elif tag == "input" and "name" in values:
            self.fields[values["name"]] = values.get("value", "")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _same_site(cookie: Cookie) -> str:
    for name in ("SameSite", "samesite"):
        value = cookie.get_nonstandard_attr(name)
        if value is not None:
            return str(value).lower()
    return "lax"  # what browsers assume when the attribute is absent


class RP:
    """The relying party under test, on one web adapter, and the browser that drives it."""

    def __init__(
        self,
        framework: str,
        config: OIDCConfig,
        op: MisbehavingOP,
        store: RecordingStore,
        clock: Clock,
    ) -> None:
        self.framework = framework
        #: The kit's settings and its store, the same objects on every adapter.
        self.config = config
        self.store = store
        self.op = op
        self.api = ResourceServer(op)
        self._app = build(framework, config, store, op, self.api, clock)
        self.browser = self._new_browser()

    def _new_browser(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=self._app.transport(),
            base_url=APP,
            headers={"Accept": "application/json"},
        )

    async def switch_browser(self) -> None:
        """Another browser (no cookies) on the same app; "no session" checks start afresh."""
        await self.browser.aclose()
        self.browser = self._new_browser()
        self.store.written.clear()

    async def aclose(self) -> None:
        await self.browser.aclose()
        await self._app.close()

    # -- driving the login ----------------------------------------------------------------

    async def start_login(self, next_path: str = "/") -> httpx.Response:
        """``GET /auth/login``: a 303 to the provider when all is well."""
        return await self.browser.get("/auth/login", params={"next": next_path})

    async def login(self, next_path: str = "/") -> httpx.Response:
        """A whole login: the app, the provider, back to the callback; the callback's answer."""
        start = await self.start_login(next_path)
        assert start.status_code == 303, (start.status_code, start.text)
        return await self.return_from_provider(start.headers["location"])

    async def return_from_provider(self, location: str) -> httpx.Response:
        """The browser at the provider and back, in the response mode the RP asked for."""
        query = self.op.requested(location)  # with PAR, what was pushed
        if query.get("response_mode") == "form_post":
            return await self.submit_form_post(self.op.form_post_page(location))
        params = self.op.authorize(location)
        return await self.browser.get(query["redirect_uri"], params=params)

    async def submit_form_post(self, page: str) -> httpx.Response:
        """Submit the provider's form as a browser does: a cross-site POST, which carries
        only the cookies marked ``SameSite=None; Secure``."""
        form = _FormReader()
        form.feed(page)
        assert form.method == "post", page
        request = self.browser.build_request(
            "POST",
            form.action,
            data=form.fields,
            headers={"Origin": _origin(self.op.issuer), "Sec-Fetch-Site": "cross-site"},
        )
        request.headers.pop("cookie", None)
        cross_site = [
            f"{c.name}={c.value}"
            for c in self.browser.cookies.jar
            if _same_site(c) == "none" and c.secure
        ]
        if cross_site:
            request.headers["Cookie"] = "; ".join(cross_site)
        return await self.browser.send(request)

    # -- what the RP shows -----------------------------------------------------------------

    def authorization_request(self) -> dict[str, str]:
        """The last authorization request the provider received."""
        return self.op.authorization_requests[-1]

    async def session(self) -> httpx.Response:
        return await self.browser.get("/auth/session")

    async def assert_logged_in(
        self, response: httpx.Response, next_path: str = "/"
    ) -> dict[str, Any]:
        """A certified RP's success: 303 to ``next``, a session cookie, a live session."""
        assert response.status_code == 303, (response.status_code, response.text)
        assert response.headers["location"] == next_path
        assert any(
            c.startswith(f"{SESSION_COOKIE}=") and not c.startswith(f'{SESSION_COOKIE}=""')
            for c in response.headers.get_list("set-cookie")
        )
        session = await self.session()
        assert session.status_code == 200, session.text
        body: dict[str, Any] = session.json()
        assert body["authenticated"] is True
        assert body["sub"] == self.op.sub
        return body

    async def assert_refused(
        self,
        response: httpx.Response,
        code: str,
        *,
        status: int = 400,
        mentions: str | None = None,
    ) -> dict[str, str]:
        """A certified RP's refusal: ``status``, the stable ``code``, and no session at all.

        ``mentions``: a word the description must contain, naming the check that refused
        (so the test fails if that check is deleted and another one happens to refuse).
        """
        assert response.status_code == status, (response.status_code, response.text)
        body: dict[str, str] = response.json()
        assert body["error"] == code, body
        if mentions is not None:
            assert mentions in body["error_description"], body
        for cookie in response.headers.get_list("set-cookie"):
            assert not cookie.startswith(f"{SESSION_COOKIE}=") or cookie.startswith(
                f'{SESSION_COOKIE}=""'
            ), cookie
        assert SESSION_COOKIE not in self.browser.cookies
        assert self.store.sessions_written() == []
        session = await self.session()
        assert session.status_code == 401
        assert session.json() == {"authenticated": False}
        return body


@pytest.fixture
def op(clock: Clock) -> MisbehavingOP:
    provider = MisbehavingOP()
    provider.clock = clock
    return provider


RPFactory = Callable[..., Awaitable[RP]]


@pytest.fixture(params=FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> str:
    """The web adapter the RP runs on: every conformance test runs on each."""
    name: str = request.param
    return name


@pytest.fixture
async def rp_factory(op: MisbehavingOP, clock: Clock, framework: str) -> AsyncIterator[RPFactory]:
    """Make an RP for ``op``; keyword arguments override its :class:`OIDCConfig`, but
    ``store``: another RP's store (the same app restarted), instead of a new one.

    With a ``client_key``, the provider registers the JWKS the app serves at ``/auth/jwks``.
    """
    made: list[RP] = []

    async def make(*, store: RecordingStore | None = None, **overrides: Any) -> RP:
        values: dict[str, Any] = {
            "issuer": op.issuer,
            "client_id": op.client_id,
            "client_secret": op.client_secret,
            "scopes": ("openid", "profile", "email", "offline_access"),
        }
        values.update(overrides)
        config = make_config(**values)
        made.append(RP(framework, config, op, store or RecordingStore(), clock))
        if config.signing_key is not None:
            jwks = await made[-1].browser.get("/auth/jwks")
            assert jwks.status_code == 200, jwks.text
            op.client_jwks = jwks.json()
        return made[-1]

    yield make
    for rp in reversed(made):  # the last made first: Django's settings are a stack
        await rp.aclose()


@pytest.fixture
async def rp(rp_factory: RPFactory) -> RP:
    return await rp_factory()
