"""``oidc_kit.testing.ResourceServerDPoP``: a sandbox API's check of how an access token is
presented (RFC 9449 section 7), driven directly; test_sandbox_fapi.py drives it through the
sandbox ORCA and the provider's userinfo endpoint.
"""

from __future__ import annotations

from typing import Any

import pytest

from oidc_kit.testing import DPoPError, ResourceServerDPoP
from tests.sandbox.test_sandbox_fapi import ath, new_dpop_key, proof

API = "https://api.test/accounts"
TOKEN = "an-access-token"
NOW = 1_750_000_000.0


def clock() -> float:
    return NOW


def good(key: Any, **claims: Any) -> str:
    """A proof of ``key`` for ``GET {API}`` with ``TOKEN``; ``claims`` override."""
    return proof(key, "GET", API, now=NOW, **{"ath": ath(TOKEN), **claims})


def refusal(
    dpop: ResourceServerDPoP,
    proofs: list[str],
    jkt: str | None,
    *,
    scheme: str = "DPoP",
    url: str = API,
) -> DPoPError:
    with pytest.raises(DPoPError) as refused:
        dpop.check([("dpop", p) for p in proofs], "GET", url, scheme=scheme, token=TOKEN, jkt=jkt)
    return refused.value


def test_a_bound_token_with_a_proof_of_its_key_is_accepted_once() -> None:
    dpop, key = ResourceServerDPoP(clock), new_dpop_key()
    once = good(key)
    headers = [("authorization", f"DPoP {TOKEN}"), ("DPoP", once)]
    dpop.check(headers, "GET", API + "?page=2", scheme="dpop", token=TOKEN, jkt=key.thumbprint())
    replayed = refusal(dpop, [once], key.thumbprint())
    assert (replayed.error, replayed.headers) == ("invalid_dpop_proof", {})
    assert "already used" in replayed.description


@pytest.mark.parametrize(
    "claims",
    [
        {"htm": "POST"},
        {"htu": "https://api.test/cards"},
        {"ath": ath("another token")},
        {"ath": None},
        {"jti": None},
        {"iat": int(NOW) - 120},
    ],
    ids=["htm", "htu", "ath", "no-ath", "no-jti", "iat"],
)
def test_a_proof_not_made_for_this_request_is_refused(claims: dict[str, Any]) -> None:
    dpop, key = ResourceServerDPoP(clock), new_dpop_key()
    assert refusal(dpop, [good(key, **claims)], key.thumbprint()).error == "invalid_dpop_proof"


def test_a_bound_token_needs_the_dpop_scheme_a_proof_and_its_key() -> None:
    dpop, key = ResourceServerDPoP(clock), new_dpop_key()
    jkt = key.thumbprint()
    assert refusal(dpop, [good(key)], jkt, scheme="Bearer").error == "invalid_token"
    assert refusal(dpop, [], jkt).error == "invalid_dpop_proof"
    assert refusal(dpop, [good(key), good(key)], jkt).error == "invalid_dpop_proof"
    other = refusal(dpop, [good(new_dpop_key())], jkt)
    assert other.error == "invalid_token"
    assert "not signed by the key" in other.description


def test_an_unbound_token_only_as_bearer_and_not_with_require_dpop() -> None:
    dpop = ResourceServerDPoP(clock)
    dpop.check([], "GET", API, scheme="Bearer", token=TOKEN, jkt=None)
    assert refusal(dpop, [good(new_dpop_key())], None).error == "invalid_token"
    strict = ResourceServerDPoP(clock, require_dpop=True)
    assert strict.require_dpop
    assert refusal(strict, [], None, scheme="Bearer").error == "invalid_token"


def test_with_nonce_a_proof_must_carry_the_one_handed_out() -> None:
    dpop, key = ResourceServerDPoP(clock, nonce=True), new_dpop_key()
    jkt = key.thumbprint()
    asked = refusal(dpop, [good(key)], jkt)
    assert asked.error == "use_dpop_nonce"
    nonce = asked.headers["DPoP-Nonce"]
    wrong = refusal(dpop, [good(key, nonce="made-up")], jkt)
    assert (wrong.error, wrong.headers) == ("use_dpop_nonce", {"DPoP-Nonce": nonce})
    # A proof's error hands out the nonce; a token presented wrongly does not (no proof helps).
    assert refusal(dpop, [good(key, htm="POST")], jkt).headers == {"DPoP-Nonce": nonce}
    assert refusal(dpop, [good(key, nonce=nonce)], jkt, scheme="Bearer").headers == {}
    dpop.check([("dpop", good(key, nonce=nonce))], "GET", API, scheme="DPoP", token=TOKEN, jkt=jkt)


def test_without_nonce_no_nonce_is_handed_out() -> None:
    key = new_dpop_key()
    assert refusal(ResourceServerDPoP(clock), [], key.thumbprint()).headers == {}


def test_bound_jkt() -> None:
    assert ResourceServerDPoP.bound_jkt({"sub": "alice"}) is None
    assert ResourceServerDPoP.bound_jkt({"cnf": {"jkt": "abc"}}) == "abc"
    for cnf in ({"x5t#S256": "abc"}, {"jkt": ""}, {"jkt": 1}, "abc"):
        with pytest.raises(ValueError):
            ResourceServerDPoP.bound_jkt({"cnf": cnf})


def test_the_advertised_algorithms_are_asymmetric() -> None:
    assert ResourceServerDPoP.algorithms == ("ES256", "PS256", "EdDSA")
