"""Rich Authorization Requests (RFC 9396): ``authorization_details`` asked for at login, sent
to the provider (in the URL, or pushed with PAR), and the grant kept in the session when it is
exactly what was asked for; any other grant refuses the login (403
``authorization_details_mismatch``) with no session.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from oidc_kit._session import Session
from tests.conformance.conftest import RP, RPFactory, client_key_pem
from tests.conformance.misbehaving_op import MisbehavingOP
from tests.conftest import Clock

PAYMENT = {
    "type": "payment_initiation",
    "instructedAmount": {"currency": "EUR", "amount": "123.50"},
    "creditorName": "Merchant A",
    "creditorAccount": {"iban": "DE02100100109307118603"},
}
ACCOUNTS = {"type": "account_information", "actions": ["read"], "locations": ["urn:orca"]}
DETAILS = [PAYMENT, ACCOUNTS]


async def _login(rp: RP, details: Any = DETAILS) -> httpx.Response:
    params = {"next": "/pay", "authorization_details": json.dumps(details)}
    start = await rp.browser.get("/auth/login", params=params)
    assert start.status_code == 303, (start.status_code, start.text)
    return await rp.return_from_provider(start.headers["location"])


async def _granted(rp: RP) -> str | None:
    (key,) = rp.store.sessions_written()
    raw = await rp.store.get(key)
    assert raw is not None
    return Session.decode(key.removeprefix("session:"), raw).authorization_details


@pytest.mark.parametrize("par", [False, True])
async def test_details_are_sent_and_the_grant_kept(
    op: MisbehavingOP, rp_factory: RPFactory, par: bool
) -> None:
    if par:
        op.fapi2()
    fapi = {"profile": "fapi2", "client_key": client_key_pem()}
    rp = await rp_factory(**(fapi if par else {}))

    response = await _login(rp)

    await rp.assert_logged_in(response, "/pay")
    sent = op.authorization_requests[-1]["authorization_details"]
    assert json.loads(sent) == DETAILS
    if par:  # pushed, never in the browser's URL
        assert "authorization_details" not in op.browser_queries[-1]
    granted = await _granted(rp)
    assert granted is not None and json.loads(granted) == DETAILS


async def test_a_grant_in_another_order_is_the_same_grant(
    op: MisbehavingOP, rp_factory: RPFactory
) -> None:
    op.grant_details = lambda d: list(reversed(d))
    rp = await rp_factory()
    await rp.assert_logged_in(await _login(rp), "/pay")


async def test_a_login_without_details_keeps_none_whatever_is_granted(
    op: MisbehavingOP, rp_factory: RPFactory
) -> None:
    op.token_body["authorization_details"] = [PAYMENT]
    rp = await rp_factory()
    await rp.assert_logged_in(await rp.login("/pay"), "/pay")
    assert await _granted(rp) is None


#: The misbehaviour, and a word of the description naming the check that refused.
REFUSED = [
    ("rar_details_missing", "no authorization_details"),
    ("rar_amount_changed", "other authorization_details"),
    ("rar_detail_added", "other authorization_details"),
    ("rar_detail_removed", "other authorization_details"),
    ("rar_not_an_array", "array"),
    ("rar_without_type", "string type"),
]


@pytest.mark.parametrize(("case", "mentions"), REFUSED, ids=[c[0] for c in REFUSED])
async def test_other_granted_details_refuse_the_login(
    op: MisbehavingOP, rp_factory: RPFactory, case: str, mentions: str
) -> None:
    getattr(op, case)()
    rp = await rp_factory()

    response = await _login(rp)

    await rp.assert_refused(
        response, "authorization_details_mismatch", status=403, mentions=mentions
    )
    # The grant the app will not act on is revoked at the provider, not just dropped.
    revoked = [parse_qs(r.content.decode()) for r in op.requests_to("revocation")]
    assert [r["token_type_hint"] for r in revoked] == [["refresh_token"], ["access_token"]]
    assert revoked[0]["token"] == [next(iter(op.refresh_tokens))]


@pytest.mark.parametrize(
    "details",
    [{"type": "x"}, [], ["x"], [{"type": ""}], [{"kind": "payment"}], "not json"],
)
async def test_malformed_details_are_refused_at_the_start(
    op: MisbehavingOP, rp_factory: RPFactory, details: Any
) -> None:
    rp = await rp_factory()
    raw = details if isinstance(details, str) else json.dumps(details)
    start = await rp.browser.get(
        "/auth/login",
        params={"authorization_details": raw},
        headers={"Accept": "application/json"},
    )
    assert start.status_code == 400, start.text
    assert start.json()["error"] == "invalid_login_request"
    assert op.authorization_requests == [] and op.pushed_requests == []


#: When the login's access token (FakeOP: one hour, refreshed at most 30 s early) is due.
DUE = 3590


@pytest.mark.parametrize(
    "again", [None, list(reversed(DETAILS))], ids=["not-repeated", "repeated-reordered"]
)
async def test_a_refresh_keeps_the_logins_details(
    op: MisbehavingOP, rp_factory: RPFactory, clock: Clock, again: list[Any] | None
) -> None:
    """RFC 9396 7: a refresh response may carry the details again; the same grant (in any
    order), or none, keeps the session and its details."""
    rp = await rp_factory(session_idle_timeout=2 * 3600)
    await rp.assert_logged_in(await _login(rp), "/pay")
    if again is not None:
        op.refresh_body = {"authorization_details": again}
    clock.advance(DUE)

    response = await rp.browser.get("/api/accounts")

    assert response.status_code == 200, response.text
    assert op.hits["token"] == 2  # the refresh grant
    granted = await _granted(rp)
    assert granted is not None and json.loads(granted) == DETAILS


async def test_a_refresh_granting_other_details_ends_the_session(
    op: MisbehavingOP, rp_factory: RPFactory, clock: Clock
) -> None:
    """The refreshed tokens carry a grant the app never accepted: not used, revoked, and the
    session is over (log in again)."""
    rp = await rp_factory(session_idle_timeout=2 * 3600)
    await rp.assert_logged_in(await _login(rp), "/pay")
    altered = [{**PAYMENT, "instructedAmount": {"currency": "EUR", "amount": "9999.00"}}]
    op.refresh_body = {"authorization_details": [*altered, ACCOUNTS]}
    clock.advance(DUE)
    before = len(rp.api.seen)

    response = await rp.browser.get("/api/accounts")

    assert response.status_code == 401, response.text
    assert response.json()["error"] == "login_required"
    assert len(rp.api.seen) == before  # the new access token never reached the API
    assert op.hits["token"] == 2 and op.hits["revocation"] == 1
    revoked = parse_qs(op.requests_to("revocation")[-1].content.decode())
    assert revoked["token_type_hint"] == ["refresh_token"]
    assert (await rp.session()).status_code == 401
