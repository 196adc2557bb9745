"""Claims a route requires of the session, beyond being logged in and beyond step-up.

``@login_required(claims={"email_verified": True})`` (Starlette) and
``requires_claims({"email_verified": True})`` (FastAPI) take a mapping of claim names to
either a value the claim must equal or a function of the claim's value that says yes or no::

    claims={
        "email_verified": True,                              # exactly true (not 1, not "true")
        "https://portx.io/customer": lambda v: bool(v),      # present and not empty
        "groups": lambda v: isinstance(v, list) and "tellers" in v,
    }

The claims are the session's: the ID token's, merged with userinfo's and what the app's
``on_login`` hook added. A claim that is missing never meets a requirement (its function is
not called). A session that does not meet one gets 403 :class:`InsufficientClaims`: a page for
browsers, JSON for API clients, never a redirect to log in (the same login would give the same
claims: a loop). The session itself stays valid.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ._errors import ConfigurationError, InsufficientClaims

__all__ = ["ClaimsRequirement"]

log = logging.getLogger("oidc_kit")

#: A claim's test: called with the claim's value (only when the claim is present).
ClaimTest = Callable[[Any], bool]


@dataclass(frozen=True)
class ClaimsRequirement:
    """What a route asks of the session's claims: ``(name, value or test)`` pairs."""

    rules: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def for_route(cls, claims: Mapping[str, Any] | None) -> ClaimsRequirement:
        """The ``claims=`` of a route; a :class:`ConfigurationError` when malformed (raised
        where the route is declared, at import time)."""
        if claims is None:
            return cls()
        if not isinstance(claims, Mapping):
            raise ConfigurationError("claims= is a mapping of claim names to values or tests")
        for name, expected in claims.items():
            if not isinstance(name, str) or not name:
                raise ConfigurationError("a required claim's name is a non-empty string")
            if expected is None:
                # Equal to null, or merely present? Ambiguous: say it with a function.
                raise ConfigurationError(
                    f"claims={{{name!r}: None}}: give a value, or a function of the value "
                    "(lambda value: True requires the claim to be present)"
                )
        return cls(tuple(claims.items()))

    @property
    def required(self) -> bool:
        """Whether this asks anything of the claims."""
        return bool(self.rules)

    def unmet(self, claims: Mapping[str, Any]) -> list[str]:
        """The names of the required claims that ``claims`` do not meet, in the route's order."""
        return [name for name, expected in self.rules if not _meets(name, expected, claims)]

    def check(self, claims: Mapping[str, Any], sub: str) -> None:
        """:class:`InsufficientClaims` (403) when ``claims`` do not meet the requirement."""
        unmet = self.unmet(claims)
        if not unmet:
            return
        names = " ".join(unmet)
        # Names only: the values are the user's personal data, and the app's rule.
        log.info("insufficient claims for sub=%s: %s", sub, names)
        noun = "claim" if len(unmet) == 1 else "claims"
        raise InsufficientClaims(
            f"this needs the {noun} {names}, which this account does not meet", expected=unmet
        )


def _meets(name: str, expected: Any, claims: Mapping[str, Any]) -> bool:
    if name not in claims:
        return False
    actual = claims[name]
    if callable(expected):
        try:
            return bool(expected(actual))
        except Exception as exc:  # the provider's value broke the app's test: not met, no 500
            log.warning("the test of claim %s raised %s: not met", name, type(exc).__name__)
            return False
    if isinstance(expected, bool) or isinstance(actual, bool):
        # True == 1 in Python; a claim that is 1 or "true" is not the boolean true asked for.
        return type(actual) is type(expected) and actual == expected
    return bool(actual == expected)
