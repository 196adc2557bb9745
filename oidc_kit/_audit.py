"""Audit events: one structured record per security-relevant fact, with a stable name.

A bank's app must answer "who logged in, from where, and when did that session end". Each fact
(:data:`EVENTS`) becomes one :class:`AuditEvent`, logged on the ``oidc_kit.audit`` logger (INFO,
the event in the record's ``audit`` attribute: :class:`AuditJsonFormatter` writes it as one JSON
line) and handed to the app's ``Hooks.on_audit``.

Where the request came from is not the core's to read: each adapter binds a
:class:`RequestContext` for the request it serves (:func:`request_context`), and every event
emitted while it runs carries it. An event never holds a token, secret, code, cookie or
session id: the session appears as its handle (:func:`session_handle`), which cannot be turned
back into the id.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "EVENTS",
    "AuditEvent",
    "AuditHook",
    "AuditJsonFormatter",
    "Auditor",
    "RequestContext",
    "coarse_ip",
    "context_of",
    "request_context",
    "session_handle",
    "summarize_user_agent",
]

audit_log = logging.getLogger("oidc_kit.audit")
log = logging.getLogger("oidc_kit")

#: Every event's name. Stable: dashboards and alerts are built on them.
EVENTS = (
    "login.succeeded",
    "login.failed",
    "logout",
    "session.expired",
    "session.revoked",
    "refresh.succeeded",
    "refresh.failed",
    "backchannel_logout",
    "step_up.required",
)


@dataclass(frozen=True)
class RequestContext:
    """Where the request an event happens in came from, as the adapter read it."""

    #: The client's address as the server reports it (the ASGI ``client``): the server
    #: (uvicorn's ``--forwarded-allow-ips``) decides which proxies' ``X-Forwarded-For`` to
    #: believe; the kit never reads that header itself.
    client_ip: str | None = None
    #: A short summary of the ``User-Agent`` (:func:`summarize_user_agent`).
    user_agent: str | None = None
    #: The request's ``X-Request-ID`` when it is a plain token, else one made up.
    request_id: str | None = None


#: A request bound to the events emitted while it is served: ``[read, request, context]``,
#: ``context`` being ``read(request)`` once the first event has needed it (most requests emit
#: none, and the hot path should not pay for reading headers). A list rather than a class:
#: one is made per request, and a list is made in a fraction of an instance's time. Once the
#: request has ended, ``request`` is ``None`` (:func:`unbind_request`): one slot, so that a
#: reader on another thread (the sync bridge's core loop) sees the request or nothing.
_Bound = list[Any]

_current: ContextVar[_Bound | None] = ContextVar("oidc_kit_request", default=None)


def bind_request(read: Callable[[Any], RequestContext], request: Any) -> Token[_Bound | None]:
    """Bind ``request`` to every event emitted until :func:`unbind_request`: ``read(request)``
    makes its :class:`RequestContext`, called at most once, when the first event needs it
    (so every event of a request carries the same made-up request id). ``request`` is never
    ``None``: ``None`` there means the request has ended.
    (The middleware's hot path: no closure, no generator and no object of a class per
    request.)"""
    return _current.set([read, request, None])


def unbind_request(token: Token[_Bound | None]) -> None:
    """End what :func:`bind_request` began, and let go of the request.

    Copies of the context taken while the request was served outlive it: the keep-alive
    timer uvicorn arms as the answer is sent holds one for seconds, a task the request
    started holds one until it ends. Each would keep the request (its scope, its user, its
    session) alive, and the collector would meet those objects again and again: under load,
    ~75 young and 0.5 full collections a second, each full one a ~25 ms pause
    (docs/performance.md). What such a copy still sees is the context if it was read
    already, else none."""
    bound = _current.get()
    _current.reset(token)
    if bound is not None:
        bound[1] = None


@contextmanager
def request_context(read: Callable[[], RequestContext]) -> Iterator[None]:
    """Bind the request being served to every event emitted until the block ends: an adapter
    wraps each request in this, ``read()`` making its :class:`RequestContext` (called at most
    once, when the first event needs it)."""
    token = bind_request(_call, read)  # ``read`` is the request: let go of it at the end
    try:
        yield
    finally:
        unbind_request(token)


def _call(read: Callable[[], RequestContext]) -> RequestContext:
    return read()


#: An ``X-Request-ID`` the audit log repeats: a plain token, as proxies and tracers make them.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def context_of(client_ip: str | None, user_agent: str, request_id: str) -> RequestContext:
    """A request's :class:`RequestContext` from what any adapter reads of it: the client
    address its server reports (the server decides which proxies to believe), its
    ``User-Agent`` (summarized) and its ``X-Request-ID`` (kept when it is a plain token, else
    one is made up, so that a request's events can be told together)."""
    given = request_id if _REQUEST_ID.fullmatch(request_id) else secrets.token_hex(8)
    return RequestContext(
        client_ip=client_ip, user_agent=summarize_user_agent(user_agent), request_id=given
    )


def current_request() -> RequestContext | None:
    """The context of the request being served, if an adapter bound one."""
    bound = _current.get()
    if bound is None:
        return None
    if bound[2] is None:
        request = bound[1]  # read once: unbind_request may clear it meanwhile
        if request is None:  # the request has ended
            return None
        bound[2] = bound[0](request)
    context: RequestContext = bound[2]
    return context


@dataclass(frozen=True)
class AuditEvent:
    """One security-relevant fact. ``outcome`` is ``success`` or ``failure``; ``error`` the
    kit's stable error code of a failure; ``reason`` why a session ended (``idle``,
    ``absolute``, ``user``, ``everywhere``...)."""

    event: str
    #: UTC, ISO 8601 with milliseconds.
    time: str
    outcome: str
    sub: str | None = None
    provider: str | None = None
    #: The session's handle, never its id.
    session: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    error: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The event's fields, unset ones left out."""
        return {name: value for name, value in asdict(self).items() if value is not None}


AuditHook = Callable[[AuditEvent], Awaitable[None]]


class Auditor:
    """Emits audit events: to the ``oidc_kit.audit`` logger and the app's ``on_audit`` hook."""

    def __init__(
        self, hook: AuditHook | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._hook = hook
        self._clock = clock
        #: The configured providers' names by issuer, for events that know only a session's.
        self.provider_names: dict[str, str] = {}

    async def emit(
        self,
        event: str,
        *,
        outcome: str = "success",
        sub: str | None = None,
        provider: str | None = None,
        iss: str | None = None,
        sid: str | None = None,
        error: str | None = None,
        reason: str | None = None,
    ) -> AuditEvent:
        """Record ``event`` (one of :data:`EVENTS`) in the current request's context. The
        provider is ``provider``, else the one whose issuer ``iss`` is; ``sid`` appears as
        its handle."""
        if event not in EVENTS:  # a name dashboards do not know would ship unnoticed
            raise ValueError(f"unknown audit event {event!r}")
        context = current_request() or RequestContext()
        if provider is None and iss is not None:
            provider = self.provider_names.get(iss)
        record = AuditEvent(
            event=event,
            time=_iso(self._clock()),
            outcome=outcome,
            sub=sub,
            provider=provider,
            session=session_handle(sid) if sid is not None else None,
            client_ip=context.client_ip,
            user_agent=context.user_agent,
            request_id=context.request_id,
            error=error,
            reason=reason,
        )
        audit_log.info(_line(record), extra={"audit": record.as_dict()})
        if self._hook is not None:
            try:
                await self._hook(record)
            except Exception as exc:  # the app's code: its failure must not change the fact
                log.warning(
                    "the on_audit hook raised %s for %s; ignored", type(exc).__name__, event
                )
        return record


def _line(record: AuditEvent) -> str:
    """The event as one readable log line (the JSON formatter writes the fields instead)."""
    fields = " ".join(f"{k}={v}" for k, v in record.as_dict().items() if k not in ("event", "time"))
    return f"{record.event} {fields}"


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


class AuditJsonFormatter(logging.Formatter):
    """One JSON object per line: an audit event's fields (``time``, ``event``, ``outcome``,
    ``sub``...), or, for another record, its time, level, logger and message."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        data: dict[str, Any] | None = getattr(record, "audit", None)
        if data is None:
            data = {
                "time": _iso(record.created),
                "level": record.levelname,
                "logger": record.name,
                "message": record.getMessage(),
            }
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def session_handle(sid: str) -> str:
    """A session's public name: stable, the same on every instance, and no way back to the
    id (a one-way hash of 256 random bits), so it may appear in logs, pages and URLs."""
    digest = hashlib.sha256(b"oidc_kit session handle\x00" + sid.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


_BROWSERS = (
    ("Edge", re.compile(r"Edg(?:e|A|iOS)?/(\d+)")),
    ("Firefox", re.compile(r"(?:Firefox|FxiOS)/(\d+)")),
    ("Chrome", re.compile(r"(?:Chrome|CriOS)/(\d+)")),
    ("Safari", re.compile(r"Version/(\d+)(?:\.\d+)* (?:Mobile/\S+ )?Safari/")),
    ("curl", re.compile(r"^curl/(\d+)")),
    ("httpx", re.compile(r"^python-httpx/(\d+)")),
)
#: How much of a ``User-Agent`` is read: real ones are under 300 characters.
_USER_AGENT_READ = 512
_SYSTEMS = (
    ("iOS", re.compile(r"iPhone|iPad")),
    ("Android", re.compile(r"Android")),
    ("Windows", re.compile(r"Windows")),
    ("macOS", re.compile(r"Mac OS X|Macintosh")),
    ("Linux", re.compile(r"Linux|X11")),
)


def summarize_user_agent(user_agent: str | None) -> str | None:
    """``Chrome 131 on Linux``: the browser, its major version and the system, nothing more
    (a full ``User-Agent`` is long, spoofable text and a fingerprint)."""
    if not user_agent:
        return None
    # Anyone sends any User-Agent: only its start is read, so no header makes this slow.
    user_agent = user_agent[:_USER_AGENT_READ]
    browser = next(
        (f"{name} {m.group(1)}" for name, rx in _BROWSERS if (m := rx.search(user_agent))),
        "other",
    )
    system = next((name for name, rx in _SYSTEMS if rx.search(user_agent)), None)
    return f"{browser} on {system}" if system else browser


def coarse_ip(ip: str | None) -> str | None:
    """The network, not the host: ``203.0.113.x`` (IPv4 /24), ``2001:db8:1::/48`` (IPv6),
    for showing a user where their sessions are without keeping their exact address."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if address.version == 4:
        return ".".join(str(address).split(".")[:3]) + ".x"
    return str(ipaddress.ip_network(f"{address}/48", strict=False))
