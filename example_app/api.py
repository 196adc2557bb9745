"""JSON for scripts: ORCA's answers passed through, called with the logged-in user's token.

``/api/*`` is for code running in the user's browser session (``fetch("/api/accounts")``) or
scripts holding its cookie. Without a usable session the kit answers 401
``{"error": "login_required"}``; when a needed refresh cannot reach the provider, 503
``{"error": "provider_unavailable"}``; when ORCA refuses, its status and JSON body come through
unchanged (see ``orca_error`` in :mod:`example_app.app`).
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from oidc_kit.starlette import login_required

from .deps import deps

__all__ = ["api_routes"]


def _json(body: Mapping[str, object]) -> Response:
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@login_required
async def accounts(request: Request) -> Response:
    """``GET /api/accounts``: ORCA's ``GET /accounts``."""
    d = deps(request)
    return _json(await d.orca.list_accounts(d.auth.httpx_auth(request)))


@login_required
async def account(request: Request) -> Response:
    """``GET /api/accounts/{id}``: ORCA's ``GET /accounts/{id}``."""
    d = deps(request)
    account_id = request.path_params["account_id"]
    return _json(await d.orca.get_account(account_id, d.auth.httpx_auth(request)))


@login_required
async def transactions(request: Request) -> Response:
    """``GET /api/accounts/{id}/transactions``: ORCA's ``GET /accounts/{id}/transactions``."""
    d = deps(request)
    account_id = request.path_params["account_id"]
    return _json(await d.orca.list_transactions(account_id, d.auth.httpx_auth(request)))


@login_required
async def cards(request: Request) -> Response:
    """``GET /api/cards``: ORCA's ``GET /cards``."""
    d = deps(request)
    return _json(await d.orca.list_cards(d.auth.httpx_auth(request)))


@login_required
async def party(request: Request) -> Response:
    """``GET /api/party``: ORCA's ``GET /parties/me``."""
    d = deps(request)
    return _json(await d.orca.get_party(d.auth.httpx_auth(request)))


@login_required
async def token(request: Request) -> Response:
    """``GET /api/token``: whether the user's access token is still active, as the provider's
    token introspection (RFC 7662) says: ``active``, ``scope``, ``sub``, ``client_id``,
    ``exp``... never the token. 502 ``introspection_unsupported`` without the endpoint."""
    answer = await deps(request).auth.introspect(request)
    return _json(answer.as_dict())


def api_routes() -> list[BaseRoute]:
    """The JSON routes, to mount at ``/api``."""
    return [
        Route("/accounts", accounts),
        Route("/accounts/{account_id}", account),
        Route("/accounts/{account_id}/transactions", transactions),
        Route("/cards", cards),
        Route("/party", party),
        Route("/token", token),
    ]
