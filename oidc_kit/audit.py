"""Audit events, and the logger they go to: ``logging.getLogger("oidc_kit.audit")``.

One :class:`AuditEvent` per security-relevant fact (:data:`EVENTS`); configure a handler with
:class:`AuditJsonFormatter` on this module's logger to write them as JSON lines, or receive them
in ``Hooks.on_audit``. docs/operations.md lists every event and field.
"""

from ._audit import EVENTS, AuditEvent, AuditJsonFormatter, session_handle

__all__ = ["EVENTS", "AuditEvent", "AuditJsonFormatter", "session_handle"]
