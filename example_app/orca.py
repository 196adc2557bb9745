"""A small typed client of the PortX ORCA API, for calls made on behalf of the logged-in user.

Every method takes the ``httpx.Auth`` that carries the user's token
(``auth.httpx_auth(request)`` from the kit): the auth attaches the bearer token, refreshes it
when due, and on a 401 refreshes once and retries once. What it cannot fix arrives here as a
non-2xx answer and becomes an :class:`OrcaError`, which the pages render in words and the
``/api/*`` routes pass through as ORCA sent it.

What each call returns is typed in :mod:`example_app.orca_models` (``AccountList``,
``TransactionList``, ``CardList``...): read that module to see ORCA's fields.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

import httpx

from .orca_models import AccountDetail, AccountList, CardList, PartyDetail, TransactionList

if TYPE_CHECKING:
    from oidc_kit import ProviderConfig

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
    """``GET`` calls to ORCA at ``base_url`` (e.g. ``https://api.portx.io/orca/v1``).

    Each method returns ORCA's answer as it came, typed (:mod:`example_app.orca_models`).

    Certificate-bound tokens (mutual TLS, ``OIDC_CLIENT_CERT`` with
    ``OIDC_MTLS_BOUND_TOKENS=1``) must reach ORCA over a connection presenting the client's
    certificate: :meth:`for_config` makes the client that does (close it with :meth:`aclose`).
    """

    def __init__(self, base_url: str, http_client: httpx.AsyncClient) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = http_client
        self._owns_http = False

    @classmethod
    def for_config(
        cls, base_url: str, http_client: httpx.AsyncClient, config: ProviderConfig
    ) -> OrcaClient:
        """An ORCA client over ``http_client``; with a client certificate configured, over a
        client of its own presenting it (``config.tls_context()``), as a certificate-bound
        token requires (RFC 8705 3: still sent as ``Bearer``)."""
        context = config.tls_context()
        if context is None:
            return cls(base_url, http_client)
        orca = cls(base_url, httpx.AsyncClient(verify=context, timeout=http_client.timeout))
        orca._owns_http = True
        return orca

    async def aclose(self) -> None:
        """Close the HTTP client :meth:`for_config` made (the app's own is the app's)."""
        if self._owns_http:
            await self._http.aclose()

    async def list_accounts(self, auth: httpx.Auth) -> AccountList:
        """``GET /accounts``: the user's accounts."""
        return cast(AccountList, await self._get("/accounts", auth, list))

    async def get_account(self, account_id: str, auth: httpx.Auth) -> AccountDetail:
        """``GET /accounts/{id}``: one of the user's accounts (else a 404 :class:`OrcaError`)."""
        path = f"/accounts/{_segment(account_id)}"
        return cast(AccountDetail, await self._get(path, auth, dict))

    async def list_transactions(self, account_id: str, auth: httpx.Auth) -> TransactionList:
        """``GET /accounts/{id}/transactions``: the account's transactions, newest first."""
        path = f"/accounts/{_segment(account_id)}/transactions"
        return cast(TransactionList, await self._get(path, auth, list))

    async def get_party(self, auth: httpx.Auth) -> PartyDetail:
        """``GET /parties/me``: the logged-in user as a bank customer."""
        return cast(PartyDetail, await self._get("/parties/me", auth, dict))

    async def list_cards(self, auth: httpx.Auth) -> CardList:
        """``GET /cards``: the user's payment cards."""
        return cast(CardList, await self._get("/cards", auth, list))

    async def _get(self, path: str, auth: httpx.Auth, shape: type[list[Any] | JSON]) -> JSON:
        """ORCA's JSON answer, once known to be ``{"data": ...}`` with ``shape`` inside.

        Only the envelope is checked: enough that a page never fails on a surprise answer
        (it becomes a 502 :class:`OrcaError`), without re-validating every field in Python.
        """
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
            answer = response.json()
        except ValueError:
            answer = None
        if not _is_envelope(answer, shape):
            kind = "list" if shape is list else "object"
            description = f'Not the answer ORCA documents: no "data" {kind}'
            raise OrcaError(502, {"error": "orca_error", "error_description": description})
        return cast(JSON, answer)


def _is_envelope(answer: object, shape: type[list[Any] | JSON]) -> bool:
    """``answer`` is ``{"data": ...}`` holding an object, or a list of objects, as asked."""
    if not isinstance(answer, dict) or not isinstance(answer.get("data"), shape):
        return False
    items = answer["data"] if isinstance(answer["data"], list) else [answer["data"]]
    return all(isinstance(item, dict) for item in items)


def _segment(value: str) -> str:
    """``value`` as one path segment: an id (even ``..``) can never reach another ORCA route."""
    return quote(value, safe="").replace(".", "%2E")
