"""What every sandbox endpoint shares: settings, keys, state, and the OAuth error shape."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse

from ._op_keys import SigningKeys
from ._op_models import SandboxClient, SandboxUser
from ._op_store import OPStore

__all__ = [
    "NO_STORE",
    "OAuthError",
    "OPConfig",
    "OPContext",
    "json_response",
    "read_form",
    "request_params",
    "single_values",
]

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_FORM_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class OPConfig:
    """The provider's settings; lifetimes in seconds."""

    issuer: str
    access_token_ttl: int
    id_token_ttl: int
    refresh_token_ttl: int
    code_ttl: int
    interaction_ttl: int
    access_token_audience: str
    scopes_supported: tuple[str, ...]
    clock: Callable[[], float]

    def url(self, path: str) -> str:
        """The absolute URL of an endpoint path (``/token`` and so on)."""
        return self.issuer + path

    def now(self) -> int:
        """The injected clock, in whole seconds (JWT NumericDate)."""
        return int(self.clock())

    @property
    def cookie_path(self) -> str:
        """The issuer's path, which scopes the OP session cookie."""
        return urlsplit(self.issuer).path or "/"

    @property
    def https(self) -> bool:
        """Whether the issuer is served over HTTPS (then the cookie is ``Secure``)."""
        return self.issuer.startswith("https://")


@dataclass
class OPContext:
    """The provider's parts, handed to each endpoint."""

    config: OPConfig
    keys: SigningKeys
    store: OPStore
    clients: Mapping[str, SandboxClient]
    users: Mapping[str, SandboxUser]
    grant_counts: Counter[str] = field(default_factory=Counter)

    def user_by_sub(self, sub: str) -> SandboxUser | None:
        """The user with subject ``sub``."""
        return next((u for u in self.users.values() if u.sub == sub), None)


class OAuthError(Exception):
    """An OAuth 2.0 error response (RFC 6749 5.2): ``error`` code and description."""

    def __init__(
        self,
        error: str,
        description: str,
        *,
        status: int = 400,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        """The JSON error body, never cached."""
        body = {"error": self.error, "error_description": self.description}
        return json_response(body, status=self.status, headers=self.headers)


def json_response(
    body: Mapping[str, Any], *, status: int = 200, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A JSON response with ``Cache-Control: no-store`` (tokens and errors alike)."""
    return JSONResponse(dict(body), status_code=status, headers={**NO_STORE, **(headers or {})})


def single_values(items: Iterable[tuple[str, Any]]) -> dict[str, str]:
    """Request parameters as a dict (RFC 6749 3.1).

    Empty parameters count as omitted; repeated or non-text ones are refused.
    """
    values: dict[str, str] = {}
    for name, value in items:
        if value == "":
            continue
        if not isinstance(value, str):
            raise OAuthError("invalid_request", f"parameter {name!r} must be text")
        if name in values:
            raise OAuthError("invalid_request", f"parameter {name!r} is repeated")
        values[name] = value
    return values


async def read_form(request: Request) -> dict[str, str]:
    """The ``application/x-www-form-urlencoded`` body of a POST (RFC 6749 3.2)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != _FORM_TYPE:
        raise OAuthError("invalid_request", f"the request body must be {_FORM_TYPE}")
    form = await request.form()
    return single_values(form.multi_items())


async def request_params(request: Request) -> dict[str, str]:
    """The parameters of a GET (query string) or POST (form body) request."""
    if request.method == "POST":
        return await read_form(request)
    return single_values(request.query_params.multi_items())
