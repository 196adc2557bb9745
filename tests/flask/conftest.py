"""A Flask app on the kit, logged in to through the sandbox provider, served in process; its
provider, store, API and audit recorder are the Django project's too (tests/django/conftest.py),
and tests/sync_adapters drives both."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import anyio.to_thread
import flask
import httpx
import pytest

from oidc_kit import (
    AuditEvent,
    AuditJsonFormatter,
    Hooks,
    MemoryStore,
    OIDCConfig,
    StoreUnavailable,
)
from oidc_kit._sync_kit import SyncKit
from oidc_kit.flask import OIDC, current_user, login_required
from oidc_kit.testing import SandboxClient, SandboxProvider

APP = "https://app.test"
OP = "https://op.test"
#: The client address the WSGI server reports for the test browser.
CLIENT_IP = "203.0.113.7"


class AsyncWSGITransport(httpx.AsyncBaseTransport):
    """A WSGI app for an ``httpx.AsyncClient`` (``sandbox_login`` drives one): each request
    served on a worker thread, as a WSGI server serves it, not on the test's event loop."""

    def __init__(self, app: Any) -> None:
        self._wsgi = httpx.WSGITransport(app=app, remote_addr=CLIENT_IP)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        sync = httpx.Request(request.method, request.url, headers=request.headers, content=body)
        answer = await anyio.to_thread.run_sync(self._wsgi.handle_request, sync)
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.read())


class FlakyStore(MemoryStore):
    """A memory store that can be taken down."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    async def get(self, key: str) -> bytes | None:
        if self.down:
            raise StoreUnavailable("the session store did not answer")
        return await super().get(key)


class Recorder:
    """The app's ``on_audit`` hook, and the JSON lines of the ``oidc_kit.audit`` logger."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []
        self.stream = io.StringIO()

    async def __call__(self, event: AuditEvent) -> None:
        self.events.append(event)

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    recorder = Recorder()
    handler = logging.StreamHandler(recorder.stream)
    handler.setFormatter(AuditJsonFormatter())
    logger = logging.getLogger("oidc_kit.audit")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield recorder
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
def op() -> SandboxProvider:
    client = SandboxClient(
        "app", "app-secret", (f"{APP}/auth/callback",), post_logout_redirect_uris=(f"{APP}/",)
    )
    return SandboxProvider(OP, [client])


def make_config(**overrides: Any) -> OIDCConfig:
    values: dict[str, Any] = {
        "issuer": OP,
        "client_id": "app",
        "client_secret": "app-secret",
        "base_url": APP,
        "scopes": ("openid", "profile", "email", "offline_access", "accounts:read"),
        "session_secrets": ("flask-test-secret-0123456789abcdef",),
    }
    return OIDCConfig(**{**values, **overrides})


#: A route's RFC 9396 consent (``/pay``): a payment the session's grant must hold.
PAYMENT = {
    "type": "payment_initiation",
    "instructedAmount": {"currency": "EUR", "amount": "5.00"},
    "creditorName": "Merchant A",
    "creditorAccount": {"iban": "DE02100100109307118603"},
}

#: What the test API saw: each request's Authorization header.
Seen = list[str]


def build_app(oidc: OIDC, api: httpx.MockTransport) -> flask.Flask:
    """A small app: a page, JSON routes, an API call with the user's token."""
    app = flask.Flask(__name__)

    @app.get("/")
    @login_required
    def home() -> str:
        return f"hello {current_user.display_name}"

    @app.get("/public")
    def public() -> dict[str, Any]:
        return {"authenticated": current_user.is_authenticated, "sub": current_user.sub}

    @app.get("/api/me")
    @login_required
    def me() -> dict[str, Any]:
        return {"sub": current_user.sub, "scopes": list(current_user.scopes)}

    @app.get("/api/write")
    @login_required(scopes="accounts:write")
    def write() -> dict[str, Any]:
        return {"ok": True}

    @app.get("/mfa")
    @login_required(acr_values="urn:example:mfa")
    def mfa() -> str:
        return "mfa"

    @app.get("/pay")
    @login_required(authorization_details=[PAYMENT])
    def pay() -> str:
        return "pay"

    @app.get("/api/accounts")
    @login_required
    def accounts() -> flask.Response:
        with httpx.Client(transport=api, auth=oidc.httpx_auth()) as client:
            answer = client.get("https://orca.test/accounts")
        return flask.Response(answer.content, answer.status_code, mimetype="application/json")

    return app


@pytest.fixture
def seen() -> Seen:
    return []


@pytest.fixture
def api(seen: Seen) -> httpx.MockTransport:
    """An API refusing the first token it sees (as if revoked), accepting any other."""

    def handle(request: httpx.Request) -> httpx.Response:
        token = request.headers.get("authorization", "")
        seen.append(token)
        if token == seen[0]:
            return httpx.Response(401, json={"error": "unauthorized"})
        return httpx.Response(200, json={"data": [{"id": "acc-1"}]})

    return httpx.MockTransport(handle)


@pytest.fixture
def store() -> FlakyStore:
    return FlakyStore()


@pytest.fixture
def oidc(op: SandboxProvider, store: FlakyStore, recorder: Recorder) -> OIDC:
    return OIDC(
        config=make_config(),
        store=store,
        http_client=lambda: httpx.AsyncClient(transport=httpx.ASGITransport(app=op.app)),
        hooks=Hooks(on_audit=recorder),
    )


@pytest.fixture
def app(oidc: OIDC, api: httpx.MockTransport) -> Iterator[flask.Flask]:
    app = build_app(oidc, api)
    oidc.init_app(app)
    yield app
    kit: SyncKit = app.extensions["oidc_kit"]
    kit.close()
