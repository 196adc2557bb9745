"""The sandbox ORCA API: token validation, ORCA's exact error answers, per-user data.

Also the typed client against it: what ``OrcaClient`` returns must be what
``example_app.orca_models`` says, field for field, so the types cannot drift from the sandbox.
"""

from __future__ import annotations

import itertools
import types
from collections.abc import AsyncIterator, Generator
from decimal import Decimal
from typing import Any, Union, get_args, get_origin, get_type_hints, is_typeddict

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from example_app import orca_models
from example_app.orca import OrcaClient, OrcaError
from example_app.sandbox_orca import SandboxOrca
from example_app.seed import data_for

ISSUER = "https://op.test"
NOW = 1_750_000_000.0
ALL_SCOPES = "openid accounts:read transactions:read parties:read cards:read"

INVALID = {
    "error": "unauthorized",
    "error_description": "The access token is invalid or has expired",
}


class FakeIssuer:
    """Serves discovery and a JWKS through httpx.MockTransport, counting JWKS fetches."""

    def __init__(self) -> None:
        self.keys = [RSAKey.generate_key(2048, parameters={"kid": "k1"})]
        self.jwks_fetches = 0
        self.now = NOW

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={"issuer": ISSUER, "jwks_uri": f"{ISSUER}/jwks"})
        if request.url.path == "/jwks":
            self.jwks_fetches += 1
            return httpx.Response(200, json={"keys": [k.as_dict(private=False) for k in self.keys]})
        return httpx.Response(404)

    def token(self, key: Any = None, alg: str = "RS256", **overrides: Any) -> str:
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": "sandbox-alice",
            "aud": ["orca", "example-app"],
            "iat": int(self.now),
            "exp": int(self.now) + 60,
            "scope": ALL_SCOPES,
        }
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        key = key or self.keys[0]
        return jwt.encode({"alg": alg, "kid": key.kid}, claims, key, algorithms=[alg])


@pytest.fixture
def issuer() -> FakeIssuer:
    return FakeIssuer()


@pytest.fixture
async def api(issuer: FakeIssuer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(issuer.handler)) as http:
        orca = SandboxOrca(ISSUER, http, clock=lambda: issuer.now)
        transport = httpx.ASGITransport(app=orca.app)
        async with httpx.AsyncClient(transport=transport, base_url="https://orca.test") as client:
            yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_invalid_token(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.json() == INVALID
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_valid_token_lists_the_users_accounts(api: httpx.AsyncClient, issuer: FakeIssuer):
    response = await api.get("/accounts", headers=bearer(issuer.token()))
    assert response.status_code == 200
    accounts = response.json()["data"]
    assert [a["id"] for a in accounts] == ["acc-1001", "acc-1002", "acc-1003"]
    assert set(accounts[0]) == {
        "id", "type", "name", "iban", "currency", "balance", "available_balance", "status",
    }  # fmt: skip
    assert accounts[0]["balance"] == "2841.37"


async def test_scheme_is_case_insensitive_and_scp_list_counts(
    api: httpx.AsyncClient, issuer: FakeIssuer
):
    token = issuer.token(scope=None, scp=["accounts:read"])
    response = await api.get("/accounts", headers={"Authorization": f"bEaReR {token}"})
    assert response.status_code == 200


async def test_each_route_and_its_data(api: httpx.AsyncClient, issuer: FakeIssuer):
    headers = bearer(issuer.token())
    account = (await api.get("/accounts/acc-1001", headers=headers)).json()["data"]
    assert account["name"] == "Everyday Current"
    txns = (await api.get("/accounts/acc-1001/transactions", headers=headers)).json()["data"]
    assert 8 <= len(txns) <= 12
    assert txns[0]["balance_after"] == account["balance"]
    assert set(txns[0]) == {
        "id", "account_id", "booked_at", "description", "amount", "currency", "balance_after",
        "category",
    }  # fmt: skip
    party = (await api.get("/parties/me", headers=headers)).json()["data"]
    assert party["name"] == "Alice Example"
    cards = (await api.get("/cards", headers=headers)).json()["data"]
    assert {c["type"] for c in cards} == {"debit", "credit"}
    assert cards[0]["masked_number"] == "•••• 4242"


@pytest.mark.parametrize(
    ("path", "scope"),
    [
        ("/accounts", "accounts:read"),
        ("/accounts/acc-1001", "accounts:read"),
        ("/accounts/acc-1001/transactions", "transactions:read"),
        ("/parties/me", "parties:read"),
        ("/cards", "cards:read"),
    ],
)
async def test_missing_scope_is_403_with_orcas_body(
    api: httpx.AsyncClient, issuer: FakeIssuer, path: str, scope: str
):
    others = " ".join(s for s in ALL_SCOPES.split() if s != scope)
    response = await api.get(path, headers=bearer(issuer.token(scope=others)))
    assert response.status_code == 403
    assert response.json() == {
        "error": "forbidden",
        "error_description": f"The access token does not grant the {scope} scope",
    }
    assert response.headers["www-authenticate"] == (
        f'Bearer error="insufficient_scope", scope="{scope}"'
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic YWxpY2U6YWxpY2U="},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": "Bearer a.b.c"},
    ],
    ids=["missing", "empty", "basic", "garbage", "garbage-segments"],
)
async def test_missing_or_garbage_token_is_401(api: httpx.AsyncClient, headers: dict[str, str]):
    assert_invalid_token(await api.get("/accounts", headers=headers))


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": int(NOW) - 10},
        {"exp": None},
        {"iss": "https://evil.test"},
        {"iss": None},
        {"aud": "someone-else"},
        {"aud": None},
        {"sub": None},
        {"nbf": int(NOW) + 600},
    ],
    ids=["expired", "no-exp", "wrong-iss", "no-iss", "wrong-aud", "no-aud", "no-sub", "nbf"],
)
async def test_invalid_claims_are_401(
    api: httpx.AsyncClient, issuer: FakeIssuer, overrides: dict[str, Any]
):
    assert_invalid_token(await api.get("/accounts", headers=bearer(issuer.token(**overrides))))


async def test_token_signed_by_another_key_is_401(api: httpx.AsyncClient, issuer: FakeIssuer):
    # Same kid as the published key, different key material: a forgery.
    forged = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    assert_invalid_token(await api.get("/accounts", headers=bearer(issuer.token(forged))))


async def test_hs256_token_is_401(api: httpx.AsyncClient, issuer: FakeIssuer):
    secret = OctKey.import_key("a-shared-secret-that-is-long-enough-for-hs256!", {"kid": "k1"})
    token = issuer.token(secret, alg="HS256")
    assert_invalid_token(await api.get("/accounts", headers=bearer(token)))


async def test_expiry_follows_the_injected_clock(api: httpx.AsyncClient, issuer: FakeIssuer):
    headers = bearer(issuer.token())
    assert (await api.get("/accounts", headers=headers)).status_code == 200
    issuer.now += 61 + 5  # past exp and the leeway
    assert_invalid_token(await api.get("/accounts", headers=headers))


async def test_another_users_account_is_404(api: httpx.AsyncClient, issuer: FakeIssuer):
    headers = bearer(issuer.token())  # alice
    for path in ("/accounts/acc-2001", "/accounts/acc-2001/transactions", "/accounts/nope"):
        response = await api.get(path, headers=headers)
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found"
    bob = bearer(issuer.token(sub="sandbox-bob"))
    assert (await api.get("/accounts/acc-2001", headers=bob)).status_code == 200


async def test_unknown_kid_refetches_once_then_not_again_within_a_minute(
    api: httpx.AsyncClient, issuer: FakeIssuer
):
    assert (await api.get("/accounts", headers=bearer(issuer.token()))).status_code == 200
    assert issuer.jwks_fetches == 1

    # The issuer rotates: a new key, tokens signed with it carry a new kid.
    issuer.now += 120
    new_key = ECKey.generate_key("P-256", parameters={"kid": "k2"})
    issuer.keys.append(new_key)
    rotated = issuer.token(new_key, alg="ES256")
    assert (await api.get("/accounts", headers=bearer(rotated))).status_code == 200
    assert issuer.jwks_fetches == 2

    # Forged kids within the minute: answered 401 without asking the issuer again.
    stranger = RSAKey.generate_key(2048, parameters={"kid": "k3"})
    for _ in range(3):
        assert_invalid_token(await api.get("/accounts", headers=bearer(issuer.token(stranger))))
    assert issuer.jwks_fetches == 2

    # A minute later, one more refetch is allowed (and the kid is still unknown).
    issuer.now += 61
    bogus = issuer.token(stranger)
    assert_invalid_token(await api.get("/accounts", headers=bearer(bogus)))
    assert issuer.jwks_fetches == 3


async def test_issuer_unreachable_is_503_not_401(issuer: FakeIssuer):
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(down)) as http:
        orca = SandboxOrca(ISSUER, http, clock=lambda: issuer.now)
        transport = httpx.ASGITransport(app=orca.app)
        async with httpx.AsyncClient(transport=transport, base_url="https://orca.test") as client:
            response = await client.get("/accounts", headers=bearer(issuer.token()))
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"


async def test_generated_data_is_deterministic_for_an_unknown_sub(
    api: httpx.AsyncClient, issuer: FakeIssuer
):
    headers = bearer(issuer.token(sub="user-of-another-provider-42"))
    first = (await api.get("/accounts", headers=headers)).json()["data"]
    again = (await api.get("/accounts", headers=headers)).json()["data"]
    assert first == again
    assert 1 <= len(first) <= 3
    account_id = first[0]["id"]
    txns = (await api.get(f"/accounts/{account_id}/transactions", headers=headers)).json()["data"]
    assert 8 <= len(txns) <= 12
    assert txns[0]["balance_after"] == first[0]["balance"]
    assert all(t["account_id"] == account_id for t in txns)
    assert all(t["amount"].lstrip("-").count(".") == 1 for t in txns)
    assert all(len(t["amount"].split(".")[1]) == 2 for t in txns)
    party = (await api.get("/parties/me", headers=headers)).json()["data"]
    assert party["email"].endswith("@example.com")

    # Another sub gets other data, and cannot see this user's account.
    other = bearer(issuer.token(sub="someone-else"))
    assert (await api.get("/accounts", headers=other)).json()["data"] != first
    assert (await api.get(f"/accounts/{account_id}", headers=other)).status_code == 404


def test_seed_running_balances_add_up():
    for sub in ("sandbox-alice", "sandbox-bob", "x", "y", "z"):
        user = data_for(sub)
        for account in user.accounts:
            txns = user.transactions[account["id"]]
            assert txns[0]["balance_after"] == account["balance"]
            for newer, older in itertools.pairwise(txns):
                expected = Decimal(newer["balance_after"]) - Decimal(newer["amount"])
                assert Decimal(older["balance_after"]) == expected
                assert older["booked_at"] <= newer["booked_at"]


# --- the typed client against the sandbox ------------------------------------------------------


class StaticBearer(httpx.Auth):
    """The user's token, as the kit's auth would attach it (no refresh needed here)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


def conforms(value: object, hint: Any, seen: dict[str, set[str]], where: str = "") -> None:
    """Assert ``value`` is what the type ``hint`` says; record the keys met for each TypedDict."""
    if is_typeddict(hint):
        assert isinstance(value, dict), where
        keys = set(value)
        required, optional = hint.__required_keys__, hint.__optional_keys__
        assert required <= keys, f"{where}: the sandbox lacks {required - keys}"
        assert keys <= required | optional, f"{where}: the model lacks {keys - required - optional}"
        seen.setdefault(hint.__name__, set()).update(keys)
        hints = get_type_hints(hint)  # NotRequired[...] unwrapped
        for key, item in value.items():
            conforms(item, hints[key], seen, f"{where}.{key}")
    elif get_origin(hint) is list:
        assert isinstance(value, list), where
        for n, item in enumerate(value):
            conforms(item, get_args(hint)[0], seen, f"{where}[{n}]")
    elif get_origin(hint) in (Union, types.UnionType):
        assert isinstance(value, tuple(get_origin(a) or a for a in get_args(hint))), where
    else:
        assert isinstance(value, hint), f"{where}: {value!r} is not {hint.__name__}"


@pytest.fixture
async def orca_client(issuer: FakeIssuer) -> AsyncIterator[OrcaClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(issuer.handler)) as op:
        orca = SandboxOrca(ISSUER, op, clock=lambda: issuer.now)
        transport = httpx.ASGITransport(app=orca.app)
        async with httpx.AsyncClient(transport=transport) as http:
            yield OrcaClient("https://orca.test/", http)


async def test_the_models_are_what_the_sandbox_serves(
    orca_client: OrcaClient, issuer: FakeIssuer
) -> None:
    """Every answer of every route, for the hand-written users and a generated one."""
    seen: dict[str, set[str]] = {}
    for sub in ("sandbox-alice", "sandbox-bob", "user-of-another-provider-42"):
        auth = StaticBearer(issuer.token(sub=sub))
        accounts = await orca_client.list_accounts(auth)
        conforms(accounts, orca_models.AccountList, seen, f"{sub} /accounts")
        for account in accounts["data"]:
            detail = await orca_client.get_account(account["id"], auth)
            conforms(detail, orca_models.AccountDetail, seen, f"{sub} /accounts/{{id}}")
            txns = await orca_client.list_transactions(account["id"], auth)
            conforms(txns, orca_models.TransactionList, seen, f"{sub} /transactions")
        conforms(await orca_client.list_cards(auth), orca_models.CardList, seen, f"{sub} /cards")
        party = await orca_client.get_party(auth)
        conforms(party, orca_models.PartyDetail, seen, f"{sub} /parties/me")
    # The other way round: no field of a model that the sandbox never serves.
    for name in orca_models.__all__:
        model = getattr(orca_models, name)
        assert seen[name] == model.__required_keys__ | model.__optional_keys__, name


@pytest.mark.parametrize(
    "answer",
    [
        {"accounts": []},
        {"data": {"id": "acc-1"}},
        {"data": ["acc-1"]},
        [{"id": "acc-1"}],
        "accounts",
    ],
    ids=["no-data", "object-not-list", "list-of-strings", "bare-list", "a-string"],
)
async def test_an_answer_that_is_not_orcas_envelope_is_a_502(answer: object) -> None:
    def orca(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answer)

    async with httpx.AsyncClient(transport=httpx.MockTransport(orca)) as http:
        with pytest.raises(OrcaError) as caught:
            await OrcaClient("https://orca.test", http).list_accounts(StaticBearer("t"))
    assert caught.value.status == 502
    assert caught.value.body == {
        "error": "orca_error",
        "error_description": 'Not the answer ORCA documents: no "data" list',
    }


async def test_a_single_resource_must_be_an_object() -> None:
    def orca(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": [{"id": "pty-1"}]})

    async with httpx.AsyncClient(transport=httpx.MockTransport(orca)) as http:
        with pytest.raises(OrcaError, match="502"):
            await OrcaClient("https://orca.test", http).get_party(StaticBearer("t"))
