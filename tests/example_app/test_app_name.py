"""``APP_NAME`` reaches everywhere the app says its name: ``--help`` and the sandbox provider's
login page ("to continue to ..."), besides the pages (tests/example_app/test_example_pages.py)."""

from __future__ import annotations

import httpx
import pytest

from example_app.__main__ import main
from example_app.app import create_app

BASE = "http://127.0.0.1:8000"
ENV = {"SESSION_STORE": "memory://", "SESSION_SECRET": "test-secret-0123456789abcdef"}


@pytest.mark.parametrize(("value", "name"), [(None, "Example Bank"), ("Zed & Co", "Zed & Co")])
def test_help_says_the_apps_name(
    value: str | None,
    name: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if value is None:
        monkeypatch.delenv("APP_NAME", raising=False)
    else:
        monkeypatch.setenv("APP_NAME", value)
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"{name}: OpenID Connect login" in help_text
    assert "example app" not in help_text


@pytest.mark.parametrize(
    ("env", "shown"),
    [({}, "Example Bank"), ({"APP_NAME": "Zed & Co"}, "Zed &amp; Co")],
)
async def test_the_sandbox_login_page_says_the_apps_name(env: dict[str, str], shown: str) -> None:
    app = create_app(ENV | env)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as browser,
    ):
        start = await browser.get("/auth/login")
        page = await browser.get(start.headers["location"])
    assert page.status_code == 200
    assert f"to continue to <strong>{shown}</strong>" in page.text
