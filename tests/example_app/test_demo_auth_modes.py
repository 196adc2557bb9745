"""Which sandbox the offline demo runs, from the kit's own settings (issue 19): the default
unchanged, ``client_secret_jwt`` with a secret long enough for HS256, mutual TLS only where
it can work. The processes themselves are in test_example_modes.py (slow)."""

from __future__ import annotations

import pytest

from example_app.app import create_app
from example_app.settings import SANDBOX_CLIENT_SECRET, Settings
from oidc_kit import ConfigurationError

MTLS = {"OIDC_TOKEN_AUTH_METHOD": "tls_client_auth"}


def test_the_default_demo_is_unchanged() -> None:
    settings = Settings.from_env({})
    assert not settings.mtls
    assert settings.sandbox_client_secret == SANDBOX_CLIENT_SECRET
    assert settings.issuer == "http://127.0.0.1:8000/sandbox/op"


def test_client_secret_jwt_gets_a_secret_long_enough_for_hs256() -> None:
    settings = Settings.from_env({"OIDC_TOKEN_AUTH_METHOD": "client_secret_jwt"})
    secret = settings.sandbox_client_secret
    assert secret is not None and len(secret.encode()) >= 32
    config = settings.oidc_config({"OIDC_TOKEN_AUTH_METHOD": "client_secret_jwt"})
    assert config.client_secret == secret  # the kit accepts it: no refusal at start


@pytest.mark.parametrize(
    "env", [MTLS, {"OIDC_MTLS_BOUND_TOKENS": "1"}, {"OIDC_MTLS_BOUND_TOKENS": "true"}]
)
def test_mutual_tls_with_the_sandbox_provider(env: dict[str, str]) -> None:
    assert Settings.from_env(env).mtls
    # A real provider: the kit's settings are the user's, no sandbox, no TLS of ours.
    assert not Settings.from_env({**env, "OIDC_ISSUER": "https://op.example"}).mtls


def test_tls_client_auth_has_no_secret() -> None:
    assert Settings.from_env(MTLS).sandbox_client_secret is None


@pytest.mark.parametrize(
    "env",
    [
        # Another machine's browser could not reach the TLS server on 127.0.0.1.
        {"APP_BASE_URL": "http://10.1.2.3:8000", "SANDBOX_ALLOW_PUBLIC": "1"},
        # The sandbox's bound tokens mean nothing to a real ORCA.
        {"ORCA_API_BASE": "https://api.portx.io/orca/v1"},
        # The test CA issues the certificate: no self-signed one in the demo.
        {"OIDC_TOKEN_AUTH_METHOD": "self_signed_tls_client_auth"},
    ],
)
def test_the_mtls_demo_refuses_what_it_cannot_show(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match=r"mutual[ -]TLS"):
        create_app({**MTLS, "SESSION_STORE": "memory://", **env})
