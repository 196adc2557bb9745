"""What a step of the relying party answers, for an adapter to render: plain values only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._errors import OIDCError

__all__ = ["CookieChange", "Outcome"]


@dataclass(frozen=True)
class CookieChange:
    """A cookie for the adapter to set (``value``) or clear (``value`` ``None``)."""

    name: str
    value: str | None
    max_age: int = 0
    #: Sent with cross-site requests too (``SameSite=None; Secure``): the login cookie of a
    #: form_post callback on https.
    cross_site: bool = False


@dataclass(frozen=True)
class Outcome:
    """What the adapter answers: a redirect, a kit page, an error, or a bare status."""

    status: int
    location: str | None = None
    cookies: tuple[CookieChange, ...] = ()
    #: A kit page (``"repost"``, ``"logout"``, ``"denied"``) and its values.
    page: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    #: An error to render (JSON or page, as the adapter decides).
    error: OIDCError | None = None
    #: For machine endpoints (back-channel logout): the JSON error body, not a page.
    machine: bool = False
