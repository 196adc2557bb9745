"""Rich Authorization Requests (RFC 9396): ``authorization_details`` asked for at login, and
what the provider granted.

A login may ask for authorization details: a JSON array of objects, each with a string
``type`` (RFC 9396 2), for example a payment consent (``{"type": "payment_initiation",
"instructedAmount": {...}, "creditorName": ..., "creditorAccount": {...}}``). They travel
with the other authorization parameters (pushed with PAR, inside the request object with JAR,
else in the URL). RFC 9396 7: the token response carries the details "as granted by the
resource owner", and the provider may have changed them ("the authorization server might
modify the authorization details", e.g. the user consented to less). The kit's rule: what
was granted must be exactly what was requested, in any order (:func:`accepted`); anything
else — fewer, more or altered objects, none at all — refuses the login with
``authorization_details_mismatch`` and no session, because a payment consent that is not the
one the user was shown in the app is not one the app may act on.

The kit keeps them as canonical JSON text (sorted keys, no spaces), in the transaction and in
the session's clear part, so that comparing two sets of details is comparing texts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ._errors import AuthorizationDetailsMismatch, InvalidLoginRequest

__all__ = [
    "MAX_DETAILS_LENGTH",
    "accepted",
    "canonical_details",
    "checked_grant",
    "covers",
    "details_of",
    "parse_details",
    "route_details",
]

#: The longest ``authorization_details`` text accepted at ``/auth/login`` (characters).
MAX_DETAILS_LENGTH = 4096
_MAX_OBJECTS = 20


def parse_details(raw: str) -> str:
    """``/auth/login``'s ``authorization_details``, checked (a JSON array of objects, each
    with a non-empty string ``type``), as canonical JSON; :class:`InvalidLoginRequest` else."""
    if len(raw) > MAX_DETAILS_LENGTH:
        raise InvalidLoginRequest("authorization_details is too long")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidLoginRequest("authorization_details must be JSON") from None
    try:
        return canonical_details(value)
    except ValueError as exc:
        raise InvalidLoginRequest(f"authorization_details {exc}") from None


def canonical_details(value: object) -> str:
    """``value`` checked to be RFC 9396 authorization details, as canonical JSON text (sorted
    keys, no spaces): ``ValueError`` saying what is wrong otherwise."""
    if not isinstance(value, list | tuple) or not value:
        raise ValueError("must be a non-empty JSON array of objects")
    if len(value) > _MAX_OBJECTS:
        raise ValueError(f"may hold at most {_MAX_OBJECTS} objects")
    for item in value:
        if not isinstance(item, Mapping):
            raise ValueError("must hold JSON objects only")
        kind = item.get("type")
        if not isinstance(kind, str) or not kind:
            raise ValueError("objects each need a string type (RFC 9396 2)")
    return json.dumps(list(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def details_of(text: str | None) -> tuple[dict[str, Any], ...]:
    """The objects of canonical details text (none for ``None``)."""
    if text is None:
        return ()
    return tuple(json.loads(text))


def _multiset(text: str | None) -> list[str]:
    """Each object as canonical text, sorted: two sets of details compare in any order."""
    return sorted(json.dumps(d, sort_keys=True, separators=(",", ":")) for d in details_of(text))


def accepted(requested: str, granted: str | None) -> bool:
    """The kit's rule (RFC 9396 7): the grant is exactly what was requested, in any order."""
    return granted is not None and _multiset(requested) == _multiset(granted)


def covers(granted: str | None, required: str) -> bool:
    """Whether a session granted ``granted`` holds every object ``required`` names (a route's
    step-up): each of them, exactly, among the granted ones."""
    have = _multiset(granted)
    return all(want in have for want in _multiset(required))


def checked_grant(requested: str | None, response: Mapping[str, Any]) -> str | None:
    """The token response's ``authorization_details`` when the login asked for some: what
    the session keeps, once :func:`accepted`; :class:`AuthorizationDetailsMismatch`
    otherwise. A login that asked for none keeps none, whatever the response says."""
    if requested is None:
        return None
    raw = response.get("authorization_details")
    if raw is None:
        raise AuthorizationDetailsMismatch(
            "the token response has no authorization_details, though the login asked for some"
        )
    try:
        granted = canonical_details(raw)
    except ValueError as exc:
        raise AuthorizationDetailsMismatch(f"the granted authorization_details {exc}") from None
    if not accepted(requested, granted):
        raise AuthorizationDetailsMismatch(
            "the provider granted other authorization_details than the login asked for"
        )
    return granted


def route_details(details: Sequence[Mapping[str, Any]] | None) -> str | None:
    """A route's required details (``login_required(authorization_details=...)``), checked."""
    if details is None:
        return None
    return canonical_details(list(details))
