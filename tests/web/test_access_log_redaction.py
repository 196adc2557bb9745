"""`uvicorn app:app` logs every request line, ``GET /auth/callback?code=...`` too: building an
``OIDCAuth`` puts the kit's ``RedactTokens`` filter on uvicorn's access log (and the kit's own
logger), so the Quick start's lines are all it takes to keep codes out of the log."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from uvicorn.logging import AccessFormatter

from oidc_kit import RedactTokens
from oidc_kit._redact import REDACTED_LOGGERS
from oidc_kit.starlette import OIDCAuth
from oidc_kit.stores import MemoryStore
from tests.conftest import make_config
from tests.docs_snippets import CLIENT_ID, CLIENT_SECRET, SESSION_SECRET, page_source
from tests.servers import ROOT, free_port, sandbox_login, serve

CALLBACK_LINE = '%s - "%s %s HTTP/%s" %d'  # uvicorn's access-log format


def _redactors(name: str) -> list[logging.Filter]:
    return [f for f in logging.getLogger(name).filters if isinstance(f, RedactTokens)]


@pytest.fixture
def bare_loggers() -> Iterator[None]:
    """The server loggers without the kit's filter (an earlier test's OIDCAuth added it), and
    as they were afterwards."""
    saved = {name: list(logging.getLogger(name).filters) for name in REDACTED_LOGGERS}
    for name in REDACTED_LOGGERS:
        for found in _redactors(name):
            logging.getLogger(name).removeFilter(found)
    yield
    for name, filters in saved.items():
        logging.getLogger(name).filters[:] = filters


class _Lines(logging.Handler):
    """The lines uvicorn's own access-log handler would print (its formatter reads the
    record's five arguments: the filter must keep them)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(AccessFormatter("%(client_addr)s %(request_line)s %(status_code)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def handleError(self, record: logging.LogRecord) -> None:
        raise  # fail the test, where logging would print the error and carry on


async def test_building_oidc_auth_redacts_the_access_log_once(bare_loggers: None) -> None:
    for _ in range(2):  # several apps (or tests) in one process: still one filter each
        async with OIDCAuth(make_config(), store=MemoryStore()):
            pass
    for name in REDACTED_LOGGERS:
        assert len(_redactors(name)) == 1, name
    access = logging.getLogger("uvicorn.access")
    lines, level = _Lines(), access.level
    access.addHandler(lines)
    access.setLevel(logging.INFO)  # as uvicorn's logging configuration sets it
    try:
        path = "/auth/callback?code=SECRET-CODE&state=abc&iss=x"
        access.info(CALLBACK_LINE, "127.0.0.1:5000", "GET", path, "1.1", 303)
    finally:
        access.removeHandler(lines)
        access.setLevel(level)
    assert lines.lines == [
        "127.0.0.1:5000 GET /auth/callback?code=[redacted]&state=abc&iss=x HTTP/1.1 303 See Other"
    ]


def test_the_quick_start_under_plain_uvicorn_logs_no_code(tmp_path: Path) -> None:
    """docs/index.md's app, `uvicorn app:app` with uvicorn's own logging (access log at INFO),
    the standalone sandbox provider as its issuer: alice logs in, the log has her callback
    line, without its code."""
    op_port, app_port = free_port(), free_port()
    base = f"http://127.0.0.1:{app_port}"
    (tmp_path / "app.py").write_text(page_source(ROOT / "docs" / "index.md"), encoding="utf-8")
    client = f"{CLIENT_ID}:{CLIENT_SECRET}:{base}/auth/callback:{base}/"
    env = {
        "OIDC_ISSUER": f"http://127.0.0.1:{op_port}",
        "OIDC_ALLOW_INSECURE_HTTP": "1",
        "OIDC_CLIENT_ID": CLIENT_ID,
        "OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "APP_BASE_URL": base,
        "SESSION_SECRET": SESSION_SECRET,
        "SESSION_STORE": "memory://",
        "PYTHONPATH": f"{tmp_path}:{ROOT}",
    }
    op_args = ["-m", "oidc_kit.testing", "--port", str(op_port), "--client", client]
    discovery = "/.well-known/openid-configuration"
    urls: list[httpx.URL] = []
    with (
        serve(op_args, op_port, {}, tmp_path / "provider.log", discovery),
        serve(
            ["-m", "uvicorn", "app:app", "--port", str(app_port)],
            app_port,
            env,
            tmp_path / "app.log",
        ) as app,
        httpx.Client(
            base_url=base, event_hooks={"request": [lambda r: urls.append(r.url)]}
        ) as browser,
    ):
        assert sandbox_login(browser, "alice").status_code == 303
        assert "sandbox-alice" in browser.get("/").text
    log = app.log()  # the whole of it: the server has stopped
    callback = next(url for url in urls if url.path == "/auth/callback")
    code = parse_qs(urlsplit(str(callback)).query)["code"][0]
    assert len(code) >= 16
    assert code not in log, log
    assert "Logging error" not in log, log  # uvicorn's formatter got the arguments it reads
    line = re.compile(
        r'^INFO: .* "GET /auth/callback\?code=\[redacted\]&state=\S+ HTTP/1.1" 303 ', re.M
    )
    assert line.search(log), log


def _record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, msg, args, None)


def test_the_filter_keeps_the_arguments_a_formatter_reads() -> None:
    record = _record(CALLBACK_LINE, "127.0.0.1:1", "GET", "/cb?code=SECRET&state=s", "1.1", 303)
    assert RedactTokens().filter(record)
    assert record.args == ("127.0.0.1:1", "GET", "/cb?code=[redacted]&state=s", "1.1", 303)
    # An argument of another type (an httpx.URL) is redacted as the string it prints.
    record = _record("HTTP Request: GET %s", httpx.URL("https://op.test/x?access_token=SECRET"))
    RedactTokens().filter(record)
    assert record.getMessage() == "HTTP Request: GET https://op.test/x?access_token=[redacted]"


def test_the_filter_drops_the_arguments_when_only_the_whole_message_can_be_redacted() -> None:
    """The parameter's name in the format string, its value an argument: redacting the format
    string eats a placeholder; the record keeps the redacted message alone."""
    record = _record("GET /logout?id_token_hint=%s&state=%s", "eyJhbGciOi.eyJzdWIi.c2ln", "abc")
    RedactTokens().filter(record)
    assert record.getMessage() == "GET /logout?id_token_hint=[redacted]&state=abc"
    assert record.args is None
