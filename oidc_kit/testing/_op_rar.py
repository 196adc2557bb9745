"""Rich Authorization Requests (RFC 9396) at the sandbox provider: the ``authorization_details``
an authorization request (plain, pushed, or in a request object) may carry.

Two types are known (``authorization_details_types_supported``): ``payment_initiation`` (a
payment consent: ``instructedAmount`` ``{currency, amount}``, ``creditorName``,
``creditorAccount`` ``{iban}``, as the RFC's examples) and ``account_information``. Anything
else is ``invalid_authorization_details`` (RFC 9396 5). The login page shows them for consent;
the grant, its tokens and the token responses carry them as asked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ._op_context import OAuthError

__all__ = ["DETAIL_TYPES", "authorization_details"]

#: The ``type`` values the sandbox knows.
DETAIL_TYPES = ("payment_initiation", "account_information")
_MAX_LENGTH = 4096
_CURRENCY = re.compile(r"[A-Z]{3}")
_AMOUNT = re.compile(r"[0-9]{1,12}(\.[0-9]{1,2})?")
_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{10,30}")


def _invalid(description: str) -> OAuthError:
    return OAuthError("invalid_authorization_details", description)


def authorization_details(raw: str | None) -> tuple[dict[str, Any], ...]:
    """The request's ``authorization_details`` (none when absent), checked."""
    if raw is None:
        return ()
    if len(raw) > _MAX_LENGTH:
        raise _invalid("authorization_details is too long")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise _invalid("authorization_details must be a JSON array") from None
    if not isinstance(value, list) or not value:
        raise _invalid("authorization_details must be a non-empty JSON array of objects")
    for item in value:
        _check(item)
    return tuple(value)


def _check(item: object) -> None:
    if not isinstance(item, dict) or not isinstance(item.get("type"), str):
        raise _invalid("each authorization detail is an object with a string type")
    if item["type"] not in DETAIL_TYPES:
        raise _invalid(f"unknown authorization details type {item['type']!r}")
    if item["type"] == "payment_initiation":
        _check_payment(item)


def _check_payment(item: Mapping[str, Any]) -> None:
    amount = item.get("instructedAmount")
    account = item.get("creditorAccount")
    if not (
        isinstance(amount, Mapping)
        and _CURRENCY.fullmatch(str(amount.get("currency", "")))
        and _AMOUNT.fullmatch(str(amount.get("amount", "")))
    ):
        raise _invalid("a payment needs instructedAmount {currency, amount}")
    name = item.get("creditorName")
    if not isinstance(name, str) or not 0 < len(name) <= 140:
        raise _invalid("a payment needs a creditorName")
    if not (isinstance(account, Mapping) and _IBAN.fullmatch(str(account.get("iban", "")))):
        raise _invalid("a payment needs creditorAccount {iban}")
