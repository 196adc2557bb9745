"""Rich Authorization Requests (RFC 9396) in the core: the details' checks, the kit's rule for
a grant, the step-up a route's details make, and where a session keeps them."""

from __future__ import annotations

import json
import time

import pytest

from oidc_kit import AuthorizationDetailsMismatch, ConfigurationError, InvalidLoginRequest
from oidc_kit._authorization_details import (
    MAX_DETAILS_LENGTH,
    accepted,
    canonical_details,
    checked_grant,
    covers,
    parse_details,
)
from oidc_kit._session import Session
from oidc_kit._session_user import SessionUser
from oidc_kit._step_up import StepUp
from oidc_kit._transaction import LoginTransaction

PAYMENT = {
    "type": "payment_initiation",
    "instructedAmount": {"currency": "EUR", "amount": "10.00"},
    "creditorName": "Merchant A",
    "creditorAccount": {"iban": "DE02100100109307118603"},
}
READ = {"type": "account_information", "actions": ["read"]}


def text(*details: object) -> str:
    return canonical_details(list(details))


def test_details_are_kept_as_canonical_json() -> None:
    shuffled = json.dumps([{"type": "payment_initiation", "creditorName": "Merchant A"}])
    assert parse_details(shuffled) == '[{"creditorName":"Merchant A","type":"payment_initiation"}]'


@pytest.mark.parametrize(
    "raw",
    [
        "{",
        "{}",
        "[]",
        '["payment"]',
        '[{"type": 1}]',
        '[{"actions": []}]',
        json.dumps([READ] * 21),
        json.dumps([{"type": "x" * MAX_DETAILS_LENGTH}]),
    ],
)
def test_malformed_details_are_an_invalid_login_request(raw: str) -> None:
    with pytest.raises(InvalidLoginRequest):
        parse_details(raw)


def test_the_grant_must_be_what_was_asked_in_any_order() -> None:
    asked = text(PAYMENT, READ)
    assert accepted(asked, text(READ, PAYMENT))
    assert not accepted(asked, text(PAYMENT))
    assert not accepted(asked, text(PAYMENT, READ, READ))
    assert not accepted(asked, None)
    assert checked_grant(asked, {"authorization_details": [READ, PAYMENT]}) == text(READ, PAYMENT)
    with pytest.raises(AuthorizationDetailsMismatch) as info:
        checked_grant(asked, {"authorization_details": [PAYMENT]})
    assert info.value.status == 403 and info.value.code == "authorization_details_mismatch"
    assert checked_grant(None, {"authorization_details": [PAYMENT]}) is None


def test_a_route_asks_for_details_and_a_session_covers_them_or_not() -> None:
    step_up = StepUp.for_route(authorization_details=[PAYMENT])
    assert step_up.required
    assert step_up.login_params() == {"authorization_details": text(PAYMENT)}
    now = time.time()
    assert step_up.satisfied_by({}, now, 0, text(READ, PAYMENT))
    assert not step_up.satisfied_by({}, now, 0, text(READ))
    assert not step_up.satisfied_by({}, now, 0, None)
    assert covers(text(PAYMENT), text(PAYMENT)) and not covers(None, text(PAYMENT))
    # The step-up login's URL carries them back: /auth/login reads the same value.
    again = StepUp.from_query(
        {"authorization_details": [step_up.login_params()["authorization_details"]]}
    )
    assert again == step_up


def test_a_route_with_malformed_details_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="authorization_details"):
        StepUp.for_route(authorization_details=[{"amount": "1"}])


def test_the_transaction_and_the_session_keep_them() -> None:
    txn = LoginTransaction("s", "n", "v", "b", "/", 1.0, authorization_details=text(PAYMENT))
    assert LoginTransaction.decode(txn.encode()) == txn
    session = Session(
        sid="sid",
        iss="https://op.test",
        sub="alice",
        claims={},
        sealed_tokens=b"x",
        access_expires_at=None,
        created_at=1.0,
        last_seen=1.0,
        authorization_details=text(PAYMENT),
    )
    decoded = Session.decode("sid", session.encode())
    assert decoded.authorization_details == text(PAYMENT)
    user = SessionUser(decoded)
    assert user.authorization_details == (PAYMENT,)
    with pytest.raises(TypeError):
        user.authorization_details[0]["type"] = "other"  # type: ignore[index]
