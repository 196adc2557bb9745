"""A check's outcome and the report of them all; every detail scrubbed and made one line."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote_plus

__all__ = [
    "Check",
    "Report",
    "Status",
    "clean",
    "offered",
    "scrub",
    "secret_forms",
    "verdict",
]

Status = Literal["ok", "warn", "fail", "skip"]
"""A check's outcome; only ``fail`` makes the report (and the command) fail."""

#: Statuses, best first; a check made of several findings takes the worst.
_RANK: tuple[Status, ...] = ("ok", "skip", "warn", "fail")
_MAX_DETAIL = 400


@dataclass(frozen=True)
class Check:
    """One check's outcome: ``name``, ``status`` and a one-line ``detail``."""

    name: str
    status: Status
    detail: str


@dataclass(frozen=True)
class Report:
    """Every check's outcome for one issuer; ``ok`` when none failed."""

    issuer: str
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        """True when no check failed (warnings and skips do not count)."""
        return all(check.status != "fail" for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        """``{"issuer", "ok", "checks": [{"name", "status", "detail"}]}``, for ``--json``."""
        checks = [{"name": c.name, "status": c.status, "detail": c.detail} for c in self.checks]
        return {"issuer": self.issuer, "ok": self.ok, "checks": checks}


def verdict(name: str, findings: Sequence[tuple[Status, str]], ok_detail: str) -> Check:
    """The worst finding's status, every finding in the detail (fails first); else ok."""
    if not findings:
        return Check(name, "ok", ok_detail)
    ordered = sorted(findings, key=lambda f: -_RANK.index(f[0]))
    return Check(name, ordered[0][0], "; ".join(text for _, text in ordered))


def offered(actual: object) -> str:
    """`` (it advertises A, B)`` for a refusal of the kit whose ``actual`` is what the
    provider's metadata lists instead; else nothing."""
    if isinstance(actual, list | tuple):
        return f" (it advertises {', '.join(map(str, actual)) or 'none'})"
    return ""


def secret_forms(client_id: str, secret: str | None) -> list[str]:
    """The secret as it may travel: raw, form-encoded, inside HTTP Basic credentials."""
    if not secret:
        return []
    basic = f"{quote_plus(client_id)}:{quote_plus(secret)}"
    return [secret, quote_plus(secret), base64.b64encode(basic.encode()).decode()]


def scrub(text: str, hidden: Sequence[Any]) -> str:
    """``text`` with every string of ``hidden`` (longest first) replaced by ``[redacted]``."""
    for value in sorted((v for v in hidden if isinstance(v, str) and v), key=len, reverse=True):
        text = text.replace(value, "[redacted]")
    return text


def clean(check: Check, hidden: Sequence[str]) -> Check:
    """The check with a printable one-line detail and nothing of ``hidden`` in it."""
    text = scrub(check.detail, hidden)
    text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    if len(text) > _MAX_DETAIL:
        text = text[: _MAX_DETAIL - 1] + "…"
    return Check(check.name, check.status, text)
