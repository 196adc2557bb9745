"""``ClientAuth``: the client's credentials on a form POST, made anew for every request sent,
alone and under :class:`~oidc_kit._dpop.DPoPAuth`'s nonce retry (``post_authenticated``)."""

from __future__ import annotations

import base64
from urllib.parse import parse_qsl

import httpx
from joserfc import jws, jwt
from joserfc.jwk import ECKey

from oidc_kit._client_auth import (
    ClientAuth,
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
    PublicClient,
)
from oidc_kit._client_key import ClientKey
from oidc_kit._dpop import DPoPKey, DPoPNonces
from oidc_kit._tokens import post_authenticated
from tests.conftest import make_config
from tests.fake_op import CLIENT_ID, CLIENT_SECRET

TOKEN = "https://op.test/token"


def _form(request: httpx.Request) -> list[tuple[str, str]]:
    return parse_qsl(request.content.decode(), keep_blank_values=True)


def _claims(proof: str) -> dict[str, object]:
    """A proof's claims, checked with the key its own header carries (RFC 9449 4.3)."""
    header = jws.extract_compact(proof.encode()).protected
    return dict(jwt.decode(proof, ECKey.import_key(header["jwk"])).claims)


def _request(**fields: str | list[str]) -> httpx.Request:
    return httpx.Request("POST", TOKEN, data=fields, headers={"Accept": "application/json"})


def test_basic_puts_the_secret_in_the_header_and_leaves_the_form() -> None:
    auth = ClientAuth(ClientSecretBasic("c 1", "s:2"), lambda: 0)
    sent = auth.authenticate(_request(grant_type="refresh_token", resource=["r1", "r2"]))
    expected = base64.b64encode(b"c+1:s%3A2").decode()  # RFC 6749 2.3.1: form-encoded first
    assert sent.headers["authorization"] == f"Basic {expected}"
    assert _form(sent) == [("grant_type", "refresh_token"), ("resource", "r1"), ("resource", "r2")]
    assert sent.headers["accept"] == "application/json"
    assert sent.headers["content-length"] == str(len(sent.content))


def test_post_and_public_clients_add_their_fields_once() -> None:
    """A pushed request already names ``client_id``: the credentials' own replaces it rather
    than repeating it (a provider refuses a repeated parameter, RFC 6749 3.1)."""
    request = _request(client_id=CLIENT_ID, scope="openid")
    sent = ClientAuth(ClientSecretPost(CLIENT_ID, CLIENT_SECRET), lambda: 0).authenticate(request)
    assert sorted(_form(sent)) == [
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("scope", "openid"),
    ]
    assert "authorization" not in sent.headers
    sent = ClientAuth(PublicClient(CLIENT_ID), lambda: 0).authenticate(request)
    assert sorted(_form(sent)) == [("client_id", CLIENT_ID), ("scope", "openid")]


def test_every_request_sent_gets_its_own_assertion_and_the_template_is_kept() -> None:
    key = ClientKey(ECKey.generate_key("P-256", private=True))
    auth = ClientAuth(PrivateKeyJwt(CLIENT_ID, key, "https://op.test"), lambda: 1_800_000_000)
    request = _request(grant_type="client_credentials")
    sent = [dict(_form(auth.authenticate(request))) for _ in range(3)]
    claims = [jwt.decode(form["client_assertion"], key.key).claims for form in sent]
    assert len({c["jti"] for c in claims}) == 3
    assert {c["iat"] for c in claims} == {1_800_000_000}
    assert request.content == b"grant_type=client_credentials"


async def test_a_nonce_retry_with_basic_sends_the_header_again_and_no_secret_in_the_form() -> None:
    """``post_authenticated`` with DPoP: the retry is the whole request again, credentials and
    a new proof carrying the nonce, under the one deadline of one ``fetch``."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(
                400, headers={"DPoP-Nonce": "n-1"}, json={"error": "use_dpop_nonce"}
            )
        return httpx.Response(200, json={"ok": True})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as http:
        response = await post_authenticated(
            http,
            make_config(),
            None,  # no discovery: HTTP Basic
            TOKEN,
            {"grant_type": "refresh_token", "refresh_token": "rt"},
            1_800_000_000,
            what="token endpoint",
            dpop=DPoPKey.generate(),
            nonces=DPoPNonces(),
        )
    assert response.status_code == 200
    assert len(seen) == 2
    assert seen[0].headers["authorization"] == seen[1].headers["authorization"]
    assert seen[0].headers["authorization"].startswith("Basic ")
    first, retry = (_claims(r.headers["dpop"]) for r in seen)
    assert first["jti"] != retry["jti"]
    assert "nonce" not in first and retry["nonce"] == "n-1"
    for request in seen:
        assert dict(_form(request)) == {"grant_type": "refresh_token", "refresh_token": "rt"}
