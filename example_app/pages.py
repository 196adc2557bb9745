"""The HTML pages: home, accounts, one account's transactions, cards, profile.

Each protected page is one ``@login_required`` function: it asks the kit for an ``httpx.Auth``
carrying the user's token and calls ORCA with it. Tokens never reach a template; the profile
shows only what ``auth.token_status`` returns (claims, expiry, scope), never a token.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from oidc_kit import IntrospectionFailed, TokenIntrospection
from oidc_kit.starlette import login_required, same_origin

from .deps import deps
from .orca import OrcaError
from .orca_models import Party
from .templating import SIGNED_OUT_COOKIE, render

__all__ = ["page_routes"]

log = logging.getLogger("example_app")


async def home(request: Request) -> Response:
    """Anyone: a "Log in" button, or the user's name and where to go next.

    Also the landing after logout (``OIDC_POST_LOGOUT_PATH``), where the provider sends the
    browser back with the logout's ``state`` (``/?state=...``). Once the kit has checked it,
    the page moves to its clean address, and says "You are signed out" there.
    """
    if request.scope.get("oidc_signed_out") and request.url.query:
        response = RedirectResponse(request.url.path, status_code=303)
        response.set_cookie(
            SIGNED_OUT_COOKIE,
            "1",
            max_age=60,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        return response
    return render(request, "home.html", {"nav": "home"})


@login_required
async def accounts(request: Request) -> Response:
    """The user's accounts, as ORCA lists them."""
    d = deps(request)
    accounts = (await d.orca.list_accounts(d.auth.httpx_auth(request)))["data"]
    return render(request, "accounts.html", {"nav": "accounts", "accounts": accounts})


@login_required
async def account(request: Request) -> Response:
    """One account and its transactions, newest first."""
    d = deps(request)
    auth = d.auth.httpx_auth(request)
    account_id = request.path_params["account_id"]
    details = (await d.orca.get_account(account_id, auth))["data"]
    transactions = (await d.orca.list_transactions(account_id, auth))["data"]
    context = {"nav": "accounts", "account": details, "transactions": transactions}
    return render(request, "account.html", context)


@login_required
async def cards(request: Request) -> Response:
    """The user's payment cards."""
    d = deps(request)
    cards = (await d.orca.list_cards(d.auth.httpx_auth(request)))["data"]
    return render(request, "cards.html", {"nav": "cards", "cards": cards})


@login_required
async def profile(request: Request) -> Response:
    """Who the provider says the user is, the access token's life, ORCA's party record, and
    where else the user is signed in (each with a "Sign out" button)."""
    d = deps(request)
    # ORCA first: if the token is due, this call refreshes it, and the status read next
    # shows the new one (else the countdown would say "expired" right after a refresh).
    party: Party | None = None
    party_error: str | None = None
    try:
        party = (await d.orca.get_party(d.auth.httpx_auth(request)))["data"]
    except OrcaError as exc:  # shown in its section: the rest of the page is still useful
        party_error = exc.message
    status = await d.auth.token_status(request)
    expires_at = status.get("expires_at")
    introspection: TokenIntrospection | None = None
    try:  # the provider's word on the token, when it has an introspection endpoint
        introspection = await d.auth.introspect(request)
    except IntrospectionFailed as exc:
        if exc.code != "introspection_unsupported":
            log.warning("token introspection failed: %s", exc.code)
    context: dict[str, Any] = {
        "nav": "profile",
        "claims": dict(sorted(request.user.claims.items())),
        "status": status,
        "scopes": str(status.get("scope") or "").split(),
        # Seconds left by the server's clock: the page counts down from this, so a browser
        # whose clock is off still shows the right countdown.
        "remaining": max(0, int(expires_at - time.time())) if expires_at else None,
        "refresh_leeway": d.config.refresh_leeway,
        "introspection": introspection,
        "party": party,
        "party_error": party_error,
        # Every instance's, newest first (the store indexes them by user); never an id.
        "sessions": await d.auth.rp.user_sessions(request.user.session),
    }
    return render(request, "profile.html", context)


@login_required
async def refresh(request: Request) -> Response:
    """``POST /profile/refresh``: refresh the access token now, then back to the profile."""
    if not same_origin(request):  # a form on another site cannot make us refresh
        return render(
            request,
            "error.html",
            {"title": "Cross-site request refused", "message": "Use the button on /profile."},
            status_code=403,
        )
    await deps(request).auth.refresh_now(request)
    return RedirectResponse("/profile", status_code=303)


def page_routes() -> list[BaseRoute]:
    """The pages; all but home need a logged-in user (``@login_required`` above)."""
    return [
        Route("/", home),
        Route("/accounts", accounts),
        Route("/accounts/{account_id}", account),
        Route("/cards", cards),
        Route("/profile", profile),
        Route("/profile/refresh", refresh, methods=["POST"]),
    ]
