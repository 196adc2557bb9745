"""Start real servers (``python -m example_app`` and the other examples, the standalone sandbox
provider) for tests."""

from __future__ import annotations

import html
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
#: The example app of each framework, as ``python -m`` runs it: one environment contract, the
#: same routes and error codes (issue 18), so the black-box suites run against each.
EXAMPLES = {
    "starlette": "example_app",
    "flask": "examples.flask_app",
    "django": "examples.django_app",
}


#: Every port :func:`free_port` has handed out in this process.
_GIVEN: set[int] = set()


def free_port() -> int:
    """A loopback port free now and never handed out before in this process.

    The kernel may give the same free port to two ``bind(0)`` calls in a row (the first socket
    is closed at once): two servers of one test would then share it, and the second one's
    readiness check would be answered by the first (an interop test once logged in through
    the wrong app that way)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def serve(
    args: list[str], port: int, env: Mapping[str, str], log_path: Path, ready_path: str = "/"
) -> Iterator[Server]:
    """Run ``python ARGS`` until the block ends; wait until ``ready_path`` answers."""
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, *args], cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    server = Server(base, process, log_path)
    try:
        _wait_ready(server, base + ready_path)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(server: Server, url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log()}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not start:\n{server.log()}")


def sandbox_login(client: httpx.Client, user: str, next_path: str = "/") -> httpx.Response:
    """A browser's login at the sandbox provider: start, fill the form, follow to the app.

    Returns the app's answer to the callback (a 303 on success).
    """
    response = client.get("/auth/login", params={"next": next_path})
    assert response.status_code in (302, 303), response.text
    page = client.get(response.headers["location"])
    assert page.status_code == 200, page.text
    action = html.unescape(re.search(r'<form[^>]*action="([^"]+)"', page.text).group(1))  # type: ignore[union-attr]
    fields = {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(r'name="([^"]+)"\s+value="([^"]*)"', page.text)
    }
    fields.update(username=user, password=user, action="login")
    answer = client.post(httpx.URL(str(page.url)).join(action), data=fields)
    assert answer.status_code in (302, 303), answer.text
    return client.get(answer.headers["location"])
