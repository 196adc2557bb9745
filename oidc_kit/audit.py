"""Audit events, and the logger they go to: ``logging.getLogger("oidc_kit.audit")``.

One :class:`AuditEvent` per security-relevant fact (:data:`EVENTS`); configure a handler with
:class:`AuditJsonFormatter` on this module's logger to write them as JSON lines, or receive them
in ``Hooks.on_audit``. docs/operations.md lists every event and field.

An adapter binds where each request came from with :func:`request_context`.
"""

from ._audit import (
    EVENTS,
    AuditEvent,
    AuditJsonFormatter,
    RequestContext,
    request_context,
    session_handle,
)

__all__ = [
    "EVENTS",
    "AuditEvent",
    "AuditJsonFormatter",
    "RequestContext",
    "request_context",
    "session_handle",
]
