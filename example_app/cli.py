"""``python -m example_app accounts``: the accounts ORCA returns for the app's own credentials.

A server-to-server call, the ORCA documentation's primary method: no user logs in. The app
asks the provider for a token with ``grant_type=client_credentials`` and the scope
``accounts:read`` (``oidc_kit.ClientCredentials``), calls ``GET {ORCA_API_BASE}/accounts`` with
it, and prints the answer as a table.

It is configured like the server: ``OIDC_ISSUER``, ``OIDC_CLIENT_ID``, ``OIDC_CLIENT_SECRET``,
``ORCA_API_BASE``, plus ``OIDC_TOKEN_REQUEST_FORMAT=form|json`` (``json``: the body of the ORCA
documentation's example, for a token endpoint that wants it; ``form``, RFC 6749's, is the
default). With ``OIDC_ISSUER`` unset, the embedded sandbox provider and sandbox ORCA answer in
process, through the same loopback transport as the server's: it works offline.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import Mapping, Sequence
from typing import TextIO, cast

import httpx

from oidc_kit import ClientCredentials, ConfigurationError, OIDCError, TokenRequestFormat

from .app import create_app
from .deps import Deps
from .loopback import LoopbackTransport
from .orca import OrcaClient, OrcaError
from .orca_models import Account

__all__ = [
    "ACCOUNTS_SCOPE",
    "accounts_command",
    "fetch_accounts",
    "format_table",
    "token_request_format",
]

#: The one scope the command asks for: request only what you need.
ACCOUNTS_SCOPE = "accounts:read"

_FORMAT_VARIABLE = "OIDC_TOKEN_REQUEST_FORMAT"
_COLUMNS = (("id", "ID"), ("name", "NAME"), ("type", "TYPE"), ("currency", "CURRENCY"))
_AMOUNTS = (("balance", "BALANCE"), ("available_balance", "AVAILABLE"))


def token_request_format(env: Mapping[str, str]) -> TokenRequestFormat:
    """``OIDC_TOKEN_REQUEST_FORMAT``: ``form`` (default) or ``json``."""
    value = env.get(_FORMAT_VARIABLE, "").strip().lower() or "form"
    if value not in ("form", "json"):
        raise ConfigurationError(f"{_FORMAT_VARIABLE} must be form or json", actual=value)
    return cast(TokenRequestFormat, value)


async def fetch_accounts(environ: Mapping[str, str] | None = None) -> list[Account]:
    """ORCA's ``GET /accounts`` for the app's client, with a client credentials token."""
    env = dict(os.environ if environ is None else environ)
    # The command keeps no sessions: none on disk or in Redis, and no warning about a secret.
    env.update(SESSION_STORE="memory://", SESSION_SECRET=secrets.token_urlsafe(32))
    body_format = token_request_format(env)
    app = create_app(env)
    deps = cast(Deps, app.state.deps)
    transport = LoopbackTransport(deps.settings.base_url, app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, timeout=deps.config.http_timeout) as http,
    ):
        source = ClientCredentials(
            deps.config, scopes=[ACCOUNTS_SCOPE], http_client=http, body_format=body_format
        )
        body = await OrcaClient(deps.settings.orca_api_base, http).list_accounts(source.auth())
    return body["data"]


def format_table(accounts: Sequence[Account]) -> str:
    """The accounts as a plain-text table, amounts right-aligned."""
    if not accounts:
        return "No accounts."
    headers = [title for _, title in (*_COLUMNS, *_AMOUNTS)]
    rows = [[_text(a.get(key)) for key, _ in (*_COLUMNS, *_AMOUNTS)] for a in accounts]
    widths = [max(len(row[i]) for row in (headers, *rows)) for i in range(len(headers))]
    left = len(_COLUMNS)

    def line(cells: list[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in pairs).rstrip()

    return "\n".join(line(row) for row in (headers, *rows))


def accounts_command(
    environ: Mapping[str, str] | None = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run the command: the table on ``out``, an error on ``err``; the exit status."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        accounts = asyncio.run(fetch_accounts(environ))
    except OIDCError as exc:  # no token: configuration, credentials, provider down
        print(f"error: {exc}", file=err)
        return 1
    except OrcaError as exc:
        said = " — ".join(str(exc.body[k]) for k in ("error", "error_description") if k in exc.body)
        print(f"error: ORCA answered HTTP {exc.status}: {said}", file=err)
        return 1
    print(format_table(accounts), file=out)
    return 0


def _text(value: object) -> str:
    return "" if value is None else str(value)
