"""Extra authorization request parameters: per provider (settings) and per login (login URL).

Real providers need more than the kit's own parameters: Auth0's ``audience`` to mint an access
token for an API, RFC 8707 ``resource``, ``ui_locales``, ``prompt=consent``, ``claims``...

- Per provider, :class:`~oidc_kit.OIDCConfig` has ``audience``, ``resource`` and
  ``auth_params`` (any other parameter). They go with every authorization request, pushed
  (PAR) or not; ``resource`` also goes with the code and refresh grants (RFC 8707 2.2).
- Per login, ``/auth/login`` passes on the parameters of :data:`LOGIN_URL_PARAMS` (hints about
  the user and the page, never about the security of the login), each checked: a bad value is
  400 ``invalid_login_request``. Anything else in the login URL is ignored.

Parameters the kit sets itself (:data:`KIT_OWNED`) can be set by neither; nor can those with a
setting or mechanism of their own (:data:`ELSEWHERE`), which check what they ask for.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from ._errors import ConfigurationError, InvalidLoginRequest

__all__ = [
    "ELSEWHERE",
    "KIT_OWNED",
    "LOGIN_URL_PARAMS",
    "AuthParams",
    "check_auth_params",
    "check_resource",
    "checked_login_params",
    "login_params_from_query",
]

#: Set by the kit on every authorization request: what makes the login safe (state, nonce,
#: PKCE), where it returns, and how. ``request`` is the request object the kit signs with
#: ``signed_requests`` (JAR). ``dpop_jkt`` is the session's DPoP key.
KIT_OWNED = frozenset(
    {
        "response_type",
        "client_id",
        "redirect_uri",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "response_mode",
        "request_uri",
        "request",
        "dpop_jkt",
    }
)
#: Parameters with a setting or mechanism of their own, which also checks the answer.
ELSEWHERE = {
    "scope": "scopes (OIDC_SCOPES)",
    "audience": "audience (OIDC_AUDIENCE)",
    "resource": "resource (OIDC_RESOURCE)",
    "max_age": "step-up (login_required(max_age=...), /auth/login?max_age=...)",
    "acr_values": "step-up (login_required(acr_values=...), /auth/login?acr_values=...)",
    # The grant is checked against what the login asked for (RFC 9396): a configured extra
    # would be sent on every login with no such check.
    "authorization_details": (
        "RAR (login_required(authorization_details=...), /auth/login?authorization_details=...)"
    ),
}

_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
#: BCP 47 language tags separated by single spaces (OpenID Connect Core 3.1.2.1).
_LOCALES = re.compile(r"[A-Za-z0-9-]{1,35}(?: [A-Za-z0-9-]{1,35}){0,9}")
_DISPLAY = frozenset({"page", "popup", "touch", "wap"})


def _printable(value: str) -> bool:
    # No control characters (CR, LF, NUL, DEL, C1), no line or paragraph separators.
    return value.isprintable()


def _login_hint(value: str) -> bool:
    return len(value) <= 256 and _printable(value)


def _locales(value: str) -> bool:
    return len(value) <= 200 and _LOCALES.fullmatch(value) is not None


#: What ``/auth/login?…`` may pass on to the provider, with each value's rule
#: (``prompt``, ``max_age`` and ``acr_values`` are step-up's: :mod:`oidc_kit._step_up`).
LOGIN_URL_PARAMS: Mapping[str, Callable[[str], bool]] = {
    "login_hint": _login_hint,
    "ui_locales": _locales,
    "claims_locales": _locales,
    "display": _DISPLAY.__contains__,
}


class AuthParams(Mapping[str, str]):
    """An immutable, hashable ``{name: value}`` of extra authorization parameters (a frozen
    settings object must be hashable); ``str()`` is the query string form."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        pairs = list(items.items() if isinstance(items, Mapping) else items)
        names = [name for name, _ in pairs]
        if len(set(names)) != len(names):
            raise ConfigurationError("auth_params names a parameter twice")
        self._items: tuple[tuple[str, str], ...] = tuple(pairs)

    def __getitem__(self, name: str) -> str:
        for key, value in self._items:
            if key == name:
                return value
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self) == dict(other)

    def __repr__(self) -> str:
        return f"AuthParams({dict(self._items)!r})"

    def __str__(self) -> str:
        return urlencode(self._items)


def check_auth_params(params: Any) -> AuthParams:
    """``params`` (a mapping, or pairs) as :class:`AuthParams`; a :class:`ConfigurationError`
    naming every parameter the kit owns or sets elsewhere, or any malformed one."""
    if isinstance(params, str):  # the variable's form: a query string
        params = parse_qsl(params, keep_blank_values=True)
    try:
        frozen = params if isinstance(params, AuthParams) else AuthParams(params)
    except (TypeError, ValueError):
        raise ConfigurationError("auth_params must map parameter names to values") from None
    owned = sorted(name for name in frozen if name in KIT_OWNED)
    elsewhere = sorted(name for name in frozen if name in ELSEWHERE)
    if owned or elsewhere:
        parts = []
        if owned:
            parts.append(f"{', '.join(owned)}: the kit sets them itself")
        parts += [f"{name}: use {ELSEWHERE[name]}" for name in elsewhere]
        raise ConfigurationError(
            "auth_params (OIDC_AUTH_PARAMS) cannot set " + "; ".join(parts),
            actual=owned + elsewhere,
        )
    for name, value in frozen.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigurationError(f"auth_params: {name!r} is not a parameter name")
        if not isinstance(value, str) or not _printable(value):
            raise ConfigurationError(f"auth_params: {name} must be a string, no control characters")
    return frozen


def check_resource(values: Sequence[str]) -> tuple[str, ...]:
    """RFC 8707 2: each resource indicator is an absolute URI without a fragment."""
    if isinstance(values, str):
        values = values.split()
    for value in values:
        parts = urlsplit(value) if isinstance(value, str) else None
        if (
            parts is None
            or not parts.scheme
            or "#" in value
            or not value.isprintable()
            or " " in value
        ):
            raise ConfigurationError(
                "each resource (OIDC_RESOURCE) must be an absolute URI without a fragment",
                actual=value,
            )
    return tuple(values)


def login_params_from_query(query: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """The :data:`LOGIN_URL_PARAMS` among ``/auth/login``'s query parameters, checked (400
    ``invalid_login_request``: repeated, too long, control characters, not the expected
    shape); any other parameter is ignored. An empty value counts as absent."""
    picked: dict[str, str] = {}
    for name in LOGIN_URL_PARAMS:
        values = query.get(name, ())
        if len(values) > 1:
            raise InvalidLoginRequest(f"{name} must be given at most once")
        if values and values[0] != "":
            picked[name] = values[0]
    return checked_login_params(picked)


def checked_login_params(params: Mapping[str, str]) -> dict[str, str]:
    """``params`` if each is one of :data:`LOGIN_URL_PARAMS` with a valid value; else
    :class:`InvalidLoginRequest` (the value is never echoed)."""
    for name, value in params.items():
        rule = LOGIN_URL_PARAMS.get(name)
        if rule is None:
            raise InvalidLoginRequest(f"{name} cannot be passed through the login URL")
        if not isinstance(value, str) or not rule(value):
            raise InvalidLoginRequest(f"{name} is malformed or too long")
    return dict(params)
