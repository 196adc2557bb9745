"""``oidc-kit sessions list|revoke``: an operator's hand on a user's sessions in the app's store.

The sessions are made in a SQLite file by the kit's own ``Sessions``, as the app would make
them; the command opens the file as another process of the app would (the last test runs the
console script for real). It prints handles, never a session id or a token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from oidc_kit import SQLiteStore, TokenSet
from oidc_kit._audit import RequestContext, request_context, session_handle
from oidc_kit._session import Session, Sessions
from oidc_kit.cli import main
from tests.conftest import SECRET, make_config
from tests.fake_op import CLIENT_ID, CLIENT_SECRET, ISSUER, FakeOP
from tests.servers import free_port

#: When the first session was made: a minute ago (the command reads the real clock).
START = float(int(time.time()) - 60)
#: The app's variables the command reads: each test sets its own.
VARIABLES = (
    "SESSION_SECRET",
    "SESSION_STORE",
    "OIDC_ISSUER",
    "OIDC_CLIENT_ID",
    "OIDC_CLIENT_SECRET",
    "APP_BASE_URL",
    "SESSION_IDLE_TIMEOUT",
    "SESSION_ABSOLUTE_TIMEOUT",
)


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/sessions.db"


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, store_url: str) -> None:
    """The app's environment: its store, secret and provider."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SESSION_STORE", store_url)
    monkeypatch.setenv("SESSION_SECRET", SECRET)
    monkeypatch.setenv("OIDC_ISSUER", ISSUER)
    monkeypatch.setenv("OIDC_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("OIDC_CLIENT_SECRET", CLIENT_SECRET)


def make_sessions(store_url: str, *subs: str) -> list[tuple[Session, TokenSet]]:
    """Log ``subs`` in, as the app would (one second apart), in the store at ``store_url``."""

    async def make() -> list[tuple[Session, TokenSet]]:
        store = SQLiteStore(store_url.removeprefix("sqlite:///"))
        made = []
        for n, sub in enumerate(subs):
            sessions = Sessions(make_config(), store, clock=lambda n=n: START + n)
            tokens = TokenSet(f"at-{n}-secret", "Bearer", refresh_token=f"rt-{n}-secret")
            claims = {"iss": ISSUER, "sub": sub}
            context = RequestContext(client_ip=f"203.0.113.{n}", user_agent="Chrome 131 on Linux")
            with request_context(lambda context=context: context):
                made.append((await sessions.create(tokens, claims, None), tokens))
        await store.close()
        return made

    return asyncio.run(make())


def live(store_url: str, session: Session) -> bool:
    async def load() -> bool:
        store = SQLiteStore(store_url.removeprefix("sqlite:///"))
        try:
            return await Sessions(make_config(), store).load(session.sid) is not None
        finally:
            await store.close()

    return asyncio.run(load())


def never_shown(text: str, made: list[tuple[Session, TokenSet]]) -> None:
    for session, tokens in made:
        assert session.sid not in text
        assert tokens.access_token not in text and str(tokens.refresh_token) not in text


def test_list_prints_the_users_live_sessions_by_handle(
    app_env: None, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    made = make_sessions(store_url, "alice", "alice", "bob")
    assert main(["sessions", "list", "--sub", "alice"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"2 live session(s) of alice at {ISSUER}"
    newest, oldest = (session_handle(made[i][0].sid) for i in (1, 0))
    assert lines[1].split()[0] == newest and lines[2].split()[0] == oldest
    assert "Chrome 131 on Linux, 203.0.113.x" in lines[1]
    login = datetime.fromtimestamp(START + 1, UTC).strftime("%Y-%m-%d %H:%M UTC")
    assert f"logged in {login}" in lines[1]
    assert session_handle(made[2][0].sid) not in out
    never_shown(out, made)


def test_list_as_json(app_env: None, store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    made = make_sessions(store_url, "alice")
    assert main(["sessions", "list", "--sub", "alice", "--json"]) == 0
    [entry] = json.loads(capsys.readouterr().out)["sessions"]
    assert entry["handle"] == session_handle(made[0][0].sid)
    assert (entry["created_at"], entry["network"]) == (int(START), "203.0.113.x")


def test_list_needs_no_secret_or_provider(
    app_env: None,
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_sessions(store_url, "alice")
    for name in ("SESSION_SECRET", "OIDC_CLIENT_ID", "OIDC_ISSUER", "SESSION_STORE"):
        monkeypatch.delenv(name)
    argv = ["sessions", "list", "--sub", "alice", "--store", store_url, "--issuer", ISSUER]
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith("1 live session(s)")


def test_revoke_ends_them_and_revokes_their_tokens_at_the_provider(
    app_env: None,
    store_url: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    made = make_sessions(store_url, "alice", "alice", "bob")
    op = FakeOP()
    with caplog.at_level(logging.INFO, logger="oidc_kit.audit"):
        assert main(["sessions", "revoke", "--sub", "alice"], transport=op.transport()) == 0
    out = capsys.readouterr().out
    handles = [session_handle(made[i][0].sid) for i in (1, 0)]
    assert out.splitlines()[0] == f"Ended 2 session(s) of alice: {', '.join(handles)}"
    assert "revoked at the provider" in out
    revoked = {
        parse_qs(r.content.decode())["token"][0] for r in op.requests if r.url.path == "/revoke"
    }
    assert {"rt-0-secret", "rt-1-secret"} <= revoked and "rt-2-secret" not in revoked
    assert not live(store_url, made[0][0]) and not live(store_url, made[1][0])
    assert live(store_url, made[2][0])
    events = [r.audit for r in caplog.records if r.name == "oidc_kit.audit"]  # type: ignore[attr-defined]
    assert [(e["event"], e["reason"], e["sub"]) for e in events] == [
        ("session.revoked", "operator", "alice")
    ] * 2
    never_shown(out + caplog.text, made)


@pytest.mark.parametrize(
    ("unset", "why"),
    [
        ("OIDC_CLIENT_ID", "OIDC_CLIENT_ID is not set"),
        ("SESSION_SECRET", "SESSION_SECRET is not set"),
    ],
)
def test_without_the_apps_settings_revoke_ends_them_in_the_store_only_and_says_so(
    app_env: None,
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    unset: str,
    why: str,
) -> None:
    made = make_sessions(store_url, "alice")
    monkeypatch.delenv(unset)
    op = FakeOP()
    assert main(["sessions", "revoke", "--sub", "alice"], transport=op.transport()) == 0
    out = capsys.readouterr().out
    assert f"In the store only: {why}" in out
    assert not op.requests
    assert not live(store_url, made[0][0])


def test_another_issuer_than_the_apps_is_store_only(
    app_env: None, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    make_sessions(store_url, "alice")
    op = FakeOP()
    argv = ["sessions", "revoke", "--sub", "alice", "--issuer", "https://other.test"]
    assert main(argv, transport=op.transport()) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "Ended 0 session(s) of alice: none"
    assert "OIDC_ISSUER is another provider" in out and not op.requests


@pytest.mark.parametrize(
    "argv",
    [
        ["sessions", "list"],  # no --sub
        ["sessions", "revoke", "--sub", "alice", "--store", "memory://"],
        ["sessions", "list", "--sub", "alice", "--store", "ftp://x"],
        ["sessions"],
    ],
)
def test_usage_errors_exit_2(app_env: None, argv: list[str]) -> None:
    assert main(argv) == 2


@pytest.mark.parametrize("missing", ["SESSION_STORE", "OIDC_ISSUER"])
def test_the_store_and_the_issuer_are_required(
    app_env: None, monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.delenv(missing)
    assert main(["sessions", "list", "--sub", "alice"]) == 2


def test_an_unreachable_store_exits_1(
    app_env: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    assert main(["sessions", "revoke", "--sub", "alice", "--store", url]) == 1
    assert "error" in capsys.readouterr().err


def test_the_console_script_lists_from_another_process(app_env: None, store_url: str) -> None:
    made = make_sessions(store_url, "alice")
    script = shutil.which("oidc-kit", path=Path(sys.executable).parent)
    assert script is not None, "run: .venv/bin/pip install -e . --no-deps"
    done = subprocess.run(  # noqa: S603
        [script, "sessions", "list", "--sub", "alice"],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert session_handle(made[0][0].sid) in done.stdout
    never_shown(done.stdout + done.stderr, made)


def test_an_operators_revocations_are_audited_where_the_command_runs(
    app_env: None,
    store_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_sessions(store_url, "alice", "alice")
    audit = tmp_path / "audit.jsonl"
    monkeypatch.setenv("OIDC_AUDIT_LOG", str(audit))
    assert main(["sessions", "revoke", "--sub", "alice"], transport=FakeOP().transport()) == 0
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [(e["event"], e["reason"]) for e in lines] == [("session.revoked", "operator")] * 2
    # Without OIDC_AUDIT_LOG, standard error gets them.
    monkeypatch.delenv("OIDC_AUDIT_LOG")
    make_sessions(store_url, "alice")
    capsys.readouterr()
    assert main(["sessions", "revoke", "--sub", "alice"], transport=FakeOP().transport()) == 0
    [line] = capsys.readouterr().err.splitlines()
    assert json.loads(line)["event"] == "session.revoked"
