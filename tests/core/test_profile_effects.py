"""The FAPI 2.0 profile's effects are computed, never written into the settings.

``par``, ``dpop`` and ``id_token_algs`` stay what the user said (unset: the profile decides);
``uses_par``, ``uses_dpop`` and ``id_token_allowlist`` are what is in force. So
``dataclasses.replace(config, profile=None)`` leaves no trace of the profile, and a setting
that contradicts the profile is refused, naming both, rather than silently overridden.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from joserfc.jwk import ECKey

from oidc_kit import ConfigurationError, OIDCConfig
from oidc_kit._provider_config import DEFAULT_ID_TOKEN_ALGS, FAPI2_ID_TOKEN_ALGS
from tests.conftest import SECRET, make_config
from tests.fake_op import CLIENT_ID, ISSUER

KEY = json.dumps(ECKey.generate_key("P-256", private=True).as_dict(private=True))


def fapi2(**overrides: Any) -> OIDCConfig:
    return make_config(**({"profile": "fapi2", "client_key": KEY} | overrides))


def _env(**extra: str) -> dict[str, str]:
    return {
        "OIDC_ISSUER": ISSUER,
        "OIDC_CLIENT_ID": CLIENT_ID,
        "APP_BASE_URL": "https://app.test",
        "SESSION_SECRET": SECRET,
        "OIDC_PROFILE": "fapi2",
        "OIDC_CLIENT_KEY": KEY,
        **extra,
    }


def test_replace_without_the_profile_drops_its_effects() -> None:
    plain = dataclasses.replace(fapi2(), profile=None)
    assert (plain.uses_par, plain.uses_dpop) == (False, False)
    assert plain.id_token_allowlist == DEFAULT_ID_TOKEN_ALGS
    assert plain.signing_key is not None  # the key stays: private_key_jwt, nothing more


def test_replace_with_the_profile_brings_its_effects() -> None:
    config = dataclasses.replace(make_config(), profile="fapi2", client_key=KEY)
    assert (config.uses_par, config.uses_dpop) == (True, True)
    assert config.id_token_allowlist == FAPI2_ID_TOKEN_ALGS


@pytest.mark.parametrize("name", ["par", "dpop"])
def test_turning_off_what_the_profile_requires_is_refused(name: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        fapi2(**{name: False})
    assert f"{name}=False" in info.value.description
    assert "profile=fapi2" in info.value.description


@pytest.mark.parametrize(("name", "variable"), [("par", "OIDC_PAR"), ("dpop", "OIDC_DPOP")])
def test_the_environment_cannot_turn_them_off_under_the_profile(name: str, variable: str) -> None:
    """``OIDC_PROFILE=fapi2`` with ``OIDC_PAR=0`` used to push anyway: now it is an error
    naming both variables."""
    with pytest.raises(ConfigurationError) as info:
        OIDCConfig.from_env(_env(**{variable: "0"}))
    assert f"{variable}=0" in info.value.description
    assert "OIDC_PROFILE" in info.value.description


@pytest.mark.parametrize("name", ["par", "dpop"])
def test_saying_what_the_profile_says_is_fine(name: str) -> None:
    config = fapi2(**{name: True})
    assert config.uses_par and config.uses_dpop


def test_the_default_algorithm_list_is_not_recognised_by_value() -> None:
    """Naming the kit's default list under the profile names RS256: refused, where it used
    to be taken for "unset" and narrowed."""
    with pytest.raises(ConfigurationError, match="PS256, ES256 and EdDSA") as info:
        fapi2(id_token_algs=DEFAULT_ID_TOKEN_ALGS)
    assert info.value.actual == ["RS256"]
    assert "id_token_algs (OIDC_ID_TOKEN_ALGS)" in info.value.description
    assert "profile=fapi2 (OIDC_PROFILE)" in info.value.description


def test_the_settings_stay_what_was_said() -> None:
    config = fapi2()
    assert (config.par, config.dpop, config.id_token_algs) == (None, None, None)
    assert fapi2(id_token_algs=("ES256",)).id_token_allowlist == ("ES256",)


def test_without_the_profile_par_and_dpop_are_the_settings() -> None:
    assert (make_config().uses_par, make_config().uses_dpop) == (False, False)
    config = make_config(par=True, dpop=True)
    assert (config.uses_par, config.uses_dpop) == (True, True)
    assert dataclasses.replace(config, par=None).uses_par is False
