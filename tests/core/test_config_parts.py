"""Configuration in two parts: ``ProviderConfig`` (what a client of the provider needs) and
``AppConfig`` (the app's sessions, cookies, routes), which ``OIDCConfig`` joins."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from oidc_kit import AppConfig, ConfigurationError, OIDCConfig, ProviderConfig
from oidc_kit.starlette import OIDCAuth

SECRET = "a-session-secret-of-enough-length"
PROVIDER_ENV = {"OIDC_ISSUER": "https://op.example.com", "OIDC_CLIENT_ID": "app"}
APP_ENV = {"APP_BASE_URL": "https://app.example.com", "SESSION_SECRET": SECRET}


def names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def test_the_parts_share_no_setting_and_the_whole_has_both() -> None:
    assert not names(ProviderConfig) & names(AppConfig)
    assert names(OIDCConfig) == names(ProviderConfig) | names(AppConfig)
    assert "base_url" not in names(ProviderConfig) and "session_secrets" not in names(
        ProviderConfig
    )
    assert "issuer" not in names(AppConfig) and "client_secret" not in names(AppConfig)


def test_provider_settings_from_their_variables_alone(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="oidc_kit")
    # The app's variables, even ones the app would refuse, are not read.
    env = PROVIDER_ENV | {"APP_BASE_URL": "not a URL", "SESSION_SECRET": "short"}
    provider = ProviderConfig.from_env(env, scopes=("accounts:read",))
    assert provider.issuer == "https://op.example.com"
    assert provider.scopes == ("openid", "accounts:read")
    assert not caplog.records  # no word about sessions a provider client never keeps


def test_app_settings_from_their_variables_alone() -> None:
    app = AppConfig.from_env(APP_ENV | {"OIDC_ISSUER": "http://not-checked", "OIDC_PAR": "x"})
    assert app.redirect_uri == "https://app.example.com/auth/callback"
    with pytest.raises(ConfigurationError, match="APP_BASE_URL is not set"):
        AppConfig.from_env({"SESSION_SECRET": SECRET})


def test_app_settings_without_a_secret_get_a_random_one_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="oidc_kit")
    app = AppConfig.from_env({"APP_BASE_URL": "https://app.example.com"})
    assert len(app.session_secrets) == 1 and len(app.session_secrets[0]) >= 32
    assert "SESSION_SECRET is not set" in caplog.text


def test_each_part_checks_its_own_settings() -> None:
    with pytest.raises(ConfigurationError, match="http:// issuer"):
        ProviderConfig(issuer="http://op.example.com", client_id="app")
    with pytest.raises(ConfigurationError, match="set client_key"):
        ProviderConfig(issuer="https://op.example.com", client_id="app", profile="fapi2")
    with pytest.raises(ConfigurationError, match="at least 16"):
        AppConfig(base_url="https://app.example.com", session_secrets=("short",))
    with pytest.raises(ConfigurationError, match="cookie_samesite"):
        AppConfig(
            base_url="https://app.example.com", session_secrets=(SECRET,), cookie_samesite="none"
        )


def test_the_whole_is_the_join_of_its_parts() -> None:
    whole = OIDCConfig.from_env(PROVIDER_ENV | APP_ENV | {"OIDC_ROUTE_PREFIX": "/sso"})
    assert isinstance(whole, ProviderConfig) and isinstance(whole, AppConfig)
    assert whole.provider == ProviderConfig.from_env(PROVIDER_ENV)
    assert whole.app == AppConfig.from_env(APP_ENV | {"OIDC_ROUTE_PREFIX": "/sso"})
    assert OIDCConfig.join(whole.app, whole.provider) == whole
    # The whole checks what each part checks.
    with pytest.raises(ConfigurationError, match="at least 16"):
        dataclasses.replace(whole, session_secrets=("short",))
    with pytest.raises(ConfigurationError, match="http:// issuer"):
        dataclasses.replace(whole, issuer="http://op.example.com")


def test_several_providers_share_one_app_part() -> None:
    app = AppConfig(base_url="https://app.example.com", session_secrets=(SECRET,))
    portx = ProviderConfig(issuer="https://op.example.com", client_id="app")
    corp = ProviderConfig(issuer="https://corp.example.com", client_id="staff", http_timeout=3)
    auth = OIDCAuth({"portx": OIDCConfig.join(app, portx), "corp": OIDCConfig.join(app, corp)})
    assert auth.providers["corp"].provider == corp
    # An app setting that differs between providers is refused, naming it.
    other = dataclasses.replace(app, cookie_name="other")
    with pytest.raises(ConfigurationError, match="cookie_name, an app-wide setting"):
        OIDCAuth({"portx": OIDCConfig.join(app, portx), "corp": OIDCConfig.join(other, corp)})
