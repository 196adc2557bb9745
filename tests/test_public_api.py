"""The public API: all of `__all__` exists, it is sorted, and every error has a code."""

from __future__ import annotations

import oidc_kit


def test_all_is_sorted_and_complete() -> None:
    assert oidc_kit.__all__ == sorted(oidc_kit.__all__, key=lambda n: (not n.isupper(), n))
    for name in oidc_kit.__all__:
        assert hasattr(oidc_kit, name), name


def test_every_public_error_has_a_stable_code_and_a_status() -> None:
    errors = [getattr(oidc_kit, n) for n in oidc_kit.__all__]
    errors = [e for e in errors if isinstance(e, type) and issubclass(e, oidc_kit.OIDCError)]
    assert len(errors) >= 15
    for error in errors:
        assert error.code and error.code == error.code.lower(), error
        assert 400 <= error.status < 600, error
    exc = oidc_kit.InvalidIdToken("ID token aud is invalid", expected="a", actual="b")
    assert exc.as_dict() == {
        "error": "invalid_id_token",
        "error_description": "ID token aud is invalid",
    }
    assert "expected 'a', got 'b'" in str(exc)
