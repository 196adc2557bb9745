"""OpenTelemetry: the spans and metrics of logins, refreshes, provider calls and store calls,
recorded into the SDK's in-memory exporters, and never a secret in any attribute.

The API lets a process set its global providers once, so these tests do not: they hand
``_telemetry`` providers of their own (``use_providers``), and give it back the globals after.
That the kit follows the global providers an app sets after importing it is checked in a
subprocess (:func:`test_an_sdk_configured_after_the_kit_is_built_gets_the_spans`); that all of
it is a no-op without OpenTelemetry installed, in tests/test_extras.py.
"""

from __future__ import annotations

import ast
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.applications import Starlette
from starlette.routing import Mount

from oidc_kit import MemoryStore, OIDCConfig, SessionEnded, StoreUnavailable
from oidc_kit import _telemetry as telemetry
from oidc_kit import _telemetry_calls as telemetry_calls
from oidc_kit._instrumented_store import InstrumentedStore, instrument_store, store_kind
from oidc_kit._rfc8414 import read_oauth_metadata
from oidc_kit.starlette import OIDCAuth
from oidc_kit.testing import SandboxClient, SandboxProvider, sandbox_login
from tests.conftest import make_config
from tests.test_extras import run_python

APP, ISSUER = "https://app.test", "https://op.test"
CLIENT_SECRET = "app-secret-0123456789"
SESSION_SECRET = "a-test-secret-of-32-characters!!"
PACKAGE = Path(__file__).resolve().parents[2] / "oidc_kit"

#: The attributes :meth:`Recorded.counted` selects on, by a short name.
ATTRIBUTES = {
    "outcome": "oidc_kit.outcome",
    "provider": "oidc_kit.provider",
    "call": "oidc_kit.call",
    "store": "oidc_kit.store",
    "operation": "oidc_kit.operation",
    "error": "error.type",
}


@dataclass
class Recorded:
    """What the kit recorded: finished spans and collected metrics."""

    spans: InMemorySpanExporter
    reader: InMemoryMetricReader
    _metrics: dict[str, list[tuple[dict[str, Any], Any]]] | None = None

    def finished(self, name: str | None = None) -> list[ReadableSpan]:
        spans = list(self.spans.get_finished_spans())
        return [s for s in spans if name is None or s.name == name]

    def metrics(self) -> dict[str, list[tuple[dict[str, Any], Any]]]:
        """Each metric's points: (attributes, point); collected once per test."""
        if self._metrics is None:
            self._metrics = {}
            data = self.reader.get_metrics_data()
            for resource in data.resource_metrics if data else ():
                for scope in resource.scope_metrics:
                    for metric in scope.metrics:
                        points = self._metrics.setdefault(metric.name, [])
                        points += [(dict(p.attributes or {}), p) for p in metric.data.data_points]
        return self._metrics

    def units(self) -> dict[str, str]:
        data = self.reader.get_metrics_data()
        assert data is not None
        return {
            m.name: m.unit or ""
            for r in data.resource_metrics
            for s in r.scope_metrics
            for m in s.metrics
        }

    def counted(self, name: str, **attributes: Any) -> int:
        """The sum of ``name``'s points (a counter's value, a histogram's count) whose
        attributes include ``attributes`` (``outcome=`` for ``oidc_kit.outcome``...)."""
        wanted = {ATTRIBUTES[k]: v for k, v in attributes.items()}
        total = 0
        for found, point in self.metrics().get(name, []):
            if all(found.get(k) == v for k, v in wanted.items()):
                total += point.count if hasattr(point, "count") else point.value
        return total

    def every_attribute_value(self) -> list[str]:
        """Every value a span or a metric point carries, and every span's name and status."""
        values: list[str] = []
        for span in self.finished():
            values += [span.name, str(span.status.description)]
            values += [str(v) for v in (span.attributes or {}).values()]
            for event in span.events:
                values += [event.name, *(str(v) for v in (event.attributes or {}).values())]
        for points in self.metrics().values():
            values += [str(v) for found, _ in points for v in found.values()]
        return values


@pytest.fixture
def otel() -> Iterator[Recorded]:
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    meter_provider = MeterProvider(metric_readers=[reader])
    telemetry.use_providers(tracer_provider, meter_provider)
    yield Recorded(spans, reader)
    telemetry.use_providers()
    tracer_provider.shutdown()
    meter_provider.shutdown()


@dataclass
class Secrets:
    """Everything that must never appear in telemetry, as the test saw it go by."""

    values: set[str] = field(default_factory=lambda: {CLIENT_SECRET, SESSION_SECRET})

    async def from_request(self, request: httpx.Request) -> None:
        """The kit's requests to the provider: codes, verifiers, refresh tokens, credentials."""
        if "authorization" in request.headers:
            self.values.add(request.headers["authorization"].partition(" ")[2])
        if request.method == "POST":
            for name, found in parse_qs(request.content.decode()).items():
                if name not in (
                    "grant_type",
                    "token_type_hint",
                    "client_id",
                    "scope",
                    "redirect_uri",
                ):
                    self.values.update(found)

    def add(self, *values: str | None) -> None:
        self.values.update(v for v in values if v)


def stack(secrets: Secrets, **config: Any) -> tuple[SandboxProvider, OIDCAuth, Starlette]:
    op = SandboxProvider(ISSUER, [SandboxClient("app", CLIENT_SECRET, (f"{APP}/auth/callback",))])
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=op.app), event_hooks={"request": [secrets.from_request]}
    )
    auth = OIDCAuth(
        OIDCConfig(
            issuer=ISSUER,
            client_id="app",
            client_secret=CLIENT_SECRET,
            base_url=APP,
            scopes=("openid", "profile", "offline_access"),
            session_secrets=(SESSION_SECRET,),
            session_store="memory://",
            **config,
        ),
        http_client=http,
    )
    app = Starlette(
        routes=[Mount("/auth", routes=auth.routes)],
        middleware=[auth.middleware],
        exception_handlers=auth.exception_handlers,
    )
    return op, auth, app


@pytest.fixture
async def browser_and_kit() -> AsyncIterator[tuple[httpx.AsyncClient, SandboxProvider, OIDCAuth]]:
    secrets = Secrets()
    op, auth, app = stack(secrets)
    transport = httpx.ASGITransport(app=app)
    async with auth, httpx.AsyncClient(transport=transport, base_url=APP) as browser:
        browser.secrets = secrets  # type: ignore[attr-defined]
        yield browser, op, auth


async def _log_in_refresh_and_log_out(
    browser: httpx.AsyncClient, op: SandboxProvider, auth: OIDCAuth
) -> Secrets:
    secrets: Secrets = browser.secrets  # type: ignore[attr-defined]
    done = await sandbox_login(browser, op, "alice")
    assert done.status_code == 303
    cookie = browser.cookies[auth.rp.session_cookie]
    session, _ = await auth.rp.load_session(cookie)
    assert session is not None
    source = auth.rp.token_source(session)
    before = await source.tokens()
    after = await source.refreshed(before.access_token)
    assert after.access_token != before.access_token
    secrets.add(session.sid, *browser.cookies.values())
    for tokens in (before, after):
        secrets.add(tokens.access_token, tokens.refresh_token, tokens.id_token)
    secrets.add(*(str(session.claims.get(n)) for n in ("nonce", "sid") if n in session.claims))
    logout = await browser.post("/auth/logout", headers={"Origin": APP})
    assert logout.status_code == 303
    return secrets


# -- a login, a refresh and a logout against the sandbox provider -------------------------------


async def test_provider_calls_refresh_and_store_are_traced_and_measured(
    otel: Recorded, browser_and_kit: tuple[httpx.AsyncClient, SandboxProvider, OIDCAuth]
) -> None:
    await _log_in_refresh_and_log_out(*browser_and_kit)

    names = [s.name for s in otel.finished()]
    for kind in ("discovery", "jwks", "userinfo"):
        assert names.count(f"oidc_kit.provider.{kind}") == 1, names
    assert names.count("oidc_kit.provider.token") == 2  # the code, then the refresh
    assert names.count("oidc_kit.provider.revocation") == 2  # the refresh and access tokens
    for span in otel.finished():
        if span.name.startswith("oidc_kit.provider."):
            attributes = dict(span.attributes or {})
            assert span.kind is SpanKind.CLIENT
            assert attributes["oidc_kit.call"] == span.name.rpartition(".")[2]
            assert attributes["server.address"] == "op.test"
            assert attributes["http.request.method"] in ("GET", "POST")
            assert attributes["http.response.status_code"] == 200
            assert attributes["oidc_kit.outcome"] == "success"

    (refresh,) = otel.finished("oidc_kit.refresh")
    assert dict(refresh.attributes or {}) == {
        "oidc_kit.provider": "default",
        "oidc_kit.outcome": "success",
    }
    # The refresh grant is the refresh span's child, and knows its provider.
    grant = otel.finished("oidc_kit.provider.token")[1]
    assert grant.parent is not None and refresh.context is not None
    assert grant.parent.span_id == refresh.context.span_id
    assert dict(grant.attributes or {})["oidc_kit.provider"] == "default"

    assert otel.counted("oidc_kit.refreshes", outcome="success", provider="default") == 1
    assert otel.counted("oidc_kit.refresh.duration", outcome="success") == 1
    for kind, calls in [("discovery", 1), ("jwks", 1), ("token", 2), ("userinfo", 1)]:
        assert (
            otel.counted("oidc_kit.provider.request.duration", call=kind, outcome="success")
            == calls
        ), kind
    for operation in ("get", "set", "take", "add", "delete_if", "replace"):
        assert otel.counted("oidc_kit.store.duration", store="memory", operation=operation), (
            operation
        )
    assert otel.counted("oidc_kit.store.errors") == 0
    assert (
        otel.units().items()
        >= {
            "oidc_kit.refreshes": "{refresh}",
            "oidc_kit.refresh.duration": "s",
            "oidc_kit.provider.request.duration": "s",
            "oidc_kit.store.duration": "s",
        }.items()
    )


async def test_no_attribute_carries_a_secret_a_cookie_or_a_url(
    otel: Recorded, browser_and_kit: tuple[httpx.AsyncClient, SandboxProvider, OIDCAuth]
) -> None:
    secrets = await _log_in_refresh_and_log_out(*browser_and_kit)
    # The test saw them all go by: tokens (two of each), the code and its verifier, the
    # client's credentials, the session id and the cookies.
    assert len(secrets.values) >= 12

    values = otel.every_attribute_value()
    assert len(values) > 100
    for value in values:
        for secret in secrets.values:
            assert secret not in value, f"a secret in telemetry: {value!r}"
        assert "://" not in value and "?" not in value, f"a URL in telemetry: {value!r}"


async def test_logins_are_traced_and_counted(
    otel: Recorded, browser_and_kit: tuple[httpx.AsyncClient, SandboxProvider, OIDCAuth]
) -> None:
    browser, op, _ = browser_and_kit
    await sandbox_login(browser, op, "alice")
    forged = await browser.get("/auth/callback", params={"state": "forged", "code": "c"})
    assert forged.status_code == 400

    (start,) = otel.finished("oidc_kit.login.start")
    assert dict(start.attributes or {}) == {
        "oidc_kit.provider": "default",
        "oidc_kit.outcome": "success",
    }
    done, failed = otel.finished("oidc_kit.login.callback")
    assert dict(done.attributes or {}) == {
        "oidc_kit.provider": "default",
        "oidc_kit.outcome": "success",
    }
    assert dict(failed.attributes or {})["error.type"] == "invalid_state"
    assert failed.status.status_code is StatusCode.ERROR
    # The code exchange happens within the callback's span.
    token = otel.finished("oidc_kit.provider.token")[0]
    assert token.parent is not None and done.context is not None
    assert token.parent.span_id == done.context.span_id
    assert otel.counted("oidc_kit.logins", outcome="success", provider="default") == 1
    assert otel.counted("oidc_kit.logins", outcome="failure", error="invalid_state") == 1
    assert otel.counted("oidc_kit.logins") == 2
    assert otel.units()["oidc_kit.logins"] == "{login}"


async def test_a_pushed_authorization_request_is_a_span(otel: Recorded) -> None:
    _, auth, app = stack(Secrets(), par=True)
    transport = httpx.ASGITransport(app=app)
    async with auth, httpx.AsyncClient(transport=transport, base_url=APP) as browser:
        assert (await browser.get("/auth/login")).status_code == 303

    (par,) = otel.finished("oidc_kit.provider.par")
    attributes = dict(par.attributes or {})
    assert (attributes["http.request.method"], attributes["http.response.status_code"]) == (
        "POST",
        201,
    )
    assert otel.counted("oidc_kit.provider.request.duration", call="par") == 1


async def test_a_refresh_the_provider_refuses_is_counted_as_a_failure(
    otel: Recorded, browser_and_kit: tuple[httpx.AsyncClient, SandboxProvider, OIDCAuth]
) -> None:
    browser, op, auth = browser_and_kit
    await sandbox_login(browser, op, "alice")
    session, _ = await auth.rp.load_session(browser.cookies[auth.rp.session_cookie])
    assert session is not None
    source = auth.rp.token_source(session)
    tokens = await source.tokens()
    assert tokens.refresh_token is not None
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=op.app)) as at_op:
        form = {"token": tokens.refresh_token, "token_type_hint": "refresh_token"}
        revoked = await at_op.post(f"{ISSUER}/revoke", data=form, auth=("app", CLIENT_SECRET))
        assert revoked.status_code == 200
    with pytest.raises(SessionEnded):
        await source.refreshed(tokens.access_token)

    (refresh,) = otel.finished("oidc_kit.refresh")
    assert dict(refresh.attributes or {})["oidc_kit.outcome"] == "failure"
    assert refresh.status.status_code is StatusCode.ERROR
    assert otel.counted("oidc_kit.refreshes", outcome="failure") == 1
    assert otel.counted("oidc_kit.refreshes", outcome="success") == 0
    token = otel.finished("oidc_kit.provider.token")[-1]
    assert dict(token.attributes or {})["oidc_kit.outcome"] == "refused"  # a 400
    assert otel.counted("oidc_kit.provider.request.duration", outcome="refused") == 1


# -- provider calls that fail --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "outcome", "status", "error"),
    [
        (httpx.ConnectError("refused"), "error", None, "provider_unavailable"),
        (httpx.Response(503), "error", 503, "provider_unavailable"),
        (httpx.Response(404), "refused", 404, None),
    ],
)
async def test_a_failed_provider_call(
    otel: Recorded, answer: Any, outcome: str, status: int | None, error: str | None
) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if isinstance(answer, Exception):
            raise answer
        return answer

    kit = OIDCAuth(
        make_config(),
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handle)),
        store=MemoryStore(),
    )
    async with kit:
        with pytest.raises(Exception) as raised:
            await kit.rp.start_login({}, {})
    assert getattr(raised.value, "code", None) in ("provider_unavailable", "invalid_discovery")

    (span,) = otel.finished("oidc_kit.provider.discovery")
    attributes = dict(span.attributes or {})
    assert attributes["oidc_kit.outcome"] == outcome
    assert attributes.get("http.response.status_code") == status
    assert attributes.get("error.type") == error
    assert (span.status.status_code is StatusCode.ERROR) == (error is not None)
    assert (
        otel.counted("oidc_kit.provider.request.duration", call="discovery", outcome=outcome) == 1
    )


async def test_rfc8414_metadata_is_a_span_of_its_own(otel: Recorded) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"issuer": make_config().issuer})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as http:
        read = await read_oauth_metadata(http, make_config(), 5)
    assert read.problem is None
    (span,) = otel.finished("oidc_kit.provider.rfc8414")
    assert dict(span.attributes or {})["oidc_kit.call"] == "rfc8414"


def test_every_provider_call_names_its_kind() -> None:
    """Each call of ``fetch`` and ``post_authenticated`` in the kit names a known kind (a
    forgotten one would be recorded as ``other``)."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            # The kit's own: a bare fetch(...) (imported from _http), post_authenticated
            # anywhere; a database driver's conn.fetch(...) is no provider call.
            name = getattr(node.func, "id", None)
            if name != "fetch":
                name = getattr(node.func, "attr", name)
                if name != "post_authenticated":
                    continue
            kinds = [k.value for k in node.keywords if k.arg == "kind"]
            found.append((path.name, name))
            assert kinds, f"{path.name}: a {name}() call without kind="
            kind = kinds[0]
            if isinstance(kind, ast.Constant):
                assert kind.value in telemetry.PROVIDER_CALLS - {"other"}, (path.name, kind.value)
            else:  # post_authenticated passes its own on
                assert isinstance(kind, ast.Name) and kind.id == "kind", path.name
    assert len(found) >= 9, found


# -- logins and refreshes recorded by hand --------------------------------------------------------


def test_a_login_ended_by_an_exception_is_counted_once(otel: Recorded) -> None:
    with pytest.raises(StoreUnavailable), telemetry.login_span("start", provider="bank"):
        raise StoreUnavailable("down")
    with telemetry.login_span("callback"):
        telemetry.set_provider("bank")
        telemetry.record_login("failure", "invalid_state")
    with pytest.raises(StoreUnavailable), telemetry.login_span("callback", provider="bank"):
        telemetry.record_login("failure", "invalid_id_token")
        raise StoreUnavailable("down")

    assert otel.counted("oidc_kit.logins", provider="bank") == 3
    assert otel.counted("oidc_kit.logins", error="session_store_unavailable") == 1
    assert otel.counted("oidc_kit.logins", error="invalid_state") == 1
    assert otel.counted("oidc_kit.logins", error="invalid_id_token") == 1
    start, *callbacks = otel.finished()
    assert dict(start.attributes or {})["error.type"] == "session_store_unavailable"
    assert [dict(s.attributes or {})["error.type"] for s in callbacks] == [
        "invalid_state",
        "invalid_id_token",
    ]


def test_record_refresh_within_a_refresh_names_its_reason_without_counting_twice(
    otel: Recorded,
) -> None:
    with pytest.raises(SessionEnded), telemetry.refresh_span("bank"):
        telemetry.record_refresh("failure", "bank", error_code="invalid_grant")
        raise SessionEnded("the provider refused the refresh token")
    telemetry.record_refresh("success", "other-bank", 0.5)  # not within a refresh: counted

    assert otel.counted("oidc_kit.refreshes") == 2
    assert otel.counted("oidc_kit.refreshes", error="invalid_grant") == 1
    assert otel.counted("oidc_kit.refresh.duration", provider="other-bank") == 1
    (span,) = otel.finished("oidc_kit.refresh")
    assert dict(span.attributes or {})["error.type"] == "invalid_grant"


def test_an_error_code_is_never_arbitrary_text(otel: Recorded) -> None:
    telemetry.record_login("failure", "https://evil.test/?token=abc")
    assert otel.counted("oidc_kit.logins", error="other") == 1


# -- the session store ---------------------------------------------------------------------------


class BrokenStore(MemoryStore):
    """A store whose reads fail, as a Redis store's do when the server goes away."""

    async def get(self, key: str) -> bytes | None:
        raise StoreUnavailable("the session store did not answer")


async def test_a_store_that_raises_counts_errors(otel: Recorded) -> None:
    kit = OIDCAuth(make_config(), http_client=httpx.AsyncClient(), store=BrokenStore())
    async with kit:
        cookie = kit.rp.session_cookie_change("some-session-id").value
        assert cookie is not None
        with pytest.raises(StoreUnavailable):
            await kit.rp.load_session(cookie)

    assert (
        otel.counted(
            "oidc_kit.store.errors",
            store="broken",
            operation="get",
            error="session_store_unavailable",
        )
        == 1
    )
    assert otel.counted("oidc_kit.store.duration", operation="get") == 1
    assert "some-session-id" not in otel.every_attribute_value()


async def test_the_instrumented_store_is_the_store_it_wraps(otel: Recorded) -> None:
    class OldStore(MemoryStore):
        """A store written before ``ping``."""

        def __getattribute__(self, name: str) -> Any:
            if name == "ping":
                raise AttributeError(name)
            return super().__getattribute__(name)

    store = instrument_store(MemoryStore(max_entries=7))
    assert isinstance(store, InstrumentedStore)
    assert instrument_store(store) is store  # never twice
    assert store.max_entries == 7  # type: ignore[attr-defined]  # passed through
    await store.set("k", b"v", 10)
    assert await store.get("k") == b"v"
    await store.ping()
    assert getattr(instrument_store(OldStore()), "ping", None) is None
    assert [store_kind(s) for s in (MemoryStore(), OldStore(), store)] == [
        "memory",
        "old",
        "instrumented",
    ]
    assert otel.counted("oidc_kit.store.duration", operation="ping") == 1


def test_without_opentelemetry_the_store_is_not_wrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telemetry._state, "loaded", True)
    monkeypatch.setattr(telemetry._state, "instruments", None)
    store = MemoryStore()
    assert instrument_store(store) is store


# -- the global providers --------------------------------------------------------------------------


def test_an_sdk_configured_after_the_kit_is_built_gets_the_spans() -> None:
    """An app may set up its SDK after importing the kit and building its ``OIDCAuth``: the
    API's global providers are looked up through proxies that follow it. Store reads, the
    wrapped store's own until then, are timed from the first store write after it."""
    done = run_python(
        """
        import asyncio, httpx
        from oidc_kit import MemoryStore, OIDCConfig
        from oidc_kit.starlette import OIDCAuth

        def handle(request):
            return httpx.Response(503)

        config = OIDCConfig(
            issuer="https://op.test", client_id="c", client_secret="s", base_url="https://a.test",
            session_secrets=("x" * 32,),
        )
        http = httpx.AsyncClient(transport=httpx.MockTransport(handle))
        kit = OIDCAuth(config, http_client=http, store=MemoryStore())
        from oidc_kit import _telemetry
        _telemetry._RECHECK_SECONDS = 0.0  # an app's first write comes more than 1 s later

        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(spans))
        trace.set_tracer_provider(provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

        async def main():
            cookie = kit.rp.session_cookie_change("x").value
            await kit.rp.load_session(cookie)  # not timed: no store write since the SDK came
            try:
                await kit.rp.start_login({}, {})
            except Exception as exc:
                print(exc.code)
            await kit.rp._sessions.store.set("k", b"v", 10)  # a write, as a login's
            await kit.rp.load_session(cookie)
            await kit.rp.load_session(cookie)

        asyncio.run(main())
        print(*sorted(s.name for s in spans.get_finished_spans()))
        data = reader.get_metrics_data().resource_metrics
        print(*sorted(m.name for r in data for s in r.scope_metrics for m in s.metrics))
        print(*sorted(
            f"{p.attributes['oidc_kit.operation']}={p.count}"
            for r in data for s in r.scope_metrics for m in s.metrics
            if m.name == "oidc_kit.store.duration" for p in m.data.data_points
        ))
        """
    )
    assert done.returncode == 0, done.stderr
    code, spans, metrics, store_calls = (line.split() for line in done.stdout.splitlines())
    assert code == ["provider_unavailable"]
    assert "oidc_kit.provider.discovery" in spans
    assert {"oidc_kit.provider.request.duration", "oidc_kit.store.duration"} <= set(metrics)
    assert store_calls == ["get=2", "set=1"]


# -- the docs --------------------------------------------------------------------------------------

OPERATIONS = PACKAGE.parent / "docs" / "operations.md"


def _otel_section() -> str:
    text = OPERATIONS.read_text(encoding="utf-8")
    return text[text.index("## OpenTelemetry") :].split("\n## ", 1)[0]


def test_the_operations_page_lists_every_span_metric_and_attribute() -> None:
    section = _otel_section()
    named = set(re.findall(r"`(oidc_kit\.[\w.]+)`", section))
    assert named == telemetry.NAMES - {"oidc_kit.provider.other"}


async def test_the_operations_page_gives_each_metric_its_unit(otel: Recorded) -> None:
    telemetry.record_login("success", None, "p")
    telemetry.record_refresh("success", "p", 0.1)
    telemetry_calls.record_store("memory", "get", 0.001, StoreUnavailable("down"))
    with telemetry_calls.provider_call("token", "POST", "https://op.test/token") as call:
        call.answered(200)
    rows = re.findall(r"^\| `(oidc_kit\.[\w.]+)` \| \w+ \| `([^`]+)` \|", _otel_section(), re.M)
    assert dict(rows) == otel.units()
    assert len(rows) == len(telemetry.METRICS)


def test_with_the_api_alone_store_calls_are_not_timed() -> None:
    """The API without an SDK (FastAPI installs it) records into a no-op: the store calls
    skip timing them, and reads (one per request) are the wrapped store's own ``get``; a
    test's own providers always record."""
    from oidc_kit import _telemetry

    _telemetry.use_providers()  # back to the globals: no SDK configured in this process
    assert _telemetry.metrics_recording() is False
    inner = MemoryStore()
    store = instrument_store(inner)
    assert isinstance(store, InstrumentedStore) and store.get == inner.get
    _telemetry.use_providers(meter_provider=MeterProvider())
    try:
        assert instrument_store(MemoryStore()).get != inner.get  # recording: reads timed
    finally:
        _telemetry.use_providers()
