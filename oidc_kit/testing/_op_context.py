"""What every sandbox endpoint shares: settings, keys, state, and the OAuth error shape."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse

from ._op_dpop import DPoPError, DPoPNonces, proof_value, verify_proof
from ._op_keys import SigningKeys
from ._op_models import SandboxClient, SandboxUser
from ._op_replay import ReplayCache
from ._op_store import OPStore

__all__ = [
    "AT_MTLS_ALIAS",
    "JSON_TYPE",
    "MAX_BODY",
    "MAX_FIELDS",
    "NO_STORE",
    "OAuthError",
    "OPConfig",
    "OPContext",
    "content_type",
    "json_response",
    "read_body",
    "read_form",
    "read_json_object",
    "request_params",
    "single_values",
]

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
#: Set in the scope of a request that came to an RFC 8705 alias (``_op_mtls``).
AT_MTLS_ALIAS = "oidc_kit.sandbox.mtls_alias"
_FORM_TYPE = "application/x-www-form-urlencoded"
JSON_TYPE = "application/json"

#: The largest request body the sandbox reads. A pushed authorization request with a client
#: assertion and every parameter is a few KiB; the cap is a web server's usual 1 MiB, so that
#: tests can still send the sandbox oversized values (a deeply nested client assertion).
MAX_BODY = 1024 * 1024

#: The most form fields the sandbox parses (an authorization request has about twenty).
MAX_FIELDS = 100


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
    #: The algorithm of ID tokens, access tokens and logout tokens.
    signing_alg: str = "RS256"
    #: Every authorization request must be pushed (RFC 9126) first.
    require_par: bool = False
    #: How long a pushed request's ``request_uri`` can be used.
    par_ttl: int = 60
    #: Serve token introspection (RFC 7662) at ``/introspect``, named in discovery.
    introspection: bool = False
    #: Mutual TLS (RFC 8705): serve ``mtls_endpoint_aliases`` under ``/mtls``, named in
    #: discovery with the ``tls_client_auth`` methods and certificate-bound tokens.
    mtls: bool = False

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
    #: Introspection requests answered (authenticated ones).
    introspections: int = 0
    #: Set when the token endpoint demands a server nonce in DPoP proofs.
    dpop_nonces: DPoPNonces | None = None
    #: The ``jti`` of every DPoP proof seen at the token and PAR endpoints.
    dpop_replay: ReplayCache = field(init=False)

    def __post_init__(self) -> None:
        self.dpop_replay = ReplayCache(self.config.clock)

    def user_by_sub(self, sub: str) -> SandboxUser | None:
        """The user with subject ``sub``."""
        return next((u for u in self.users.values() if u.sub == sub), None)

    def nonce_header(self) -> dict[str, str]:
        """``DPoP-Nonce``, when the provider demands server nonces."""
        nonces = self.dpop_nonces
        return {"DPoP-Nonce": nonces.current()} if nonces is not None else {}

    def proof_jkt(self, request: Request, path: str) -> str | None:
        """The key thumbprint of the valid DPoP proof of a POST to ``path`` (token, PAR);
        ``None`` without a proof; ``OAuthError`` (with the current nonce) for a bad one."""
        try:
            proof = proof_value(request.headers.items())
            if proof is None:
                return None
            return verify_proof(
                proof,
                "POST",
                # At an RFC 8705 alias (_op_mtls), the URL the client called is the alias's.
                self.config.url(("/mtls" if request.scope.get(AT_MTLS_ALIAS) else "") + path),
                now=self.config.clock(),
                replay=self.dpop_replay,
                nonces=self.dpop_nonces,
            )
        except DPoPError as exc:
            raise OAuthError(exc.error, exc.description, headers=self.nonce_header()) from None


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


def content_type(request: Request) -> str:
    """The request's media type, lower case, without parameters."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_body(request: Request) -> bytes:
    """The request's body, refused (413) once it is over :data:`MAX_BODY` bytes.

    The sandbox is served on a port anyone on the machine can reach: a body is never read
    whole before its size is known, whether the size is declared or the body streams in.
    """
    too_large = OAuthError(
        "invalid_request", f"the request body is over {MAX_BODY} bytes", status=413
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:  # chunked, or a Content-Length that lied
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def read_form(request: Request) -> dict[str, str]:
    """The ``application/x-www-form-urlencoded`` body of a POST (RFC 6749 3.2).

    Parsed here with :func:`urllib.parse.parse_qsl` and a cap on the fields, not by Starlette
    (whose parser needs python-multipart, and would take multipart bodies too).
    """
    if content_type(request) != _FORM_TYPE:
        raise OAuthError("invalid_request", f"the request body must be {_FORM_TYPE}")
    body = await read_body(request)
    try:
        pairs = parse_qsl(
            body.decode("utf-8", "replace"),
            keep_blank_values=True,
            max_num_fields=MAX_FIELDS,
            errors="replace",
        )
    except ValueError:  # parse_qsl's "Max number of fields exceeded"
        raise OAuthError("invalid_request", f"the form has over {MAX_FIELDS} fields") from None
    return single_values(pairs)


class _Pairs(list[tuple[str, Any]]):
    """A JSON object's members in order, duplicates kept (so that they can be refused)."""


async def read_json_object(request: Request) -> dict[str, str]:
    """An ``application/json`` body holding one object of text parameters.

    Not OAuth 2.0: the token request of the ORCA documentation's example. The same rules as a
    form apply: empty members count as omitted, repeated or non-text ones are refused.
    """
    if content_type(request) != JSON_TYPE:
        raise OAuthError("invalid_request", f"the request body must be {JSON_TYPE}")
    try:
        parsed = json.loads(await read_body(request), object_pairs_hook=_Pairs)
    except (ValueError, RecursionError):
        raise OAuthError("invalid_request", "the request body is not valid JSON") from None
    if not isinstance(parsed, _Pairs):
        raise OAuthError("invalid_request", "the request body must be a JSON object")
    return single_values(parsed)


async def request_params(request: Request) -> dict[str, str]:
    """The parameters of a GET (query string) or POST (form body) request."""
    if request.method == "POST":
        return await read_form(request)
    return single_values(request.query_params.multi_items())
