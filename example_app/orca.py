"""A small typed client of the PortX ORCA API, for calls made on behalf of the logged-in user.

Every method takes the ``httpx.Auth`` that carries the user's token
(``auth.httpx_auth(request)`` from the kit): the auth attaches the bearer token, refreshes it
when due, and on a 401 refreshes once and retries once. What it cannot fix arrives here as a
non-2xx answer and becomes an :class:`OrcaError`, which the pages render in words and the
``/api/*`` routes pass through as ORCA sent it.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import httpx

__all__ = ["OrcaClient", "OrcaError"]

JSON = dict[str, Any]

_SCOPE_IN_CHALLENGE = re.compile(r'scope="([^"]*)"')


class OrcaError(Exception):
    """ORCA answered with a non-2xx status (or could not be reached: status 502).

    ``body`` is ORCA's JSON error body (``{"error", "error_description"}``); ``scope`` is the
    scope ORCA asked for in ``WWW-Authenticate`` on a 403, when it said.
    """

    def __init__(self, status: int, body: JSON, *, scope: str | None = None) -> None:
        super().__init__(f"ORCA answered HTTP {status}: {body.get('error', 'error')}")
        self.status = status
        self.body = body
        self.scope = scope

    @property
    def message(self) -> str:
        """What went wrong, in words for a page."""
        if self.status == 403:
            if self.scope:
                return f"ORCA refused: your login does not grant `{self.scope}`."
            return "ORCA refused: your login does not grant the permission this needs."
        if self.status == 404:
            return "ORCA has no such account for you."
        if self.status == 401:
            return "ORCA did not accept your access token, even after refreshing it."
        description = self.body.get("error_description") or self.body.get("error") or ""
        return f"ORCA answered HTTP {self.status}. {description}".strip()

    @classmethod
    def from_response(cls, response: httpx.Response) -> OrcaError:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):  # not ORCA's error shape: describe it ourselves
            body = {"error": "orca_error", "error_description": f"HTTP {response.status_code}"}
        match = _SCOPE_IN_CHALLENGE.search(response.headers.get("www-authenticate", ""))
        return cls(response.status_code, body, scope=match.group(1) if match else None)


class OrcaClient:
    """``GET`` calls to ORCA at ``base_url`` (e.g. ``https://api.portx.io/orca/v1``)."""

    def __init__(self, base_url: str, http_client: httpx.AsyncClient) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = http_client

    async def list_accounts(self, auth: httpx.Auth) -> JSON:
        """``GET /accounts``: ``{"data": [account, ...]}``."""
        return await self._get("/accounts", auth)

    async def get_account(self, account_id: str, auth: httpx.Auth) -> JSON:
        """``GET /accounts/{id}``: ``{"data": account}``."""
        return await self._get(f"/accounts/{_segment(account_id)}", auth)

    async def list_transactions(self, account_id: str, auth: httpx.Auth) -> JSON:
        """``GET /accounts/{id}/transactions``: ``{"data": [transaction, ...]}``."""
        return await self._get(f"/accounts/{_segment(account_id)}/transactions", auth)

    async def get_party(self, auth: httpx.Auth) -> JSON:
        """``GET /parties/me``: ``{"data": party}``, the logged-in user as a bank customer."""
        return await self._get("/parties/me", auth)

    async def list_cards(self, auth: httpx.Auth) -> JSON:
        """``GET /cards``: ``{"data": [card, ...]}``."""
        return await self._get("/cards", auth)

    async def _get(self, path: str, auth: httpx.Auth) -> JSON:
        try:
            response = await self._http.get(
                self.base_url + path, auth=auth, headers={"Accept": "application/json"}
            )
        except httpx.TransportError as exc:
            # Only network failures: the kit's own errors (login required, provider
            # unavailable) pass through untouched, for its exception handlers.
            body = {"error": "orca_unavailable", "error_description": "ORCA could not be reached"}
            raise OrcaError(502, body) from exc
        if not response.is_success:
            raise OrcaError.from_response(response)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise OrcaError(502, {"error": "orca_error", "error_description": "Not a JSON object"})
        return data


def _segment(value: str) -> str:
    """``value`` as one path segment: an id (even ``..``) can never reach another ORCA route."""
    return quote(value, safe="").replace(".", "%2E")
