"""Interop, RAR (RFC 9396): the example app with ``OIDC_PROFILE=fapi2`` against oidc-provider in
its FAPI 2.0 mode with rich authorization requests on (``provider.js`` with ``FAPI2=1
RAR=1``, a ``payment_initiation`` type).

The demo's "Confirm a payment" page asks for a payment as authorization details: the app steps
up, pushes them (PAR), the provider shows them on its consent page and grants them, and the
token response's ``authorization_details`` land in the session, where the page shows them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc.jwk import ECKey

from tests.interop.stack import FapiStack, fapi_stack_for, print_logs

PAYMENT_FORM = {"amount": "42.50", "creditor": "Interop Coffee", "iban": "GB33BUKB20201555555555"}
PAYMENT = {
    "type": "payment_initiation",
    "instructedAmount": {"currency": "EUR", "amount": "42.50"},
    "creditorName": "Interop Coffee",
    "creditorAccount": {"iban": "GB33BUKB20201555555555"},
}


@pytest.fixture(scope="module")
def rar_stack(node: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FapiStack]:
    tmp = tmp_path_factory.mktemp("rar")
    key = ECKey.generate_key("P-256", private=True)
    with fapi_stack_for(node, tmp, key, "ES256", provider_settings={"RAR": "1"}) as s:
        yield s


@pytest.fixture(autouse=True)
def _logs(rar_stack: FapiStack) -> Iterator[None]:
    yield
    print_logs(rar_stack)


def test_a_payment_is_granted_as_asked_and_kept_in_the_session(rar_stack: FapiStack) -> None:
    provider = rar_stack.provider
    with rar_stack.browser() as browser:
        first = browser.login("alice")
        assert first.status_code == 303, first.text
        mark = provider.mark()

        step_up = browser.get("/payments/confirm", params=PAYMENT_FORM)
        assert step_up.status_code == 303, step_up.text
        login = urlsplit(step_up.headers["location"])
        asked = json.loads(parse_qs(login.query)["authorization_details"][0])
        assert asked == [PAYMENT]
        callback = browser.follow(browser.get(step_up.headers["location"]), user="alice")
        assert callback.status_code == 303, callback.text
        assert "consent" in browser.provider_pages  # the details were shown for consent

        page = browser.get(callback.headers["location"])
        assert page.status_code == 200, page.text
        assert "42.50 EUR" in page.text and "GB33BUKB20201555555555" in page.text

    [granted] = provider.lines(r"event=rar\.granted", since=mark)
    assert json.loads(granted.split("details=", 1)[1]) == [PAYMENT]
    # Pushed (FAPI 2.0): the browser's URL carried only the request_uri.
    [authorize] = provider.lines(r"GET /auth 30[23]", since=mark)
    assert "params=client_id,request_uri " in authorize, authorize


def test_a_malformed_payment_is_refused_by_the_provider(rar_stack: FapiStack) -> None:
    """The provider's validator refuses it at the push: the app answers 502 par_failed."""
    bad = [{**PAYMENT, "creditorAccount": {"iban": "not-an-iban"}}]
    with rar_stack.browser() as browser:
        start = browser.get(
            "/auth/login",
            params={"authorization_details": json.dumps(bad)},
            headers={"Accept": "application/json"},
        )
    assert start.status_code == 502 and start.json()["error"] == "par_failed"
