"""Step-up authentication per route: ``max_age``, ``acr_values`` and ``prompt=login``.

A route protected by ``@login_required(max_age=300)``, ``(acr_values=("urn:portx:acr:mfa",))``
or ``(prompt="login")`` asks more of the session than "logged in". When the session's
authentication (its ``auth_time`` and ``acr`` claims) does not satisfy the route:

- a browser ``GET`` is sent (303) to ``/auth/login?next=…`` with the same requirements, which
  the login passes to the provider and then checks in the new ID token;
- anything else gets 401 :class:`StepUpRequired` (``insufficient_user_authentication``, RFC
  9470) with ``WWW-Authenticate: Bearer error="insufficient_user_authentication", …``.

``prompt="login"`` cannot mean "authenticated during this very request" (that would loop): it
means the user authenticated at the provider at most ``max_age`` seconds ago (by default
:data:`PROMPT_LOGIN_WINDOW`), and the step-up login sends ``prompt=login`` and refuses an ID
token whose ``auth_time`` is older than the moment that login started.

``authorization_details`` (RFC 9396, ``_authorization_details``) make a route's consent a
step-up too: a session whose grant lacks one of the route's objects logs in again asking for
them (``/auth/login?authorization_details=…``), and the new grant must be exactly those.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from ._authorization_details import covers, parse_details, route_details
from ._errors import ConfigurationError, InvalidLoginRequest, StepUpRequired

__all__ = ["MAX_AGE_LIMIT", "PROMPT_LOGIN_WINDOW", "StepUp"]

#: The largest ``max_age`` accepted (seconds): a year.
MAX_AGE_LIMIT = 366 * 24 * 3600
#: How recent an authentication a ``prompt="login"`` route accepts without its own ``max_age``.
PROMPT_LOGIN_WINDOW = 300
_MAX_ACR_VALUES = 10
_MAX_ACR_LENGTH = 200
#: ``max_age``: ASCII digits only (``int()`` also takes ``+5``, `` 5``, ``5_0``, other scripts).
_DIGITS = re.compile(r"[0-9]{1,10}")
#: One ACR value: a URI or a short name. No spaces, quotes, backslashes, controls, non-ASCII.
_ACR = re.compile(r"[A-Za-z0-9._~:/?#@!$&'()*+,;=%-]+")


@dataclass(frozen=True)
class StepUp:
    """What a route asks of the user's authentication beyond being logged in."""

    max_age: int | None = None
    acr_values: tuple[str, ...] = ()
    prompt: Literal["login"] | None = None
    #: RFC 9396 authorization details the session's grant must hold (canonical JSON text).
    authorization_details: str | None = None

    @classmethod
    def for_route(
        cls,
        *,
        max_age: int | None = None,
        acr_values: str | Sequence[str] = (),
        prompt: str | None = None,
        authorization_details: Sequence[Mapping[str, Any]] | None = None,
    ) -> StepUp:
        """The options of ``@login_required(...)``; a :class:`ConfigurationError` if invalid."""
        values = tuple(acr_values.split(" ") if isinstance(acr_values, str) else acr_values)
        try:
            details = route_details(authorization_details)
            return replace(cls._checked(max_age, values, prompt), authorization_details=details)
        except ValueError as exc:
            raise ConfigurationError(f"login_required: authorization_details {exc}") from None
        except InvalidLoginRequest as exc:
            raise ConfigurationError(f"login_required: {exc.description}") from None

    @classmethod
    def from_query(cls, params: Mapping[str, Sequence[str]]) -> StepUp:
        """``/auth/login``'s ``max_age``, ``acr_values``, ``prompt``; 400 when malformed."""
        max_age, acr, prompt = (_once(params, name) for name in ("max_age", "acr_values", "prompt"))
        if max_age is not None and not _DIGITS.fullmatch(max_age):
            raise InvalidLoginRequest("max_age must be a non-negative integer of seconds")
        values = () if acr is None else tuple(acr.split(" "))
        if acr is not None and len(acr) > _MAX_ACR_VALUES * (_MAX_ACR_LENGTH + 1):
            raise InvalidLoginRequest("acr_values is too long")
        step_up = cls._checked(None if max_age is None else int(max_age), values, prompt)
        details = _once(params, "authorization_details")
        if details is None:
            return step_up
        return replace(step_up, authorization_details=parse_details(details))

    @classmethod
    def _checked(cls, max_age: int | None, acr: tuple[str, ...], prompt: str | None) -> StepUp:
        if max_age is not None and (
            isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0
        ):
            raise InvalidLoginRequest("max_age must be a non-negative integer of seconds")
        if max_age is not None and max_age > MAX_AGE_LIMIT:
            raise InvalidLoginRequest(f"max_age must be at most {MAX_AGE_LIMIT} seconds")
        if len(acr) > _MAX_ACR_VALUES:
            raise InvalidLoginRequest(f"at most {_MAX_ACR_VALUES} acr_values")
        if not all(isinstance(v, str) and _ACR.fullmatch(v) for v in acr):
            raise InvalidLoginRequest("acr_values must be URIs or names separated by one space")
        if any(len(v) > _MAX_ACR_LENGTH for v in acr):
            raise InvalidLoginRequest(f"an acr value may have at most {_MAX_ACR_LENGTH} characters")
        if prompt not in (None, "login"):
            raise InvalidLoginRequest("prompt must be 'login' (or absent)")
        return cls(max_age, acr, "login" if prompt else None)

    @property
    def required(self) -> bool:
        """Whether this asks anything beyond a session."""
        return (
            self.max_age is not None
            or bool(self.acr_values)
            or self.prompt is not None
            or self.authorization_details is not None
        )

    @property
    def window(self) -> int | None:
        """How old, in seconds, the session's authentication may be (``None``: any age)."""
        if self.max_age is not None:
            return self.max_age
        return PROMPT_LOGIN_WINDOW if self.prompt == "login" else None

    def satisfied_by(
        self,
        claims: Mapping[str, Any],
        now: float,
        leeway: float,
        granted_details: str | None = None,
    ) -> bool:
        """Whether a session with these ID-token claims (and these granted authorization
        details) meets the route's requirements."""
        if self.authorization_details is not None and not covers(
            granted_details, self.authorization_details
        ):
            return False
        if self.window is not None:
            auth_time = claims.get("auth_time")
            if not isinstance(auth_time, int | float) or isinstance(auth_time, bool):
                return False
            # Written so that NaN fails; a future auth_time (beyond the leeway) fails too.
            if not -leeway <= now - auth_time <= self.window + leeway:
                return False
        return not self.acr_values or claims.get("acr") in self.acr_values

    def login_params(self) -> dict[str, str]:
        """The parameters of the step-up login (and of its authorization request)."""
        params: dict[str, str] = {}
        if self.max_age is not None:
            params["max_age"] = str(self.max_age)
        if self.acr_values:
            params["acr_values"] = " ".join(self.acr_values)
        if self.prompt is not None:
            params["prompt"] = self.prompt
        if self.authorization_details is not None:
            params["authorization_details"] = self.authorization_details
        return params

    def challenge(self, description: str) -> str:
        """The RFC 9470 ``WWW-Authenticate`` value (no quote or backslash can reach it)."""
        parts = [f'Bearer error="{StepUpRequired.code}"', f'error_description="{description}"']
        if self.acr_values:
            parts.append(f'acr_values="{" ".join(self.acr_values)}"')
        if self.window is not None:
            parts.append(f'max_age="{self.window}"')
        return ", ".join(parts)


def _once(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    """A parameter given at most once; empty counts as absent."""
    values = params.get(name, ())
    if len(values) > 1:
        raise InvalidLoginRequest(f"{name} must be given at most once")
    return values[0] if values and values[0] != "" else None
