"""OIDCConfig: refuse-by-default validation, ``from_env``, derived values, no secrets in repr."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from oidc_kit._config import OIDCConfig
from oidc_kit._errors import ConfigurationError
from oidc_kit._provider_config import DEFAULT_ID_TOKEN_ALGS

SECRET = "a-session-secret-of-enough-length"
CLIENT_SECRET = "client-secret-do-not-print-me"


def make(**changes: Any) -> OIDCConfig:
    """A valid config with ``changes`` applied."""
    values: dict[str, Any] = {
        "issuer": "https://op.example.com",
        "client_id": "app",
        "base_url": "https://app.example.com",
        "session_secrets": (SECRET,),
    }
    values.update(changes)
    return OIDCConfig(**values)


def env(**changes: str) -> dict[str, str]:
    """A minimal valid environment with ``changes`` applied."""
    values = {
        "OIDC_ISSUER": "https://op.example.com",
        "OIDC_CLIENT_ID": "app",
        "APP_BASE_URL": "https://app.example.com",
        "SESSION_SECRET": SECRET,
    }
    values.update(changes)
    return values


# --- issuer URL ---------------------------------------------------------------------------------


def test_https_issuer_is_accepted() -> None:
    assert make().issuer == "https://op.example.com"


@pytest.mark.parametrize("issuer", ["http://op.example.com", "http://127.0.0.1:9000"])
def test_http_issuer_is_refused_by_default(issuer: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        make(issuer=issuer)
    assert info.value.code == "configuration_error"
    assert info.value.actual == issuer


@pytest.mark.parametrize(
    "issuer", ["http://127.0.0.1", "http://127.0.0.1:9000/realms/x", "http://localhost:8080"]
)
def test_loopback_http_issuer_is_allowed_with_the_switch(issuer: str) -> None:
    assert make(issuer=issuer, allow_insecure_http=True).issuer == issuer


@pytest.mark.parametrize(
    "issuer",
    [
        "http://example.com",
        "http://127.0.0.1.example.com",
        "http://localhost.example.com",
        "http://127.0.0.1@example.com",
    ],
)
def test_non_loopback_http_issuer_is_refused_even_with_the_switch(issuer: str) -> None:
    with pytest.raises(ConfigurationError):
        make(issuer=issuer, allow_insecure_http=True)


@pytest.mark.parametrize(
    "issuer",
    ["op.example.com", "ftp://op.example.com", "https://", "https://op/?a=1", "https://op/#f"],
)
def test_malformed_issuer_is_refused(issuer: str) -> None:
    with pytest.raises(ConfigurationError):
        make(issuer=issuer)


def test_base_url_trailing_slash_is_dropped() -> None:
    assert make(base_url="https://app.example.com/").base_url == "https://app.example.com"


# --- ID token algorithms ------------------------------------------------------------------------


def test_default_algs_are_asymmetric() -> None:
    assert make().id_token_algs is None  # unset: the profile's default is in force
    assert make().id_token_allowlist == DEFAULT_ID_TOKEN_ALGS
    assert not any(alg.startswith("HS") or alg == "none" for alg in DEFAULT_ID_TOKEN_ALGS)


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_none_alg_is_refused(alg: str) -> None:
    with pytest.raises(ConfigurationError):
        make(id_token_algs=("RS256", alg))


def test_unknown_alg_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        make(id_token_algs=("XS999",))


def test_empty_alg_list_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        make(id_token_algs=())


@pytest.mark.parametrize("client_secret", [None, ""])
def test_hs256_without_client_secret_is_refused(client_secret: str | None) -> None:
    with pytest.raises(ConfigurationError):
        make(id_token_algs=("HS256",), client_secret=client_secret)


def test_hs256_with_client_secret_is_accepted() -> None:
    config = make(id_token_algs=("RS256", "HS256"), client_secret=CLIENT_SECRET)
    assert config.id_token_algs == ("RS256", "HS256")


def test_the_registered_id_token_alg_is_read_from_the_environment() -> None:
    assert OIDCConfig.from_env(env()).id_token_alg is None
    assert OIDCConfig.from_env(env(OIDC_ID_TOKEN_ALG=" ES256 ")).id_token_alg == "ES256"


@pytest.mark.parametrize(
    ("alg", "client_secret"),
    [("none", CLIENT_SECRET), ("XS999", CLIENT_SECRET), ("HS256", None), ("es256", None)],
)
def test_a_registered_id_token_alg_the_kit_refuses_is_refused(
    alg: str, client_secret: str | None
) -> None:
    """The registration cannot bring in what the kit's rules refuse: ``none``, unknown
    names, HS* without the secret that keys them."""
    with pytest.raises(ConfigurationError, match="OIDC_ID_TOKEN_ALG"):
        make(id_token_alg=alg, client_secret=client_secret)


@pytest.mark.parametrize("alg", ["RS384", "HS256"])
def test_a_registered_id_token_alg_the_kit_allows_is_kept(alg: str) -> None:
    assert make(id_token_alg=alg, client_secret=CLIENT_SECRET).id_token_alg == alg


# --- scopes, secrets, leeways -------------------------------------------------------------------


def test_openid_scope_is_added() -> None:
    assert make(scopes=("profile", "email")).scopes == ("openid", "profile", "email")


def test_openid_scope_is_not_duplicated() -> None:
    assert make(scopes=("profile", "openid")).scopes == ("profile", "openid")


@pytest.mark.parametrize("secrets", [(), ("short",), (SECRET, "x" * 15)])
def test_short_or_missing_session_secret_is_refused(secrets: tuple[str, ...]) -> None:
    with pytest.raises(ConfigurationError) as info:
        make(session_secrets=secrets)
    assert not any(secret in str(info.value) for secret in secrets)


def test_sixteen_character_secret_is_enough() -> None:
    assert make(session_secrets=("x" * 16,)).session_secrets == ("x" * 16,)


@pytest.mark.parametrize("field", ["refresh_leeway", "clock_leeway"])
def test_negative_leeway_is_refused(field: str) -> None:
    with pytest.raises(ConfigurationError):
        make(**{field: -1})


def test_config_is_frozen() -> None:
    config = make()
    with pytest.raises(AttributeError):
        config.issuer = "https://evil.example.com"  # type: ignore[misc]


# --- derived values -----------------------------------------------------------------------------


def test_redirect_uri() -> None:
    assert make(base_url="https://app.example.com/").redirect_uri == (
        "https://app.example.com/auth/callback"
    )
    assert make(base_url="https://app.example.com/shop").redirect_uri == (
        "https://app.example.com/shop/auth/callback"
    )


def test_secure_cookies_follow_the_base_url_scheme() -> None:
    assert make(base_url="https://app.example.com").secure_cookies is True
    assert make(base_url="http://127.0.0.1:8000").secure_cookies is False


def test_repr_hides_secrets() -> None:
    config = make(client_secret=CLIENT_SECRET)
    assert CLIENT_SECRET not in repr(config)
    assert SECRET not in repr(config)
    assert CLIENT_SECRET not in str(config)
    assert "op.example.com" in repr(config)


# --- from_env -----------------------------------------------------------------------------------


def test_from_env_reads_every_documented_variable() -> None:
    config = OIDCConfig.from_env(
        env(
            OIDC_ISSUER="http://127.0.0.1:9000",
            OIDC_CLIENT_ID="my-client",
            OIDC_CLIENT_SECRET=CLIENT_SECRET,
            OIDC_SCOPES="openid profile  accounts:read",
            APP_BASE_URL="https://bank.example.com",
            SESSION_SECRET="new-secret-0123456789 old-secret-0123456789",
            OIDC_REFRESH_LEEWAY="45",
            OIDC_ALLOW_INSECURE_HTTP="1",
            SESSION_STORE="memory://",
        )
    )
    assert config.issuer == "http://127.0.0.1:9000"
    assert config.client_id == "my-client"
    assert config.client_secret == CLIENT_SECRET
    assert config.scopes == ("openid", "profile", "accounts:read")
    assert config.base_url == "https://bank.example.com"
    assert config.session_secrets == ("new-secret-0123456789", "old-secret-0123456789")
    assert config.refresh_leeway == 45
    assert config.allow_insecure_http is True
    assert config.session_store == "memory://"


def test_from_env_secret_list_accepts_commas() -> None:
    config = OIDCConfig.from_env(env(SESSION_SECRET="new-secret-0123456789,old-secret-0123456789"))
    assert config.session_secrets == ("new-secret-0123456789", "old-secret-0123456789")


def test_from_env_scopes_get_openid() -> None:
    assert OIDCConfig.from_env(env(OIDC_SCOPES="profile email")).scopes == (
        "openid",
        "profile",
        "email",
    )


def test_from_env_defaults() -> None:
    config = OIDCConfig.from_env(env())
    assert config.client_secret is None
    assert config.scopes == ("openid",)
    assert config.refresh_leeway == 30
    assert config.allow_insecure_http is False


@pytest.mark.parametrize("flag", ["0", "", "no", "false"])
def test_from_env_insecure_http_stays_off(flag: str) -> None:
    assert OIDCConfig.from_env(env(OIDC_ALLOW_INSECURE_HTTP=flag)).allow_insecure_http is False


def test_from_env_http_issuer_without_the_flag_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        OIDCConfig.from_env(env(OIDC_ISSUER="http://127.0.0.1:9000"))


@pytest.mark.parametrize("value", ["soon", "1.5", "30s"])
def test_from_env_non_number_leeway_is_refused(value: str) -> None:
    with pytest.raises(ConfigurationError, match="OIDC_REFRESH_LEEWAY"):
        OIDCConfig.from_env(env(OIDC_REFRESH_LEEWAY=value))


def test_from_env_non_number_timeout_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="OIDC_HTTP_TIMEOUT"):
        OIDCConfig.from_env(env(OIDC_HTTP_TIMEOUT="fast"))


@pytest.mark.parametrize("missing", ["OIDC_ISSUER", "OIDC_CLIENT_ID", "APP_BASE_URL"])
def test_from_env_required_variables(missing: str) -> None:
    values = env()
    del values[missing]
    with pytest.raises(ConfigurationError, match=missing):
        OIDCConfig.from_env(values)


def test_from_env_without_session_secret_makes_one_and_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    values = env()
    del values["SESSION_SECRET"]
    with caplog.at_level(logging.WARNING, logger="oidc_kit"):
        first = OIDCConfig.from_env(values)
        second = OIDCConfig.from_env(values)
    assert len(first.session_secrets) == 1
    assert len(first.session_secrets[0]) >= 32
    assert first.session_secrets != second.session_secrets
    warnings = [r for r in caplog.records if "SESSION_SECRET" in r.getMessage()]
    assert len(warnings) == 2
    assert all(r.levelno == logging.WARNING for r in warnings)
    assert first.session_secrets[0] not in caplog.text


def test_from_env_blank_session_secret_counts_as_missing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="oidc_kit"):
        config = OIDCConfig.from_env(env(SESSION_SECRET="   "))
    assert len(config.session_secrets) == 1
    assert "SESSION_SECRET" in caplog.text


def test_from_env_with_session_secret_does_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="oidc_kit"):
        OIDCConfig.from_env(env())
    assert caplog.records == []


def test_from_env_overrides_win() -> None:
    config = OIDCConfig.from_env(
        env(OIDC_ISSUER="https://op.example.com", OIDC_REFRESH_LEEWAY="45"),
        issuer="http://127.0.0.1:9000",
        allow_insecure_http=True,
        refresh_leeway=10,
    )
    assert config.issuer == "http://127.0.0.1:9000"
    assert config.refresh_leeway == 10


def test_from_env_overrides_fill_missing_variables(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="oidc_kit"):
        config = OIDCConfig.from_env(
            {}, issuer="https://op.example.com", client_id="c", base_url="https://a.example"
        )
    assert config.client_id == "c"
    assert "SESSION_SECRET" in caplog.text


def test_from_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in env(OIDC_CLIENT_ID="from-os-environ").items():
        monkeypatch.setenv(name, value)
    assert OIDCConfig.from_env().client_id == "from-os-environ"


def test_from_env_repr_hides_secrets() -> None:
    config = OIDCConfig.from_env(env(OIDC_CLIENT_SECRET=CLIENT_SECRET))
    assert CLIENT_SECRET not in repr(config)
    assert SECRET not in repr(config)
