"""``/payments/confirm``: confirm a payment with a rich authorization request (RFC 9396).

The form asks for an amount and a creditor. Submitted (a GET: the confirmation happens at the
provider, not here), it becomes one ``payment_initiation`` authorization detail; a session
whose grant does not hold exactly that payment is sent to log in again asking the provider
for it (``/auth/login?authorization_details=...``: a step-up), where the user sees and
approves the payment. Back here, the page shows what the provider granted, which the kit
has checked is exactly what was asked for.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from oidc_kit.starlette import login_required

from .deps import deps
from .templating import render

__all__ = ["payment_routes"]

_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{10,30}")
#: What the form starts with: a sandbox merchant.
EXAMPLE = {"amount": "25.00", "creditor": "Sandbox Coffee Ltd", "iban": "GB33BUKB20201555555555"}


def payment_detail(amount: str, creditor: str, iban: str) -> dict[str, Any] | None:
    """The ``payment_initiation`` detail for the form's values, or ``None`` if they are not
    a positive amount in euros with two decimals at most, a name, and an IBAN."""
    try:
        value = Decimal(amount)
    except InvalidOperation:
        return None
    iban = iban.replace(" ", "").upper()
    if not (0 < value < 1_000_000 and value == value.quantize(Decimal("0.01"))):
        return None
    if not (0 < len(creditor.strip()) <= 70 and _IBAN.fullmatch(iban)):
        return None
    return {
        "type": "payment_initiation",
        "instructedAmount": {"currency": "EUR", "amount": f"{value:.2f}"},
        "creditorName": creditor.strip(),
        "creditorAccount": {"iban": iban},
    }


@login_required
async def confirm(request: Request) -> Response:
    """The form; or, with its values, the granted payment (after a step-up if needed)."""
    query = request.query_params
    values = {name: query.get(name, EXAMPLE[name]) for name in EXAMPLE}
    if "amount" not in query:
        return render(request, "payments.html", {"nav": "payments", "form": values})
    detail = payment_detail(**values)
    if detail is None:
        context = {"nav": "payments", "form": values, "invalid": True}
        return render(request, "payments.html", context, status_code=400)
    granted = [dict(item) for item in request.user.authorization_details]
    if detail not in granted:
        # A step-up: log in again asking the provider for this payment, then come back.
        prefix = deps(request).config.route_prefix
        back = f"{request.url.path}?{request.url.query}"
        login = {"next": back, "authorization_details": json.dumps([detail])}
        return RedirectResponse(f"{prefix}/login?{urlencode(login)}", status_code=303)
    return render(request, "payments.html", {"nav": "payments", "granted": granted})


def payment_routes() -> list[BaseRoute]:
    """The payment page (it needs a logged-in user)."""
    return [Route("/payments/confirm", confirm)]
