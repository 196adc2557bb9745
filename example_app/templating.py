"""Jinja2 templates (autoescaped) and the few filters the pages use to show money and dates.

One date format on every page: ``4 Dec 2026`` (a month alone: ``Dec 2026``; with the time:
``4 Dec 2026, 09:12:00 UTC``, which ``at`` makes of epoch seconds). Machines get ISO 8601: the
templates put it in ``<time datetime="...">`` beside the text.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from .deps import deps

__all__ = [
    "IDLE_WARNING",
    "SIGNED_OUT_COOKIE",
    "content_security_policy",
    "idle_warning",
    "make_templates",
    "render",
]

_TEMPLATES = Path(__file__).parent / "templates"
_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£"}
# Claims that hold a NumericDate (OpenID Connect Core 2 and 5.1), shown as a date too.
_TIME_CLAIMS = frozenset({"exp", "iat", "nbf", "auth_time", "updated_at"})
_YEAR_MONTH = re.compile(r"(\d{4})-(\d{2})")
#: Carries "you are signed out" over the redirect that takes the logout's ``state`` out of the
#: address bar (pages.py, ``home``); the page it lands on shows the notice and deletes it.
SIGNED_OUT_COOKIE = "signed_out"
#: Seconds before the idle timeout that signed-in pages warn (static/idle.js): a minute, as
#: banks' sites do; half the idle timeout when that is shorter.
IDLE_WARNING = 60
#: Why static/idle.js sent the browser to the home page (``/?ended=idle``): the notice to show.
_ENDED = {
    "idle": "You were signed out after a while without activity. Log in again to continue.",
    "expired": "Your session has ended. Log in again to continue.",
}


def make_templates(
    *, app_name: str, sandbox_banner: str | None, auth_prefix: str = "/auth"
) -> Jinja2Templates:
    """The page templates; every page sees ``app_name``, ``auth_prefix`` (where the kit's
    routes are: ``{{ auth_prefix }}/login``), and ``sandbox_banner`` when set."""
    templates = Jinja2Templates(directory=_TEMPLATES)  # autoescapes .html templates
    env = templates.env
    env.globals["app_name"] = app_name
    env.globals["auth_prefix"] = auth_prefix
    env.globals["sandbox_banner"] = sandbox_banner
    env.filters["money"] = money
    env.filters["day"] = day
    env.filters["at"] = at
    env.filters["expires_in"] = expires_in
    env.filters["label"] = label
    env.filters["claim"] = claim_value
    env.tests["negative"] = is_negative
    return templates


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> Response:
    """Render the page ``name``; the template sees ``user`` and whatever ``context`` holds."""
    templates = deps(request).templates
    carried = SIGNED_OUT_COOKIE in request.cookies
    user = request.scope.get("user")
    signed_in = bool(user and user.is_authenticated)
    values = {
        "user": user,
        "nav": None,
        # Right after a logout, on the post-logout landing page (the kit's middleware says so).
        "signed_out": request.scope.get("oidc_signed_out", False) or carried,
        "idle": idle_warning(request) if signed_in else None,
        "ended": None if signed_in else _ENDED.get(request.query_params.get("ended", "")),
        **(context or {}),
    }
    response = templates.TemplateResponse(request, name, values, status_code=status_code)
    if carried:  # shown once
        response.delete_cookie(SIGNED_OUT_COOKIE, httponly=True, samesite="lax")
    # Pages show personal data: no shared cache, no back-button copy after logout.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = content_security_policy(
        deps(request).settings.issuer
    )
    response.headers["X-Frame-Options"] = "DENY"  # for browsers without frame-ancestors
    return response


def idle_warning(request: Request) -> dict[str, float]:
    """What static/idle.js needs to warn before a signed-in user's session ends: the server's
    time now and the session's idle and absolute ends by the same clock (a browser's clock
    may be off), and how long before the idle end to warn."""
    d = deps(request)
    idle, absolute = d.auth.session_ends_at(request)
    lead = min(IDLE_WARNING, d.config.session_idle_timeout // 2)
    return {"now": time.time(), "idle": idle, "absolute": absolute, "lead": lead}


@cache
def content_security_policy(issuer: str) -> str:
    """The pages' policy: scripts, styles and images from this origin only (no inline script
    or style: the countdown is ``static/countdown.js``), never framed (a framed "Log out" is
    one click away from clickjacking), no plugins, no ``<base>``.

    Forms post to this origin only, plus the provider's: the logout form's POST is answered
    with a redirect to the provider's ``end_session_endpoint``, and browsers hold a form's
    redirects to ``form-action`` too. That endpoint is taken to be on the issuer's origin (it
    is at PortX/Auth0, Okta, Entra, Keycloak); if yours is elsewhere, add its origin here.
    """
    parts = urlsplit(issuer)
    provider = f"{parts.scheme}://{parts.netloc}"
    return (
        "default-src 'self'; "
        f"form-action 'self' {provider}; "
        "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )


def _decimal(amount: object) -> Decimal | None:
    try:
        return Decimal(str(amount))
    except InvalidOperation:
        return None


def money(amount: object, currency: str = "") -> str:
    """``"-1234.5", "EUR"`` → ``€1,234.50`` after a true minus sign (U+2212), for display."""
    value = _decimal(amount)
    if value is None:
        return str(amount)
    symbol = _SYMBOLS.get(currency, f"{currency} " if currency else "")
    sign = "−" if value < 0 else ""  # noqa: RUF001 - U+2212, the typographic minus sign
    return f"{sign}{symbol}{abs(value):,.2f}"


def is_negative(amount: object) -> bool:
    """True for a negative amount (shown in red)."""
    value = _decimal(amount)
    return value is not None and value < 0


def day(timestamp: object) -> str:
    """An ISO 8601 date or timestamp (``2025-06-14T09:12:00Z``) as ``14 Jun 2025``; a year and
    month (``2028-09``, a card's expiry) as ``Sep 2028``. The day and the month are joined by a
    no-break space: a narrow column wraps the year onto a line of its own, never the month."""
    text = str(timestamp)
    if month := _YEAR_MONTH.fullmatch(text):
        year, number = int(month[1]), int(month[2])
        return f"{datetime(year, number, 1):%b %Y}" if 1 <= number <= 12 else text
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return text
    return f"{when.day}\u00a0{when:%b %Y}"  # not %-d: Windows has no such format


def at(epoch: float) -> str:
    """Epoch seconds as the day and the time: ``4 Dec 2026, 09:12:00 UTC``."""
    when = datetime.fromtimestamp(epoch, UTC)
    return f"{day(when.isoformat())}, {when:%H:%M:%S} UTC"


def expires_in(seconds: int) -> str:
    """The access token's countdown as a phrase: ``Expires in 42 s``, ``Expires in 4 min``
    (from two minutes on), ``Expired``. static/countdown.js words it the same way."""
    if seconds <= 0:
        return "Expired"
    if seconds < 120:
        return f"Expires in {seconds} s"
    return f"Expires in {(seconds + 30) // 60} min"  # rounded half up, as JavaScript does


def label(value: object) -> str:
    """``credit_card`` → ``Credit card``."""
    return str(value).replace("_", " ").capitalize()


def claim_value(value: object, name: str = "") -> str:
    """A claim for the profile table: strings as they are, other JSON as JSON, times as dates."""
    if name in _TIME_CLAIMS and isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value} ({at(value)})"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
