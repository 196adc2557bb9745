"""docs/flask.md: its quick start is under ten lines of integration, counted as the Starlette
quick start's are (tests/test_docs.py), and it builds an app that answers as the page says.
(Every block of the page also runs in tests/test_docs.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import flask
import pytest

from oidc_kit._env import ENV_NAMES
from tests.servers import ROOT
from tests.sync_adapters.quick_start import integration_lines, quick_start

PAGE = ROOT / "docs" / "flask.md"
#: A line of integration: it names the kit, its extension object or what it gives a view.
KIT_LINE = re.compile(r"oidc_kit|OIDC\b|OIDCConfig|\boidc\b|login_required|current_user")


def test_the_quick_start_needs_under_ten_lines_of_integration() -> None:
    kit_lines, marked = integration_lines(PAGE, KIT_LINE)
    assert 0 < len(kit_lines) < 10, kit_lines
    # The page marks them "# kit" for the reader: the marks must tell the truth.
    assert kit_lines == marked


def test_the_quick_start_app_sends_a_browser_to_log_in(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ENV_NAMES.values():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OIDC_ISSUER", "https://login.example.com")
    monkeypatch.setenv("OIDC_CLIENT_ID", "docs-app")
    monkeypatch.setenv("OIDC_CLIENT_SECRET", "docs-app-secret-0123456789")
    monkeypatch.setenv("APP_BASE_URL", "https://app.example.com")
    monkeypatch.setenv("SESSION_SECRET", "docs-session-secret-0123456789abcdef")
    monkeypatch.setenv("SESSION_STORE", "memory://")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "docs_flask"}
    exec(compile(quick_start(PAGE), str(PAGE), "exec"), namespace)  # noqa: S102 - our own docs
    app = namespace["app"]
    assert isinstance(app, flask.Flask)
    try:
        answer = app.test_client().get("/")
        assert answer.status_code == 303
        assert answer.headers["Location"] == "/auth/login?next=%2F"
        assert {"/auth/login", "/auth/callback", "/auth/logout", "/auth/session"} <= {
            rule.rule for rule in app.url_map.iter_rules()
        }
    finally:
        app.extensions["oidc_kit"].close()
