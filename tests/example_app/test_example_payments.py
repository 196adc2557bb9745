"""The demo's "Confirm a payment" page (issue 19): a step-up with a rich authorization request
(RFC 9396) at the embedded sandbox provider, which shows the payment for approval; back in the
app, the page shows the granted payment. In process, as test_example_pages.py is."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.example_app.test_example_pages import ENV, _client, log_in

PAYMENT = {
    "amount": "42.5",
    "creditor": "Sandbox Coffee Ltd",
    "iban": "GB33 BUKB 2020 1555 5555 55",
}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client(ENV):
        yield c


async def test_the_form_needs_a_login_and_then_shows_an_example(client: httpx.AsyncClient) -> None:
    assert (await client.get("/payments/confirm")).status_code == 303
    await log_in(client)
    page = await client.get("/payments/confirm")
    assert page.status_code == 200
    assert 'name="amount"' in page.text and 'name="creditor"' in page.text
    assert 'aria-current="page"' in page.text and "Payments" in page.text


async def test_a_payment_steps_up_with_rar_and_shows_the_grant(client: httpx.AsyncClient) -> None:
    await log_in(client)
    step_up = await client.get("/payments/confirm", params=PAYMENT)
    assert step_up.status_code == 303
    login = urlsplit(step_up.headers["location"])
    assert login.path == "/auth/login"
    asked = parse_qs(login.query)["authorization_details"][0]
    assert '"amount":"42.50"' in asked.replace(" ", "")
    # The provider shows the payment for approval, with the login form.
    to_op = await client.get(step_up.headers["location"])
    page = await client.get(to_op.headers["location"])
    assert "42.50 EUR" in page.text and "Sandbox Coffee Ltd" in page.text
    form = dict(
        (html.unescape(name), html.unescape(value))
        for name, value in re.findall(r'name="([^"]+)" value="([^"]*)"', page.text)
    )
    match = re.search(r'<form method="post" action="([^"]+)"', page.text)
    assert match
    form.update(username="alice", password="alice", action="login")
    answer = await client.post(html.unescape(match[1]), data=form)
    callback = await client.get(answer.headers["location"])
    assert callback.status_code == 303
    done = await client.get(callback.headers["location"])
    assert done.status_code == 200, done.text
    assert "42.50 EUR" in done.text and "GB33BUKB20201555555555" in done.text
    assert "granted" in done.text
    # The same payment again needs no new approval: the session holds the grant.
    again = await client.get("/payments/confirm", params=PAYMENT)
    assert again.status_code == 200 and "42.50 EUR" in again.text


@pytest.mark.parametrize(
    "change",
    [{"amount": "-1"}, {"amount": "1.234"}, {"amount": "x"}, {"iban": "x"}, {"creditor": " "}],
)
async def test_a_bad_form_is_shown_again(client: httpx.AsyncClient, change: dict[str, str]) -> None:
    await log_in(client)
    page = await client.get("/payments/confirm", params=PAYMENT | change)
    assert page.status_code == 400 and 'role="alert"' in page.text
