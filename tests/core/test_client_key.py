"""The client's own key (``private_key_jwt``) and the ``fapi2`` profile's configuration rules.

A bank-grade setting must fail at start-up, with a clear message, when it cannot hold: no key
under the profile, a weak or wrong key, an algorithm FAPI 2.0 forbids. And the private key
never leaves the process: not in a ``repr``, not in the JWKS the app publishes.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey
from starlette.applications import Starlette
from starlette.routing import Mount

from oidc_kit import ConfigurationError, MemoryStore, OIDCConfig
from oidc_kit._client_key import ASSERTION_LIFETIME, ClientKey
from oidc_kit._provider_config import FAPI2_ID_TOKEN_ALGS
from oidc_kit.starlette import OIDCAuth
from tests.conftest import SECRET, make_config
from tests.fake_op import CLIENT_ID, ISSUER

_KEYS: dict[str, Any] = {}

#: JWK members that belong to a private key only (RFC 7518 6.2.2, 6.3.2).
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")


def ec_key() -> ECKey:
    if "ec" not in _KEYS:
        _KEYS["ec"] = ECKey.generate_key("P-256", private=True)
    key: ECKey = _KEYS["ec"]
    return key


def rsa_2048() -> RSAKey:
    if "rsa" not in _KEYS:
        _KEYS["rsa"] = RSAKey.generate_key(2048, private=True)
    key: RSAKey = _KEYS["rsa"]
    return key


def pem(key: ECKey | RSAKey) -> str:
    return key.as_pem(private=True).decode()


def fapi2(**overrides: Any) -> OIDCConfig:
    values: dict[str, Any] = {"profile": "fapi2", "client_key": pem(ec_key())}
    values.update(overrides)
    return make_config(**values)


# -- the fapi2 profile ----------------------------------------------------------------------


def test_fapi2_turns_on_par_dpop_and_its_algorithms() -> None:
    config = fapi2()
    assert config.fapi2
    assert config.uses_par is True
    assert config.uses_dpop is True
    assert config.id_token_allowlist == FAPI2_ID_TOKEN_ALGS
    assert config.signing_key is not None
    # Computed, never written in: the settings stay what the user said (unset).
    assert (config.par, config.dpop, config.id_token_algs) == (None, None, None)


def test_fapi2_without_a_client_key_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="client_key"):
        make_config(profile="fapi2")


@pytest.mark.parametrize("algs", [("RS256",), ("PS256", "RS256"), ("HS256",)])
def test_fapi2_with_an_algorithm_it_forbids_is_refused(algs: tuple[str, ...]) -> None:
    with pytest.raises(ConfigurationError, match="PS256, ES256 and EdDSA") as info:
        fapi2(id_token_algs=algs)
    assert info.value.actual == [a for a in algs if a not in FAPI2_ID_TOKEN_ALGS]


def test_fapi2_with_a_subset_of_its_algorithms_is_kept() -> None:
    assert fapi2(id_token_algs=("ES256",)).id_token_allowlist == ("ES256",)


@pytest.mark.parametrize("alg", ["RS256", "HS256", "ES384"])
def test_fapi2_with_a_registered_alg_it_forbids_is_refused(alg: str) -> None:
    with pytest.raises(ConfigurationError, match="PS256, ES256 and EdDSA") as info:
        fapi2(id_token_alg=alg, client_secret="a-client-secret-0123456789")
    assert info.value.actual == [alg]


def test_fapi2_with_a_registered_fapi2_alg_is_kept() -> None:
    assert fapi2(id_token_alg="PS256").id_token_alg == "PS256"


@pytest.mark.parametrize("profile", ["fapi", "FAPI2", "fapi1", ""])
def test_an_unknown_profile_is_refused(profile: str) -> None:
    with pytest.raises(ConfigurationError, match="profile"):
        make_config(profile=profile)


def test_a_client_key_without_the_profile_means_private_key_jwt_only() -> None:
    config = make_config(client_key=pem(ec_key()))
    assert not config.fapi2
    assert config.signing_key is not None
    assert config.uses_par is False
    assert config.uses_dpop is False


# -- what a client key may be --------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Key size should be:joserfc.errors.SecurityWarning")
def test_rsa_1024_is_refused() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (the weak key under test)
    text = weak.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    with pytest.raises(ConfigurationError, match="2048"):
        ClientKey.load(text)
    with pytest.raises(ConfigurationError, match="2048"):
        fapi2(client_key=text)


@pytest.mark.parametrize("curve", [ec.SECP384R1(), ec.SECP521R1(), ec.SECP256K1()])
def test_an_ec_key_off_p256_is_refused(curve: ec.EllipticCurve) -> None:
    key = ec.generate_private_key(curve)
    text = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    with pytest.raises(ConfigurationError):
        ClientKey.load(text)


@pytest.mark.parametrize("kind", ["ec", "rsa"])
@pytest.mark.parametrize("form", ["pem", "jwk"])
def test_a_public_key_is_refused(kind: str, form: str) -> None:
    key = ec_key() if kind == "ec" else rsa_2048()
    text = (
        key.as_pem(private=False).decode()
        if form == "pem"
        else json.dumps(key.as_dict(private=False))
    )
    with pytest.raises(ConfigurationError, match="private"):
        ClientKey.load(text)


@pytest.mark.parametrize(
    "text",
    ["not a key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", '{"kty": "oct"}'],
    ids=["garbage-path", "bad-pem", "oct-jwk"],
)
def test_garbage_is_refused_without_echoing_it(text: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        ClientKey.load(text)
    assert "AAAA" not in str(info.value)


def test_a_missing_key_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        ClientKey.load(str(tmp_path / "missing.pem"))


@pytest.mark.parametrize("kind", ["ec", "rsa"])
@pytest.mark.parametrize("form", ["inline-pem", "pem-file", "inline-jwk", "jwk-file"])
def test_the_key_loads_from_pem_or_jwk_inline_or_file(tmp_path: Path, kind: str, form: str) -> None:
    key = ec_key() if kind == "ec" else rsa_2048()
    text = (
        pem(key)
        if form.startswith(("inline-pem", "pem"))
        else json.dumps(key.as_dict(private=True))
    )
    source = text
    if form.endswith("file"):
        path = tmp_path / ("client.pem" if form == "pem-file" else "client.jwk")
        path.write_text(text + "\n")
        source = str(path)
    loaded = ClientKey.load(source)
    assert loaded.alg == ("ES256" if kind == "ec" else "PS256")
    assert loaded.kid == key.thumbprint()  # RFC 7638: the key's own thumbprint
    assert loaded.key.is_private


def test_the_key_loads_with_surrounding_whitespace() -> None:
    assert ClientKey.load("\n  " + pem(ec_key()) + "\n\n").kid == ec_key().thumbprint()


# -- the assertion ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_an_assertion_is_what_rfc_7523_and_fapi2_ask(kind: str) -> None:
    key = ec_key() if kind == "ec" else rsa_2048()
    client = ClientKey.load(pem(key))
    token = client.assertion(CLIENT_ID, ISSUER, now=1_800_000_000)
    jwks: Any = client.public_jwks()
    public = KeySet.import_key_set(jwks)
    decoded = jwt.decode(token, public, algorithms=[client.alg])
    assert decoded.header["alg"] == client.alg
    assert decoded.header["kid"] == key.thumbprint()
    claims = decoded.claims
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["aud"] == ISSUER
    assert claims["iat"] == 1_800_000_000
    assert claims["exp"] - claims["iat"] == ASSERTION_LIFETIME <= 60
    assert len(claims["jti"]) >= 22


def test_every_assertion_has_its_own_jti() -> None:
    client = ClientKey.load(pem(ec_key()))
    jtis = {
        jwt.decode(client.assertion(CLIENT_ID, ISSUER), ec_key()).claims["jti"] for _ in range(50)
    }
    assert len(jtis) == 50


# -- environment -------------------------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    return {
        "OIDC_ISSUER": ISSUER,
        "OIDC_CLIENT_ID": CLIENT_ID,
        "APP_BASE_URL": "https://app.test",
        "SESSION_SECRET": SECRET,
        **extra,
    }


def test_the_environment_sets_the_profile_and_key(tmp_path: Path) -> None:
    path = tmp_path / "client.pem"
    path.write_text(pem(rsa_2048()))
    config = OIDCConfig.from_env(_env(OIDC_PROFILE="fapi2", OIDC_CLIENT_KEY=str(path)))
    assert config.fapi2
    assert config.signing_key is not None
    assert config.signing_key.alg == "PS256"
    assert config.uses_par and config.uses_dpop


def test_the_environment_takes_an_inline_pem_key() -> None:
    config = OIDCConfig.from_env(_env(OIDC_CLIENT_KEY=pem(ec_key())))
    assert config.signing_key is not None
    assert config.signing_key.kid == ec_key().thumbprint()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("true", True), ("YES", True), ("on", True), ("0", False), ("no", False)],
)
def test_the_environment_sets_par_and_dpop(raw: str, expected: bool) -> None:
    config = OIDCConfig.from_env(_env(OIDC_PAR=raw, OIDC_DPOP=raw))
    assert config.par is expected
    assert config.dpop is expected
    assert config.uses_par is expected
    assert config.uses_dpop is expected
    assert config.profile is None


def test_the_environment_profile_without_key_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="OIDC_CLIENT_KEY"):
        OIDCConfig.from_env(_env(OIDC_PROFILE="fapi2"))


# -- the key never shows -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_repr_never_shows_the_key(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    key = ec_key() if kind == "ec" else rsa_2048()
    config = fapi2(client_key=pem(key))
    private = key.as_dict(private=True)
    secrets = [str(private[m]) for m in PRIVATE_MEMBERS if m in private]
    body = "".join(pem(key).splitlines()[1:-1])
    caplog.set_level(logging.DEBUG)
    logging.getLogger("oidc_kit").debug("config %r %s", config, config)
    for shown in (repr(config), str(config), repr(config.signing_key), caplog.text):
        assert "PRIVATE KEY" not in shown
        assert body[:40] not in shown
        for secret in secrets:
            assert secret not in shown


async def _get_jwks(config: OIDCConfig) -> httpx.Response:
    kit = OIDCAuth(config, store=MemoryStore())
    app = Starlette(routes=[Mount("/auth", routes=kit.routes)], middleware=[kit.middleware])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://app.test") as client:
        return await client.get("/auth/jwks")


@pytest.mark.parametrize("kind", ["ec", "rsa"])
async def test_jwks_serves_only_the_public_key(kind: str) -> None:
    key = ec_key() if kind == "ec" else rsa_2048()
    response = await _get_jwks(fapi2(client_key=pem(key)))
    assert response.status_code == 200
    (published,) = response.json()["keys"]
    assert not set(PRIVATE_MEMBERS) & set(published)
    assert published["kid"] == key.thumbprint()
    assert published["use"] == "sig"
    assert published["alg"] == ("ES256" if kind == "ec" else "PS256")
    assert published == {
        **key.as_dict(private=False),
        "kid": key.thumbprint(),
        "alg": published["alg"],
        "use": "sig",
    }


async def test_jwks_is_404_without_a_client_key() -> None:
    response = await _get_jwks(make_config())
    assert response.status_code == 404


def test_client_authentications_never_show_the_secret() -> None:
    from oidc_kit._client_auth import ClientSecretBasic, ClientSecretPost

    for auth in (ClientSecretBasic("app", "s3cret-value"), ClientSecretPost("app", "s3cret-value")):
        assert "s3cret-value" not in repr(auth) and "s3cret-value" not in str(auth)
