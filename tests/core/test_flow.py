"""The login flow against a scriptable provider: one named test per refusal.

Each refusal test makes the provider (or the callback) misbehave in one way and asserts the
stable error code; deleting the check in oidc_kit makes the test fail.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc.jwk import ECKey, RSAKey

from oidc_kit import (
    AuthorizationFailed,
    DiscoveryError,
    InvalidCallback,
    InvalidIdToken,
    InvalidState,
    InvalidUserinfo,
    IssuerMismatch,
    MemoryStore,
    ProviderError,
    ProviderUnavailable,
    TokenRequestFailed,
)
from oidc_kit._transaction import transaction_key
from oidc_kit.starlette import OIDCAuth
from tests.conftest import Clock, login, make_config
from tests.fake_op import CLIENT_ID, DROP, ISSUER, FakeOP, hmac_key, rsa_key, s256

# -- the happy path -------------------------------------------------------------------------


async def test_login_returns_validated_claims_and_tokens(kit: OIDCAuth, op: FakeOP) -> None:
    result = await login(kit, op)
    assert result.claims["sub"] == "user-1"
    assert result.claims["email"] == "user@example.com"  # merged from userinfo
    assert "nonce" not in result.claims and "at_hash" not in result.claims
    assert result.next_path == "/next"
    assert result.provider_sid == "op-session-1"
    assert result.tokens.refresh_token is not None


async def test_authorization_url_has_pkce_s256_state_nonce(kit: OIDCAuth, op: FakeOP) -> None:
    url = await kit._flow.start("browser-1")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert url.startswith(f"{ISSUER}/authorize?")
    assert query["response_type"] == "code"
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 43 and len(query["nonce"]) >= 43
    assert query["redirect_uri"] == "https://app.test/auth/callback"
    assert "openid" in query["scope"].split()
    second = await kit._flow.start("browser-1")
    assert parse_qs(urlsplit(second).query)["state"][0] != query["state"]


async def test_code_exchange_sends_the_verifier_matching_the_challenge(
    kit: OIDCAuth, op: FakeOP
) -> None:
    url = await kit._flow.start("browser-1")
    challenge = parse_qs(urlsplit(url).query)["code_challenge"][0]
    await kit._flow.finish({k: [v] for k, v in op.authorize(url).items()}, "browser-1")
    token_request = next(r for r in op.requests if r.url.path == "/token")
    form = parse_qs(token_request.content.decode())
    assert s256(form["code_verifier"][0]) == challenge
    assert token_request.headers["authorization"].startswith("Basic ")
    assert "client_secret" not in form


async def test_client_secret_post_when_it_is_all_the_provider_supports(
    kit: OIDCAuth, op: FakeOP
) -> None:
    op.discovery["token_endpoint_auth_methods_supported"] = ["client_secret_post"]
    await login(kit, op)
    token_request = next(r for r in op.requests if r.url.path == "/token")
    assert "authorization" not in token_request.headers
    assert "client_secret" in parse_qs(token_request.content.decode())


async def test_token_type_is_compared_case_insensitively(kit: OIDCAuth, op: FakeOP) -> None:
    op.token_body["token_type"] = "bEaReR"
    result = await login(kit, op)
    assert result.tokens.token_type == "Bearer"


async def test_refuses_a_token_type_other_than_bearer(kit: OIDCAuth, op: FakeOP) -> None:
    op.token_body["token_type"] = "mac"
    with pytest.raises(ProviderError):
        await login(kit, op)


# -- discovery -----------------------------------------------------------------------------


async def test_refuses_a_discovered_issuer_that_differs(kit: OIDCAuth, op: FakeOP) -> None:
    op.discovery["issuer"] = "https://evil.test"
    with pytest.raises(DiscoveryError) as info:
        await kit._flow.start("b")
    assert info.value.code == "invalid_issuer"
    assert info.value.actual == "https://evil.test"


async def test_refuses_a_discovered_issuer_with_a_trailing_slash(kit: OIDCAuth, op: FakeOP) -> None:
    op.discovery["issuer"] = ISSUER + "/"
    with pytest.raises(DiscoveryError):
        await kit._flow.start("b")


async def test_refuses_http_endpoints_in_discovery(kit: OIDCAuth, op: FakeOP) -> None:
    op.discovery["token_endpoint"] = "http://op.test/token"
    with pytest.raises(DiscoveryError):
        await kit._flow.start("b")


async def test_discovery_is_cached_for_its_ttl(kit: OIDCAuth, op: FakeOP, clock: Clock) -> None:
    await kit._provider.metadata()
    await kit._provider.metadata()
    assert op.calls["/.well-known/openid-configuration"] == 1
    clock.advance(kit.config.discovery_ttl + 1)
    await kit._provider.metadata()
    assert op.calls["/.well-known/openid-configuration"] == 2


async def test_unreachable_provider_is_provider_unavailable(kit: OIDCAuth, op: FakeOP) -> None:
    op.fail_with = httpx.ConnectError
    with pytest.raises(ProviderUnavailable) as info:
        await kit._flow.start("b")
    assert info.value.status == 503


# -- callback parameters -------------------------------------------------------------------


async def test_refuses_a_missing_state(kit: OIDCAuth, op: FakeOP) -> None:
    with pytest.raises(InvalidState):
        await login(kit, op, state=None)  # type: ignore[arg-type]


async def test_refuses_an_unknown_state(kit: OIDCAuth, op: FakeOP) -> None:
    with pytest.raises(InvalidState):
        await login(kit, op, state="forged-state")


async def test_refuses_a_replayed_state(kit: OIDCAuth, op: FakeOP) -> None:
    url = await kit._flow.start("browser-1")
    params = {k: [v] for k, v in op.authorize(url).items()}
    await kit._flow.finish(params, "browser-1")
    with pytest.raises(InvalidState):
        await kit._flow.finish(params, "browser-1")


async def test_refuses_a_callback_in_another_browser(kit: OIDCAuth, op: FakeOP) -> None:
    url = await kit._flow.start("browser-1")
    params = {k: [v] for k, v in op.authorize(url).items()}
    with pytest.raises(InvalidState):
        await kit._flow.finish(params, "browser-2")
    with pytest.raises(InvalidState):
        await kit._flow.finish(params, None)


async def test_refuses_an_expired_login(kit: OIDCAuth, op: FakeOP, clock: Clock) -> None:
    url = await kit._flow.start("browser-1")
    params = {k: [v] for k, v in op.authorize(url).items()}
    clock.advance(kit.config.login_timeout + 1)
    with pytest.raises(InvalidState):
        await kit._flow.finish(params, "browser-1")


async def test_refuses_repeated_parameters(kit: OIDCAuth, op: FakeOP) -> None:
    url = await kit._flow.start("browser-1")
    params = {k: [v] for k, v in op.authorize(url).items()}
    params["code"] = [params["code"][0], "other"]
    with pytest.raises(InvalidCallback):
        await kit._flow.finish(params, "browser-1")


async def test_refuses_a_missing_code(kit: OIDCAuth, op: FakeOP) -> None:
    with pytest.raises(InvalidCallback):
        await login(kit, op, code=None)  # type: ignore[arg-type]


async def test_error_parameter_becomes_its_code(kit: OIDCAuth, op: FakeOP) -> None:
    with pytest.raises(AuthorizationFailed) as info:
        await login(kit, op, error="access_denied", error_description="User said no")
    assert info.value.code == "access_denied"
    assert info.value.description == "User said no"
    assert op.calls["/token"] == 0


async def test_unknown_error_codes_are_not_passed_through(kit: OIDCAuth, op: FakeOP) -> None:
    with pytest.raises(AuthorizationFailed) as info:
        await login(kit, op, error="<script>")
    assert info.value.code == "access_denied"


async def test_refuses_a_wrong_iss_parameter(kit: OIDCAuth, op: FakeOP) -> None:
    with pytest.raises(IssuerMismatch):
        await login(kit, op, iss="https://evil.test")
    assert op.calls["/token"] == 0


async def test_refuses_a_missing_iss_when_advertised(kit: OIDCAuth, op: FakeOP) -> None:
    with pytest.raises(IssuerMismatch):
        await login(kit, op, iss=None)  # type: ignore[arg-type]


async def test_accepts_a_missing_iss_when_not_advertised(kit: OIDCAuth, op: FakeOP) -> None:
    op.discovery["authorization_response_iss_parameter_supported"] = DROP
    result = await login(kit, op, iss=None)  # type: ignore[arg-type]
    assert result.claims["sub"] == "user-1"


async def test_refuses_a_wrong_iss_even_when_not_advertised(kit: OIDCAuth, op: FakeOP) -> None:
    op.discovery["authorization_response_iss_parameter_supported"] = DROP
    with pytest.raises(IssuerMismatch):
        await login(kit, op, iss="https://evil.test")


async def test_token_endpoint_refusal_keeps_its_code(kit: OIDCAuth, op: FakeOP) -> None:
    with pytest.raises(TokenRequestFailed) as info:
        await login(kit, op, code="not-a-code")
    assert info.value.code == "invalid_grant"


# -- the ID token ----------------------------------------------------------------------------


async def _refused(kit: OIDCAuth, op: FakeOP, claim: str | None = None) -> InvalidIdToken:
    with pytest.raises(InvalidIdToken) as info:
        await login(kit, op)
    if claim is not None:
        assert claim in info.value.description
    return info.value


async def test_refuses_alg_none(kit: OIDCAuth, op: FakeOP) -> None:
    op.id_header["alg"] = "none"
    await _refused(kit, op, "algorithm")


async def test_refuses_hs256_unless_configured(kit: OIDCAuth, op: FakeOP) -> None:
    op.id_header = {"alg": "HS256", "kid": DROP}
    op.sign_key = hmac_key()
    await _refused(kit, op, "algorithm")


async def test_accepts_hs256_when_configured_for_the_client(
    kit_factory: Callable[..., OIDCAuth], op: FakeOP
) -> None:
    kit = kit_factory(id_token_algs=("HS256",))
    op.discovery["id_token_signing_alg_values_supported"] = ["RS256", "HS256"]
    op.id_header = {"alg": "HS256", "kid": DROP}
    op.sign_key = hmac_key()
    result = await login(kit, op)
    assert result.claims["sub"] == "user-1"


async def test_refuses_an_alg_outside_the_allowlist(
    kit_factory: Callable[..., OIDCAuth], op: FakeOP
) -> None:
    kit = kit_factory(id_token_algs=("PS256",))
    op.discovery["id_token_signing_alg_values_supported"] = ["RS256", "PS256"]
    await _refused(kit, op, "algorithm")  # RS256: the provider's, not the client's


async def test_refuses_a_bad_signature(kit: OIDCAuth, op: FakeOP) -> None:
    op.sign_key = rsa_key("attacker")
    op.id_header["kid"] = op.key.kid
    await _refused(kit, op, "signature")


async def test_refuses_a_wrong_iss_claim(kit: OIDCAuth, op: FakeOP) -> None:
    op.id_claims["iss"] = "https://evil.test"
    await _refused(kit, op, "iss")


async def test_refuses_an_aud_without_the_client(kit: OIDCAuth, op: FakeOP) -> None:
    op.id_claims["aud"] = "someone-else"
    await _refused(kit, op, "aud")


async def test_refuses_extra_audiences_without_azp(kit: OIDCAuth, op: FakeOP) -> None:
    op.id_claims["aud"] = [CLIENT_ID, "someone-else"]
    await _refused(kit, op, "azp")


async def test_accepts_extra_audiences_with_azp_us(kit: OIDCAuth, op: FakeOP) -> None:
    op.id_claims.update(aud=[CLIENT_ID, "someone-else"], azp=CLIENT_ID)
    assert (await login(kit, op)).claims["sub"] == "user-1"


async def test_refuses_an_azp_that_is_not_us(kit: OIDCAuth, op: FakeOP) -> None:
    op.id_claims["azp"] = "someone-else"
    await _refused(kit, op, "azp")


async def test_refuses_a_missing_exp(kit: OIDCAuth, op: FakeOP) -> None:
    op.id_claims["exp"] = DROP
    await _refused(kit, op, "exp")


async def test_refuses_an_expired_id_token(kit: OIDCAuth, op: FakeOP, clock: Clock) -> None:
    op.id_claims["exp"] = int(clock()) - 31
    await _refused(kit, op, "exp")


async def test_accepts_expiry_within_the_leeway(kit: OIDCAuth, op: FakeOP, clock: Clock) -> None:
    op.id_claims["exp"] = int(clock()) - 29
    assert (await login(kit, op)).claims["sub"] == "user-1"


async def test_refuses_a_missing_iat(kit: OIDCAuth, op: FakeOP) -> None:
    op.id_claims["iat"] = DROP
    await _refused(kit, op, "iat")


async def test_refuses_an_iat_in_the_future(kit: OIDCAuth, op: FakeOP, clock: Clock) -> None:
    op.id_claims["iat"] = int(clock()) + 120
    await _refused(kit, op, "iat")


async def test_refuses_a_wrong_nonce(kit: OIDCAuth, op: FakeOP) -> None:
    op.id_claims["nonce"] = "another-login"
    await _refused(kit, op, "nonce")


async def test_refuses_a_missing_nonce(kit: OIDCAuth, op: FakeOP) -> None:
    op.id_claims["nonce"] = DROP
    await _refused(kit, op, "nonce")


async def test_refuses_a_wrong_at_hash(kit: OIDCAuth, op: FakeOP) -> None:
    op.id_claims["at_hash"] = "AAAAAAAAAAAAAAAAAAAAAA"
    await _refused(kit, op, "at_hash")


async def test_refuses_a_missing_sub(kit: OIDCAuth, op: FakeOP) -> None:
    op.id_claims["sub"] = DROP
    await _refused(kit, op, "sub")


async def test_refuses_an_old_auth_time_when_max_age_was_asked(
    kit: OIDCAuth, op: FakeOP, clock: Clock
) -> None:
    op.id_claims["auth_time"] = int(clock()) - 3600
    url = await kit._flow.start("browser-1", max_age=600)
    assert parse_qs(urlsplit(url).query)["max_age"] == ["600"]
    params = {k: [v] for k, v in op.authorize(url).items()}
    with pytest.raises(InvalidIdToken, match="auth_time"):
        await kit._flow.finish(params, "browser-1")


async def test_refuses_a_missing_auth_time_when_max_age_was_asked(
    kit: OIDCAuth, op: FakeOP
) -> None:
    op.id_claims["auth_time"] = DROP
    url = await kit._flow.start("browser-1", max_age=600)
    params = {k: [v] for k, v in op.authorize(url).items()}
    with pytest.raises(InvalidIdToken, match="auth_time"):
        await kit._flow.finish(params, "browser-1")


async def test_refuses_a_missing_id_token(kit: OIDCAuth, op: FakeOP) -> None:
    op.token_body["id_token"] = DROP
    await _refused(kit, op)


async def test_refuses_a_garbage_id_token(kit: OIDCAuth, op: FakeOP) -> None:
    op.token_body["id_token"] = "not.a.jwt"
    await _refused(kit, op)


# -- keys ------------------------------------------------------------------------------------


async def test_refuses_an_unknown_kid_after_one_refetch(
    kit: OIDCAuth, op: FakeOP, clock: Clock
) -> None:
    await login(kit, op)  # caches the JWKS
    clock.advance(kit.config.jwks_refetch_interval + 1)
    op.sign_key = rsa_key("unknown")
    op.id_header["kid"] = "unknown"
    await _refused(kit, op, "key")
    assert op.calls["/jwks"] == 2  # the cached set, then one refetch


async def test_an_id_tokens_unknown_kid_refetches_at_once(
    kit: OIDCAuth, op: FakeOP, clock: Clock
) -> None:
    """ID tokens come from the token endpoint: a new kid means a rotation, not a forgery, so
    the refetch is not rate-limited (logout tokens' are: see test_backchannel.py)."""
    await login(kit, op)
    op.sign_key = rsa_key("unknown")
    op.id_header["kid"] = "unknown"
    await _refused(kit, op, "key")
    assert op.calls["/jwks"] == 2  # fetched moments ago, and refetched all the same


async def test_key_rotation_is_picked_up_by_the_refetch(
    kit: OIDCAuth, op: FakeOP, clock: Clock
) -> None:
    await login(kit, op)  # caches a JWKS holding k1
    clock.advance(kit.config.jwks_refetch_interval + 1)
    new = rsa_key("k2")
    op.jwks_keys = [new, op.key]
    op.key = new
    assert (await login(kit, op)).claims["sub"] == "user-1"


async def test_a_token_without_kid_is_verified_with_a_matching_key(
    kit: OIDCAuth, op: FakeOP
) -> None:
    ec = ECKey.generate_key("P-256", parameters={"kid": "ec", "use": "sig"})
    op.jwks_keys = [ec, op.key]
    op.id_header["kid"] = DROP
    assert (await login(kit, op)).claims["sub"] == "user-1"


async def test_encryption_keys_are_not_used_for_signatures(kit: OIDCAuth, op: FakeOP) -> None:
    op.jwks_raw = [dict(op.key.as_dict(private=False), use="enc")]
    await _refused(kit, op, "key")


async def test_unusable_jwks_entries_are_skipped(kit: OIDCAuth, op: FakeOP) -> None:
    op.jwks_raw = [
        {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
        {"kty": "unknown"},
        "not-a-key",  # type: ignore[list-item]
        op.key.as_dict(private=False),
    ]
    assert (await login(kit, op)).claims["sub"] == "user-1"


# -- userinfo --------------------------------------------------------------------------------


async def test_refuses_a_userinfo_sub_that_differs(kit: OIDCAuth, op: FakeOP) -> None:
    op.userinfo_body["sub"] = "someone-else"
    with pytest.raises(InvalidUserinfo):
        await login(kit, op)


async def test_userinfo_refusing_the_token_keeps_id_token_claims(
    kit: OIDCAuth, op: FakeOP, caplog: pytest.LogCaptureFixture
) -> None:
    op.userinfo_status = 401
    result = await login(kit, op)
    assert "email" not in result.claims
    assert "userinfo refused" in caplog.text


async def test_userinfo_down_fails_the_login_as_unavailable(kit: OIDCAuth, op: FakeOP) -> None:
    op.userinfo_status = 503
    with pytest.raises(ProviderUnavailable):
        await login(kit, op)


async def test_userinfo_is_skipped_without_the_endpoint(kit: OIDCAuth, op: FakeOP) -> None:
    op.discovery["userinfo_endpoint"] = DROP
    await login(kit, op)
    assert op.calls["/userinfo"] == 0


async def test_userinfo_claims_never_override_protocol_claims(kit: OIDCAuth, op: FakeOP) -> None:
    op.userinfo_body.update(iss="https://evil.test", name="From Userinfo")
    result = await login(kit, op)
    assert result.claims["iss"] == ISSUER
    assert result.claims["name"] == "From Userinfo"


def test_fake_provider_s256_agrees_with_the_kit() -> None:
    from authlib.oauth2.rfc7636 import create_s256_code_challenge

    verifier = "x" * 64
    assert s256(verifier) == create_s256_code_challenge(verifier)


# -- added: tests that kill surviving mutants --------------------------------------------------


@pytest.mark.parametrize("url", ["https:///token", "https:token"])
async def test_refuses_discovery_endpoints_without_a_host(
    kit: OIDCAuth, op: FakeOP, url: str
) -> None:
    op.discovery["token_endpoint"] = url
    with pytest.raises(DiscoveryError):
        await kit._flow.start("b")


@pytest.mark.parametrize("name", ["authorization_endpoint", "token_endpoint", "jwks_uri"])
async def test_refuses_discovery_without_a_required_endpoint(
    kit: OIDCAuth, op: FakeOP, name: str
) -> None:
    op.discovery[name] = DROP
    with pytest.raises(DiscoveryError):
        await kit._provider.metadata()


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration", "/jwks"])
async def test_refuses_discovery_or_jwks_answering_an_error_status(
    kit_factory: Callable[..., OIDCAuth], op: FakeOP, path: str
) -> None:
    real = op.handle

    def handle(request: httpx.Request) -> httpx.Response:
        response = real(request)
        if request.url.path == path:  # a usable body, but under a 404
            return httpx.Response(404, json=response.json())
        return response

    op.handle = handle  # type: ignore[method-assign]
    kit = kit_factory()
    with pytest.raises(DiscoveryError):
        await login(kit, op)


async def test_a_key_published_for_another_alg_is_not_used(kit: OIDCAuth, op: FakeOP) -> None:
    op.jwks_raw = [dict(op.key.as_dict(private=False), alg="RS512")]
    await _refused(kit, op, "key")


async def test_concurrent_cold_starts_fetch_discovery_and_jwks_once(
    op: FakeOP, clock: Clock
) -> None:
    class Yielding(httpx.AsyncBaseTransport):
        """The fake provider, yielding to the loop so concurrent callers really overlap."""

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            await request.aread()
            for _ in range(3):
                await asyncio.sleep(0)
            return op.handle(request)

    async with httpx.AsyncClient(transport=Yielding()) as http:
        kit = OIDCAuth(make_config(), http_client=http, store=MemoryStore(), clock=clock)
        found = await asyncio.gather(*(kit._provider.keys("k1", "RS256") for _ in range(5)))
    assert all(len(keys) == 1 for keys in found)
    assert op.calls["/.well-known/openid-configuration"] == 1
    assert op.calls["/jwks"] == 1


async def test_a_token_without_kid_does_not_trigger_a_jwks_refetch(
    kit: OIDCAuth, op: FakeOP, clock: Clock
) -> None:
    op.discovery["id_token_signing_alg_values_supported"] = ["RS256", "ES256"]
    await login(kit, op)  # caches the JWKS: one RSA key
    clock.advance(kit.config.jwks_refetch_interval + 1)
    op.sign_key = ECKey.generate_key("P-256", parameters={"use": "sig"})
    op.id_header = {"alg": "ES256", "kid": DROP}  # no kid, and no EC key published
    await _refused(kit, op, "key")
    assert op.calls["/jwks"] == 1


async def test_refuses_an_empty_sub(kit: OIDCAuth, op: FakeOP) -> None:
    op.id_claims["sub"] = ""
    op.discovery["userinfo_endpoint"] = DROP
    await _refused(kit, op, "sub")


@pytest.mark.parametrize("claim", ["iat", "exp"])
async def test_refuses_a_boolean_time_claim(kit: OIDCAuth, op: FakeOP, claim: str) -> None:
    op.id_claims[claim] = True
    await _refused(kit, op, claim)


async def test_at_hash_uses_the_hash_of_the_id_token_alg(
    kit_factory: Callable[..., OIDCAuth], op: FakeOP
) -> None:
    kit = kit_factory(id_token_algs=("ES384",))
    op.discovery["id_token_signing_alg_values_supported"] = ["ES384"]
    ec = ECKey.generate_key("P-384", parameters={"kid": "ec384", "use": "sig"})
    op.jwks_keys = [ec]
    op.sign_key = ec
    op.id_header = {"alg": "ES384", "kid": "ec384"}
    op.access_token = lambda: "at-fixed-access-token"  # type: ignore[method-assign]
    digest = hashlib.sha384(b"at-fixed-access-token").digest()
    sha384_half = base64.urlsafe_b64encode(digest[:24]).rstrip(b"=").decode()
    op.id_claims["at_hash"] = sha384_half
    assert (await login(kit, op)).claims["sub"] == "user-1"
    digest = hashlib.sha256(b"at-fixed-access-token").digest()
    op.id_claims["at_hash"] = base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    await _refused(kit, op, "at_hash")


async def test_refuses_a_transaction_stored_under_another_state(kit: OIDCAuth, op: FakeOP) -> None:
    url = await kit._flow.start("browser-1")
    params = op.authorize(url)
    raw = await kit.store.take(transaction_key(params["state"]))
    assert raw is not None
    await kit.store.set(transaction_key("forged-state"), raw, 600)  # a store that mixed records up
    params["state"] = "forged-state"
    with pytest.raises(InvalidState):
        await kit._flow.finish({k: [v] for k, v in params.items()}, "browser-1")
    assert op.calls["/token"] == 0


async def test_a_long_error_description_is_truncated(kit: OIDCAuth, op: FakeOP) -> None:
    with pytest.raises(AuthorizationFailed) as info:
        await login(kit, op, error="access_denied", error_description="x" * 5000)
    assert len(info.value.description) <= 200


async def test_userinfo_refusing_the_token_with_403_keeps_id_token_claims(
    kit: OIDCAuth, op: FakeOP
) -> None:
    op.userinfo_status = 403
    result = await login(kit, op)
    assert result.claims["sub"] == "user-1"
    assert "email" not in result.claims


@pytest.mark.parametrize("status", [400, 404, 302])
async def test_userinfo_error_status_fails_the_login(
    kit: OIDCAuth, op: FakeOP, status: int
) -> None:
    op.userinfo_status = status  # the body still carries the right sub
    with pytest.raises(InvalidUserinfo):
        await login(kit, op)


async def test_userinfo_cannot_override_or_add_any_protocol_claim(
    kit: OIDCAuth, op: FakeOP
) -> None:
    op.id_claims.update(acr="urn:mfa", amr=["pwd", "otp"], jti="id-token-jti")
    forged = {
        "iss": "https://evil.test",
        "aud": "evil",
        "exp": 1,
        "iat": 1,
        "nbf": 1,
        "nonce": "evil",
        "azp": "evil",
        "auth_time": 1,
        "at_hash": "evil",
        "sid": "evil-sid",
        "jti": "evil",
        "acr": "urn:weak",
        "amr": ["pwd"],
    }
    op.userinfo_body.update(forged)
    result = await login(kit, op)
    assert result.claims["acr"] == "urn:mfa"
    assert result.claims["amr"] == ["pwd", "otp"]
    assert result.claims["jti"] == "id-token-jti"
    assert result.claims["sid"] == "op-session-1"
    assert result.claims["aud"] == CLIENT_ID
    for name in ("nbf", "nonce", "azp", "at_hash"):
        assert name not in result.claims
    for name in ("exp", "iat", "auth_time"):
        assert result.claims[name] != 1


@pytest.mark.parametrize("expires_in", ["3600", True, [3600]], ids=["string", "bool", "list"])
async def test_refuses_an_expires_in_that_is_not_a_number(
    kit: OIDCAuth, op: FakeOP, expires_in: object
) -> None:
    op.token_body["expires_in"] = expires_in
    with pytest.raises(ProviderError):
        await login(kit, op)


@pytest.mark.parametrize("access_token", [DROP, "", 123], ids=["missing", "empty", "number"])
async def test_refuses_a_token_response_without_an_access_token(
    kit: OIDCAuth, op: FakeOP, access_token: object
) -> None:
    op.token_body["access_token"] = access_token
    with pytest.raises(ProviderError):
        await login(kit, op)


async def test_unknown_token_endpoint_error_codes_are_not_passed_through(
    kit: OIDCAuth, op: FakeOP
) -> None:
    op.token_status = 400
    op.token_body = {"error": "<script>alert(1)</script>"}
    with pytest.raises(TokenRequestFailed) as info:
        await login(kit, op)
    assert info.value.code == "token_request_failed"


@pytest.mark.parametrize("claim", ["nonce", "at_hash"])
async def test_a_non_ascii_claim_is_a_refusal_not_a_crash(
    kit: OIDCAuth, op: FakeOP, claim: str
) -> None:
    op.id_claims[claim] = "caf\u00e9"
    await _refused(kit, op, claim)


async def test_refuses_a_non_ascii_access_token(kit: OIDCAuth, op: FakeOP) -> None:
    op.token_body["access_token"] = "at-caf\u00e9"
    with pytest.raises(ProviderError):
        await login(kit, op)


async def test_the_insecure_switch_allows_http_endpoints_on_loopback_only(
    kit_factory: Callable[..., OIDCAuth], op: FakeOP
) -> None:
    kit = kit_factory(allow_insecure_http=True)
    op.discovery["token_endpoint"] = "http://op.test/token"  # http, and not loopback
    with pytest.raises(DiscoveryError):
        await kit._flow.start("b")
    op.discovery["token_endpoint"] = "http://127.0.0.1:9/token"
    assert (await kit._provider.metadata()).token_endpoint == "http://127.0.0.1:9/token"


@pytest.mark.filterwarnings("ignore:Key size should be")
async def test_a_weak_rsa_key_in_the_jwks_is_not_used(kit: OIDCAuth, op: FakeOP) -> None:
    """A 1024-bit RSA key (RFC 7518 3.3 requires 2048) signs nothing the kit accepts."""
    weak = RSAKey.generate_key(
        1024, parameters={"kid": "weak", "use": "sig", "alg": "RS256"}, private=True
    )
    op.jwks_keys = [weak]
    op.key = weak
    await _refused(kit, op, "key")


async def test_an_ec_key_on_a_curve_no_allowed_alg_uses_is_not_used(
    kit: OIDCAuth, op: FakeOP
) -> None:
    odd = ECKey.generate_key("secp256k1", parameters={"kid": "odd", "use": "sig"})
    op.jwks_keys = [odd, op.key]
    assert (await login(kit, op)).claims["sub"] == "user-1"  # the RSA key still verifies
    assert [key.kid for key in await kit._provider.keys("odd", "ES256")] == []
