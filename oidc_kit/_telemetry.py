"""Spans and metrics through the OpenTelemetry API, when it is installed (``oidc_kit[otel]``).

The kit needs ``opentelemetry-api`` only, and only as an extra: the app picks the SDK, the
exporters and the sampling. The tracer and the meter come from the API's global providers on
first use (never at ``import oidc_kit``), and the API hands out proxies that start recording
once the app sets its providers: an app that configures its SDK after importing the kit, or
after building its ``OIDCAuth``, still gets real spans. Without the package every function
here is a no-op (and the store is not even wrapped: ``_instrumented_store.py``).

This module holds the instruments and the protocol's steps: a login step (:func:`login_span`,
:func:`record_login`) and a refresh (:func:`refresh_span`). The calls the kit makes, to the
provider and to the store, are timed by ``_telemetry_calls.py``; the provider's name reaches
them through a context variable that the steps set (:func:`current_provider`).
docs/operations.md lists every span, metric and attribute. Attributes are names (the
provider's, the call's, the store's), outcomes, stable error codes, HTTP methods and status
codes, and the provider's host: never a token, code, secret, cookie, session id or URL.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.metrics import Counter, Histogram, MeterProvider
    from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, TracerProvider

__all__ = [
    "METRICS",
    "NAMES",
    "PROVIDER_CALLS",
    "SPANS",
    "Instruments",
    "current_provider",
    "enabled",
    "error_code",
    "instruments",
    "login_span",
    "record_login",
    "record_refresh",
    "refresh_span",
    "set_provider",
    "use_providers",
]

log = logging.getLogger("oidc_kit")

#: The kinds of provider call, each its own span name ``oidc_kit.provider.{kind}``.
PROVIDER_CALLS = frozenset(
    {
        "discovery",
        "rfc8414",
        "jwks",
        "token",
        "userinfo",
        "revocation",
        "introspection",
        "par",
        "other",
    }
)

# Attribute names: the kit's own under ``oidc_kit.``, OpenTelemetry's semantic conventions
# for the rest.
PROVIDER = "oidc_kit.provider"
OUTCOME = "oidc_kit.outcome"
CALL = "oidc_kit.call"
STORE = "oidc_kit.store"
OPERATION = "oidc_kit.operation"
ERROR_TYPE = "error.type"

#: Every span's name.
SPANS = frozenset(
    {"oidc_kit.login.start", "oidc_kit.login.callback", "oidc_kit.refresh"}
    | {f"oidc_kit.provider.{kind}" for kind in PROVIDER_CALLS}
)
#: Every metric's name.
METRICS = frozenset(
    {
        "oidc_kit.logins",
        "oidc_kit.refreshes",
        "oidc_kit.refresh.duration",
        "oidc_kit.provider.request.duration",
        "oidc_kit.store.duration",
        "oidc_kit.store.errors",
    }
)
#: Every name the kit records under ``oidc_kit.`` (names of telemetry, not of Python objects:
#: the docs name them, tests/test_public_api.py knows them apart).
NAMES = SPANS | METRICS | {PROVIDER, OUTCOME, CALL, STORE, OPERATION}

#: Latency buckets (seconds): a provider call or a refresh takes milliseconds to a few
#: seconds (its deadline); a store call microseconds (memory) to milliseconds (Redis).
_CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
_STORE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0)

#: What an ``error.type`` may look like: the kit's codes, exception class names. Anything
#: else (it would be a bug) is recorded as ``other``, never as is: an attribute must not
#: carry arbitrary text, nor give a metric unbounded cardinality.
_CODE = re.compile(r"[A-Za-z0-9_.]{1,64}")


@dataclass(frozen=True)
class Instruments:
    """The tracer and the instruments, made once from the providers."""

    tracer: Tracer
    logins: Counter
    refreshes: Counter
    refresh_duration: Histogram
    provider_duration: Histogram
    store_duration: Histogram
    store_errors: Counter
    status: type[Status]
    error_status: StatusCode
    client_kind: SpanKind


class _State:
    loaded = False
    instruments: Instruments | None = None
    #: Providers given by :func:`use_providers` (tests), which always record.
    own_meter = False
    #: Whether an SDK records metrics, and when that was last found not to be so.
    recording = False
    checked_at = -1.0


_state = _State()


def _build(
    tracer_provider: TracerProvider | None = None, meter_provider: MeterProvider | None = None
) -> Instruments | None:
    try:
        from opentelemetry import metrics, trace
    except ImportError as exc:
        if (getattr(exc, "name", None) or "").partition(".")[0] != "opentelemetry":
            log.warning("OpenTelemetry could not be imported (%s): no telemetry", exc)
        return None
    version = _version()
    meter = metrics.get_meter("oidc_kit", version, meter_provider)
    return Instruments(
        tracer=trace.get_tracer("oidc_kit", version, tracer_provider),
        logins=meter.create_counter(
            "oidc_kit.logins", "{login}", "Logins that ended, by outcome and error code"
        ),
        refreshes=meter.create_counter(
            "oidc_kit.refreshes", "{refresh}", "Token refreshes, by outcome"
        ),
        refresh_duration=meter.create_histogram(
            "oidc_kit.refresh.duration",
            "s",
            "How long refreshes took",
            explicit_bucket_boundaries_advisory=_CALL_BUCKETS,
        ),
        provider_duration=meter.create_histogram(
            "oidc_kit.provider.request.duration",
            "s",
            "How long HTTP calls to the provider took",
            explicit_bucket_boundaries_advisory=_CALL_BUCKETS,
        ),
        store_duration=meter.create_histogram(
            "oidc_kit.store.duration",
            "s",
            "How long session store calls took",
            explicit_bucket_boundaries_advisory=_STORE_BUCKETS,
        ),
        store_errors=meter.create_counter(
            "oidc_kit.store.errors", "{error}", "Session store calls that raised"
        ),
        status=trace.Status,
        error_status=trace.StatusCode.ERROR,
        client_kind=trace.SpanKind.CLIENT,
    )


def _version() -> str:
    """The installed kit's version, for the instrumentation scope (from the distribution:
    importing the package's ``__version__`` here would make an import cycle)."""
    try:
        return metadata.version("oidc_kit")
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return ""


def instruments() -> Instruments | None:
    """The tracer and instruments; ``None`` without OpenTelemetry (made on first use)."""
    if not _state.loaded:
        _state.instruments = _build()
        _state.loaded = True
    return _state.instruments


def enabled() -> bool:
    """Whether the OpenTelemetry API is installed (then the kit records, into whatever SDK
    the app configures, or into the API's no-op until it does)."""
    return instruments() is not None


def use_providers(
    tracer_provider: TracerProvider | None = None, meter_provider: MeterProvider | None = None
) -> None:
    """Record into these providers rather than the global ones (tests: the API lets a
    process set its global providers only once); both ``None``: back to the globals."""
    if tracer_provider is None and meter_provider is None:
        _state.loaded = False
    else:
        _state.instruments, _state.loaded = _build(tracer_provider, meter_provider), True
    _state.own_meter = meter_provider is not None
    _state.recording, _state.checked_at = False, -1.0


#: How often, at most, the kit looks again whether an app has configured an SDK since.
_RECHECK_SECONDS = 1.0


def metrics_recording() -> bool:
    """Whether metrics recorded now reach an SDK: the API alone (installed with FastAPI, say)
    records into a no-op, and a store call should not pay for timing it. Once an SDK is
    configured this stays true; until then it is looked at again at most once a second
    (an app may configure its SDK after building the kit)."""
    if _state.recording or _state.own_meter:
        return True
    now = time.monotonic()
    if now - _state.checked_at < _RECHECK_SECONDS:
        return False
    _state.checked_at = now
    if instruments() is None:
        return False
    from opentelemetry import metrics

    provider = type(metrics.get_meter_provider()).__name__
    _state.recording = provider not in ("_ProxyMeterProvider", "NoOpMeterProvider")
    return _state.recording


def error_code(exc: BaseException) -> str:
    """The ``error.type`` of an exception: the kit's stable code, else the class name."""
    code = getattr(exc, "code", None)
    return _label(code if isinstance(code, str) else type(exc).__name__)


def _label(value: str) -> str:
    return value if _CODE.fullmatch(value) else "other"


# -- logins and refreshes ----------------------------------------------------------------------

#: The provider of the login or refresh in progress: its provider calls are labelled with it.
_provider: ContextVar[str | None] = ContextVar("oidc_kit_telemetry_provider", default=None)


def current_provider() -> str | None:
    """The name of the provider whose login step or refresh is in progress, if any."""
    return _provider.get()


@dataclass
class _Step:
    """A login step or a refresh: its span (``None``: recorded without one) and its end."""

    what: str
    provider: str | None
    span: Span | None = None
    #: ``success``, ``failure`` or ``cancelled``; ``None``: not known yet.
    outcome: str | None = None
    error: str | None = None
    counted: bool = False

    def ended(self, outcome: str, error: str | None) -> None:
        self.outcome, self.error = outcome, _label(error) if error else None

    def attributes(self) -> dict[str, str]:
        found = {OUTCOME: self.outcome or "success"}
        if self.provider:
            found[PROVIDER] = self.provider
        if self.error:
            found[ERROR_TYPE] = self.error
        return found


_step: ContextVar[_Step | None] = ContextVar("oidc_kit_telemetry_step", default=None)


def _current(what: str) -> _Step | None:
    step = _step.get()
    return step if step is not None and step.what == what else None


@contextmanager
def _step_span(otel: Instruments, what: str, name: str, provider: str | None) -> Iterator[_Step]:
    """A span for a login step or a refresh, current while the block runs (the provider
    calls in it are its children); how it ended becomes its attributes and status."""
    with otel.tracer.start_as_current_span(
        name, record_exception=False, set_status_on_exception=False
    ) as span:
        step = _Step(what, provider, span)
        tokens = (_step.set(step), _provider.set(provider))
        try:
            yield step
        except Exception as exc:
            if step.outcome != "failure":  # a reason noted within is the more precise
                step.ended("failure", error_code(exc))
            raise
        except BaseException:
            step.ended("cancelled", None)  # the task was cancelled: no outcome to count
            raise
        finally:
            _step.reset(tokens[0])
            _provider.reset(tokens[1])
            span.set_attributes(step.attributes())
            if step.outcome == "failure":
                span.set_status(otel.status(otel.error_status, step.error))


@contextmanager
def login_span(step: str, provider: str | None = None) -> Iterator[None]:
    """The span ``oidc_kit.login.{step}`` (``start``, ``callback``) around a login step;
    ``provider``: its name, when known at the start (else :func:`set_provider`).

    The login's outcome is recorded by :func:`record_login` within the block. A login ended
    by an exception escaping it (the provider unreachable at the start) is counted here, as
    a failure with the exception's code, unless :func:`record_login` counted it already.
    """
    otel = instruments()
    if otel is None:
        yield
        return
    with _step_span(otel, "login", f"oidc_kit.login.{step}", provider) as current:
        try:
            yield
        except Exception as exc:
            if not current.counted:
                current.ended("failure", error_code(exc))
                otel.logins.add(1, current.attributes())
            raise


def set_provider(name: str) -> None:
    """Name the provider of the login step in progress, once known (a callback learns it
    from its transaction): on its span, on its metrics and on the provider calls after it.
    Outside :func:`login_span` and :func:`refresh_span` it does nothing."""
    step = _step.get()
    if step is None:
        return
    _provider.set(name)  # reset when the step ends
    step.provider = name
    if step.span is not None:
        step.span.set_attribute(PROVIDER, name)


def record_login(outcome: str, error_code: str | None = None, provider: str | None = None) -> None:
    """Count one login that ended (``outcome``: ``success`` or ``failure``, with the kit's
    ``error_code``) in ``oidc_kit.logins``; within :func:`login_span`, it is also the step's
    outcome. ``provider`` defaults to the step's."""
    otel = instruments()
    if otel is None:
        return
    step = _current("login") or _Step("login", None)
    step.ended(outcome, error_code)
    step.provider = provider or step.provider
    step.counted = True
    otel.logins.add(1, step.attributes())


@contextmanager
def refresh_span(provider: str) -> Iterator[None]:
    """The span ``oidc_kit.refresh`` around one refresh by this process, counted in
    ``oidc_kit.refreshes`` and timed in ``oidc_kit.refresh.duration`` when it ends:
    ``success`` when the block returns, ``failure`` with the exception's code when it raises
    (or with the reason :func:`record_refresh` noted within it)."""
    otel = instruments()
    if otel is None:
        yield
        return
    started = time.perf_counter()
    current: _Step | None = None
    try:
        with _step_span(otel, "refresh", "oidc_kit.refresh", provider) as current:
            yield
    finally:
        # After the span's own exit, which settled the outcome.
        if current is not None and current.outcome != "cancelled":
            _count_refresh(otel, current, time.perf_counter() - started)


def _count_refresh(otel: Instruments, step: _Step, seconds: float | None) -> None:
    attributes = step.attributes()
    otel.refreshes.add(1, attributes)
    if seconds is not None:
        otel.refresh_duration.record(seconds, attributes)


def record_refresh(
    outcome: str,
    provider: str | None = None,
    seconds: float | None = None,
    *,
    error_code: str | None = None,
) -> None:
    """How a refresh ended. Within :func:`refresh_span` (every refresh the kit sends) it
    only notes ``outcome`` and ``error_code`` (a more precise reason than the exception's),
    which the span records when it ends: nothing is counted twice. Elsewhere it counts the
    refresh now, and its ``seconds`` when given."""
    otel = instruments()
    if otel is None:
        return
    current = _current("refresh")
    step = current or _Step("refresh", provider)
    step.ended(outcome, error_code)
    step.provider = provider or step.provider
    if current is None:
        _count_refresh(otel, step, seconds)
