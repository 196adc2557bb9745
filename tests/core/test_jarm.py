"""JARM settings and the form_post.jwt re-post, at the core (the end-to-end refusals are in
tests/conformance/test_jarm_rp.py)."""

from __future__ import annotations

import pytest

from oidc_kit import ConfigurationError, OIDCConfig
from oidc_kit._form_post import needs_repost
from oidc_kit._jarm import uses_jarm
from tests.conftest import make_config


@pytest.mark.parametrize("mode", ["query.jwt", "form_post.jwt", "jwt"])
def test_jarm_response_modes_are_accepted(mode: str) -> None:
    assert make_config(response_mode=mode).response_mode == mode
    assert uses_jarm(mode)


@pytest.mark.parametrize("mode", [None, "query", "form_post"])
def test_plain_response_modes_are_not_jarm(mode: str | None) -> None:
    assert not uses_jarm(make_config(response_mode=mode).response_mode)


def test_fragment_jwt_is_refused_with_the_reason() -> None:
    """A fragment never reaches the server: a clear refusal naming the variable."""
    with pytest.raises(ConfigurationError, match="fragment") as caught:
        make_config(response_mode="fragment.jwt")
    assert "OIDC_RESPONSE_MODE" in caught.value.description
    assert "never send to the server" in caught.value.description
    assert "query.jwt" in caught.value.description


def test_unknown_response_mode_lists_the_jarm_ones() -> None:
    with pytest.raises(ConfigurationError, match="OIDC_RESPONSE_MODE") as caught:
        make_config(response_mode="query.jws")
    assert caught.value.expected == ["query", "form_post", "query.jwt", "form_post.jwt", "jwt"]


def test_response_mode_from_the_environment() -> None:
    config = OIDCConfig.from_env(
        {
            "OIDC_ISSUER": "https://op.test",
            "OIDC_CLIENT_ID": "client",
            "APP_BASE_URL": "https://app.test",
            "SESSION_SECRET": "s" * 32,
            "OIDC_RESPONSE_MODE": "form_post.jwt",
        }
    )
    assert config.response_mode == "form_post.jwt"


_JWT = {"response": ["eyJhbGciOiJSUzI1NiJ9.eyJzdGF0ZSI6InMifQ.c2ln"]}


def test_a_form_post_jwt_without_the_login_cookie_is_reposted() -> None:
    """form_post.jwt's cross-site POST carries ``response`` alone: re-posted same-origin like
    a form_post's, once."""
    assert needs_repost("POST", _JWT, False, "form_post.jwt")
    assert not needs_repost("POST", _JWT, True, "form_post.jwt")
    assert not needs_repost("POST", {**_JWT, "_oidc_repost": ["1"]}, False, "form_post.jwt")
    assert not needs_repost("POST", {"response": [""]}, False, "form_post.jwt")
    assert not needs_repost("POST", {"response": ["x" * 5000]}, False, "form_post.jwt")


def test_a_response_field_alone_is_no_plain_form_post_response() -> None:
    """In plain form_post mode, or query.jwt, a POST of ``response`` is not re-posted."""
    assert not needs_repost("POST", _JWT, False, "form_post")
    assert not needs_repost("POST", _JWT, False, "query.jwt")
