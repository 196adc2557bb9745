"""The demo's session secret: with the sandbox provider and no ``SESSION_SECRET``, a random
secret made once in a private file (no warning, sessions survive a restart); with a real
provider the kit's warning stays."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from example_app.settings import Settings, demo_session_secret


def test_the_demo_secret_is_made_once_and_private(tmp_path: Path) -> None:
    path = str(tmp_path / "d" / "secret")
    first = demo_session_secret(path)
    assert len(first) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert demo_session_secret(path) == first  # reused: sessions survive a restart


def test_the_sandbox_demo_needs_no_secret_and_warns_of_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.WARNING)
    env: dict[str, str] = {}
    first = Settings.from_env(env).oidc_config(env)
    again = Settings.from_env(env).oidc_config(env)
    assert first.session_secrets == again.session_secrets  # the file's, not a random one
    assert "SESSION_SECRET" not in caplog.text
    assert (tmp_path / ".oidc_kit" / "demo-session-secret").exists()


def test_a_set_secret_wins_and_a_real_provider_keeps_the_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.WARNING)
    mine = "a-session-secret-set-by-the-operator"
    assert Settings.from_env({}).oidc_config({"SESSION_SECRET": mine}).session_secrets == (mine,)
    env = {"OIDC_ISSUER": "https://op.example.com", "OIDC_CLIENT_ID": "app"}
    Settings.from_env(env).oidc_config(env)
    assert "SESSION_SECRET is not set" in caplog.text
    assert not (tmp_path / ".oidc_kit" / "demo-session-secret").exists()
