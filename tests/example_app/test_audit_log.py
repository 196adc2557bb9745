"""``OIDC_AUDIT_LOG``: the example app's logging writes the kit's audit events as JSON lines.

``serve.log_config`` is applied here with ``logging.config.dictConfig``, as uvicorn applies it
in each worker; the loggers it changes are put back afterwards. (The two processes appending
to one file are in test_sessions_blackbox.py.)
"""

from __future__ import annotations

import asyncio
import json
import logging
import logging.config
from collections.abc import Iterator
from pathlib import Path

import pytest

from example_app.serve import log_config
from example_app.settings import audit_log
from oidc_kit._audit import Auditor

NAMES = ("", "oidc_kit.audit", "uvicorn", "uvicorn.error", "uvicorn.access")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    saved = {
        name: (list(lg.handlers), lg.level, lg.propagate, lg.disabled)
        for name in NAMES
        for lg in [logging.getLogger(name)]
    }
    yield
    for name, (handlers, level, propagate, disabled) in saved.items():
        logger = logging.getLogger(name)
        for handler in logger.handlers:
            if handler not in handlers:
                handler.close()
        logger.handlers, logger.level = handlers, level
        logger.propagate, logger.disabled = propagate, disabled


def emit() -> None:
    asyncio.run(Auditor().emit("session.revoked", sub="alice", sid="secret-sid", reason="user"))


def test_unset_it_is_off() -> None:
    assert audit_log({}) is None and audit_log({"OIDC_AUDIT_LOG": " "}) is None
    assert "oidc_kit.audit" not in log_config({})["loggers"]


def test_a_file_gets_one_json_line_per_event(tmp_path: Path, restore_logging: None) -> None:
    path = tmp_path / "audit.jsonl"
    logging.config.dictConfig(log_config({"OIDC_AUDIT_LOG": str(path)}))
    emit()
    emit()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(e["event"], e["sub"], e["reason"]) for e in lines] == [
        ("session.revoked", "alice", "user")
    ] * 2
    assert "secret-sid" not in path.read_text()
    assert logging.getLogger("oidc_kit.audit").propagate  # the plain lines stay on stderr


def test_a_dash_writes_json_lines_to_stderr_instead_of_plain_ones(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logging.config.dictConfig(log_config({"OIDC_AUDIT_LOG": "-"}))
    emit()
    [line] = capsys.readouterr().err.splitlines()
    assert json.loads(line)["event"] == "session.revoked"
