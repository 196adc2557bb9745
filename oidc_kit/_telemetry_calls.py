"""Spans and metrics of the calls the kit makes: HTTP exchanges with the provider
(:func:`provider_call`, around every ``_http.fetch``) and session store calls
(:func:`record_store`, from ``_instrumented_store.py``). No-ops without OpenTelemetry
(``_telemetry.py``). Only the provider's host is recorded, never a URL, a key or a value.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from ._telemetry import (
    CALL,
    ERROR_TYPE,
    OPERATION,
    OUTCOME,
    PROVIDER,
    STORE,
    current_provider,
    error_code,
    instruments,
)

__all__ = ["ProviderCall", "provider_call", "record_store"]


class ProviderCall:
    """One HTTP exchange in progress: :meth:`answered` with the status code, once known."""

    __slots__ = ("status_code",)

    def __init__(self) -> None:
        self.status_code: int | None = None

    def answered(self, status_code: int) -> None:
        self.status_code = status_code


@contextmanager
def provider_call(kind: str, method: str, url: str) -> Iterator[ProviderCall]:
    """The span ``oidc_kit.provider.{kind}`` (a client span) around one HTTP exchange with
    the provider, and its time in ``oidc_kit.provider.request.duration``. Its outcome:
    ``success`` (answered below 400), ``refused`` (answered 4xx), ``error`` (no usable
    answer: unreachable, past the deadline, 5xx, too large; ``error.type`` says which). Only
    the host of ``url`` is recorded, never the URL."""
    call = ProviderCall()
    otel = instruments()
    if otel is None:
        yield call
        return
    attributes = _server(url) | {CALL: kind, "http.request.method": method}
    provider = current_provider()
    if provider:
        attributes[PROVIDER] = provider
    started = time.perf_counter()
    with otel.tracer.start_as_current_span(
        f"oidc_kit.provider.{kind}",
        kind=otel.client_kind,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        outcome, error = None, None
        try:
            yield call
        except Exception as exc:
            outcome, error = "error", error_code(exc)
            span.set_status(otel.status(otel.error_status, error))
            raise
        finally:
            ended: dict[str, str | int] = {OUTCOME: outcome or _answered(call.status_code)}
            if error is not None:
                ended[ERROR_TYPE] = error
            if call.status_code is not None:
                ended["http.response.status_code"] = call.status_code
            span.set_attributes(ended)
            otel.provider_duration.record(time.perf_counter() - started, attributes | ended)


def _answered(status_code: int | None) -> str:
    if status_code is None:
        return "cancelled"  # neither answered nor failed: the caller went away
    return "success" if status_code < 400 else "refused"


def _server(url: str) -> dict[str, str | int]:
    """``server.address`` and ``server.port`` of ``url`` (not its credentials, path or
    query); nothing for a URL that does not parse."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return {}
    found: dict[str, str | int] = {"server.address": host} if host else {}
    if host and port is not None:
        found["server.port"] = port
    return found


def record_store(
    store: str, operation: str, seconds: float, error: BaseException | None = None
) -> None:
    """One session store call (``store``: its kind, ``operation``: the method) took
    ``seconds``; ``error``: what it raised, counted in ``oidc_kit.store.errors``."""
    otel = instruments()
    if otel is None:
        return
    attributes = {STORE: store, OPERATION: operation}
    otel.store_duration.record(seconds, attributes)
    if error is not None:
        otel.store_errors.add(1, attributes | {ERROR_TYPE: error_code(error)})
