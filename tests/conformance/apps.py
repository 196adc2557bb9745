"""The relying party under test on each web adapter: the same app on Starlette, Flask, Django.

Each app has the kit's routes under ``/auth``, its session step on every request, and two
``login_required`` API routes: ``/api/accounts``, calling the resource server (ORCA) with the
user's token through the adapter's ``httpx.Auth``, and ``/api/token-status``, what
the adapter's ``token_status`` shows about the session's tokens. A builder makes the app for one
configuration, store, provider and clock, and returns the transport the test's browser (an
``httpx.AsyncClient``) reaches it through, and what closes it:

- Starlette: :class:`~oidc_kit.starlette.OIDCAuth`, through ``httpx.ASGITransport``;
- Flask: :class:`~oidc_kit.flask.OIDC`, each request on a worker thread as a WSGI server
  serves it (``tests.flask.conftest.AsyncWSGITransport``);
- Django: ``OIDC_KIT`` and the URLconf ``tests/conformance/django_urls.py`` set with
  ``override_settings``, through Django's ASGI handler (WSGI is covered by tests/sync_adapters).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import flask
import httpx
from django.test import override_settings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from oidc_kit import OIDCConfig
from oidc_kit._sync_kit import SyncKit
from oidc_kit.flask import OIDC
from oidc_kit.flask import login_required as flask_login_required
from oidc_kit.starlette import OIDCAuth
from oidc_kit.starlette import login_required as starlette_login_required
from oidc_kit.stores import SessionStore
from tests.conformance.misbehaving_op import (
    DPoPProof,
    DPoPRefused,
    MisbehavingOP,
    verify_dpop_proof,
)
from tests.conftest import Clock
from tests.django.conftest import transport as django_transport  # (configures Django)
from tests.flask.conftest import AsyncWSGITransport

__all__ = ["API", "DJANGO_API", "FRAMEWORKS", "Built", "ResourceServer", "build"]

API = "https://orca.test/accounts"
#: The adapters every conformance test runs against.
FRAMEWORKS = ("starlette", "flask", "django")


class ResourceServer:
    """The API (ORCA): accepts the access tokens the provider issued, records what it saw.

    A DPoP-bound token (the provider's ``token_jkt``) is accepted only with the ``DPoP``
    scheme and a valid proof of its key with ``ath``; with ``dpop_nonce`` set, the proof must
    carry that nonce (401 ``use_dpop_nonce`` and a ``DPoP-Nonce`` header otherwise).
    """

    def __init__(self, op: MisbehavingOP) -> None:
        self.op = op
        self.seen: list[str] = []
        self.schemes: list[str] = []
        self.proofs: list[DPoPProof] = []
        self.dpop_nonce: str | None = None
        self._jti: set[str] = set()

    def transport(self) -> httpx.MockTransport:
        """For an ``httpx.AsyncClient`` or an ``httpx.Client`` (the handler is sync)."""
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        self.seen.append(token)
        self.schemes.append(scheme)
        if token not in self.op.issued_access_tokens:
            return httpx.Response(401, json={"error": "unauthorized"})
        jkt = self.op.token_jkt.get(token)
        if jkt is None:
            if scheme != "Bearer":
                return httpx.Response(401, json={"error": "unauthorized"})
            return httpx.Response(200, json={"data": [{"id": "acc-1"}]})
        headers = {"DPoP-Nonce": self.dpop_nonce} if self.dpop_nonce else {}
        try:
            if scheme != "DPoP":
                raise DPoPRefused("invalid_token", "a DPoP-bound token without DPoP")
            proof = verify_dpop_proof(
                request,
                endpoint="api",
                htu=API,
                seen_jti=self._jti,
                now=self.op.clock(),
                record=self.proofs,
                access_token=token,
                nonce=self.dpop_nonce,
            )
            if proof.jkt != jkt:
                raise DPoPRefused("invalid_dpop_proof", "not the token's key")
        except DPoPRefused as exc:
            headers["WWW-Authenticate"] = f'DPoP error="{exc.error}"'
            return httpx.Response(401, json={"error": exc.error}, headers=headers)
        return httpx.Response(200, json={"data": [{"id": "acc-1"}]}, headers=headers)


@dataclass(frozen=True, slots=True)
class Built:
    """An app under test: how the browser reaches it, and what closes it (idempotent)."""

    transport: Callable[[], httpx.AsyncBaseTransport]
    close: Callable[[], Awaitable[None]]


def build(
    framework: str,
    config: OIDCConfig,
    store: SessionStore,
    op: MisbehavingOP,
    api: ResourceServer,
    clock: Clock,
) -> Built:
    """The app on ``framework``, with the kit's HTTP client on ``op``'s transport."""
    builders = {"starlette": _starlette, "flask": _flask, "django": _django}
    return builders[framework](config, store, op, api, clock)


def _starlette(
    config: OIDCConfig, store: SessionStore, op: MisbehavingOP, api: ResourceServer, clock: Clock
) -> Built:
    http = httpx.AsyncClient(transport=op.transport())
    kit = OIDCAuth(config, http_client=http, store=store, clock=clock)

    @starlette_login_required
    async def accounts(request: Request) -> Response:
        auth = kit.httpx_auth(request)
        async with httpx.AsyncClient(transport=api.transport(), auth=auth) as client:
            upstream = await client.get(API)
        return JSONResponse(upstream.json(), status_code=upstream.status_code)

    @starlette_login_required
    async def status(request: Request) -> Response:
        return JSONResponse(await kit.token_status(request))

    app = Starlette(
        routes=[
            Mount("/auth", routes=kit.routes),
            Route("/api/accounts", accounts),
            Route("/api/token-status", status),
        ],
        middleware=[kit.middleware],
        exception_handlers=kit.exception_handlers,
    )
    return Built(lambda: httpx.ASGITransport(app=app), http.aclose)


def _flask(
    config: OIDCConfig, store: SessionStore, op: MisbehavingOP, api: ResourceServer, clock: Clock
) -> Built:
    app = flask.Flask(__name__)
    oidc = OIDC(
        app,
        config=config,
        store=store,
        http_client=lambda: httpx.AsyncClient(transport=op.transport()),
        clock=clock,
    )
    kit: SyncKit = app.extensions["oidc_kit"]

    @app.get("/api/accounts")
    @flask_login_required
    def accounts() -> flask.Response:
        with httpx.Client(transport=api.transport(), auth=oidc.httpx_auth()) as client:
            upstream = client.get(API)
        return flask.Response(upstream.content, upstream.status_code, mimetype="application/json")

    @app.get("/api/token-status")
    @flask_login_required
    def status() -> dict[str, Any]:
        return oidc.token_status()

    async def close() -> None:
        kit.close()

    return Built(lambda: AsyncWSGITransport(app), close)


#: The resource server of the Django app (its URLconf's views read it): one Django project per
#: process, so one app at a time.
DJANGO_API: dict[str, ResourceServer] = {}


def _django(
    config: OIDCConfig, store: SessionStore, op: MisbehavingOP, api: ResourceServer, clock: Clock
) -> Built:
    options = {
        "CONFIG": config,
        "STORE": store,
        "HTTP_CLIENT": lambda: httpx.AsyncClient(transport=op.transport()),
        "CLOCK": clock,
    }
    # Enabled until closed; a second app in a test replaces the first (its kit is closed by
    # the setting's change), and they must close in reverse order.
    settings = override_settings(OIDC_KIT=options, ROOT_URLCONF="tests.conformance.django_urls")
    settings.enable()
    DJANGO_API["api"] = api
    closed = False

    async def close() -> None:
        nonlocal closed
        if not closed:
            closed = True
            settings.disable()  # closes the kit (OIDC_KIT changed)

    return Built(lambda: django_transport("asgi"), close)
