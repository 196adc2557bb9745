"""A taken port: ``make demo`` / ``python -m example_app`` say which port and how to pick another.

Without the check, uvicorn started the app, then logged ``[Errno 98] error while attempting to
bind`` and make added ``Error 1``: a workshop attendee with a demo still running in another
terminal could not tell what to do. The ports here are real sockets bound on this machine.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from example_app import serve as serve_module
from example_app.__main__ import main
from example_app.serve import listen_problem
from tests.servers import ROOT, free_port, serve

#: The port the message offers: ``make demo PORT=N`` (and ``--port N``).
SUGGESTED = re.compile(r"make demo PORT=(\d+), or python -m example_app --port \1$")


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another server listens on (as a demo left running in another terminal would)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_taken_port_stops_the_app_with_the_port_and_another_to_pick(
    taken_port: int, tmp_path: Path
) -> None:
    env = {**os.environ, "SESSION_STORE": "memory://", "PYTHONUNBUFFERED": "1"}
    for name in ("OIDC_ISSUER", "ORCA_API_BASE", "APP_BASE_URL"):
        env.pop(name, None)
    args = ["-m", "example_app", "--port", str(taken_port)]
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert done.stdout == ""
    message = done.stderr.strip()
    assert message.startswith(f"port {taken_port} on 127.0.0.1 is already in use"), message
    assert "Traceback" not in message
    assert "Errno" not in message
    assert "Started server process" not in message  # stopped before anything ran
    suggested = SUGGESTED.search(message)
    assert suggested, message
    port = int(suggested.group(1))
    assert port != taken_port
    # What the message says to do works: the app serves on the port it offered.
    with serve([*args[:2], "--port", str(port)], port, {}, tmp_path / "app.log") as app:
        assert httpx.get(app.base_url + "/", timeout=5).status_code == 200


def test_the_check_says_nothing_about_a_free_port() -> None:
    assert listen_problem("127.0.0.1", free_port()) is None


def test_a_taken_port_names_another_that_is_free(taken_port: int) -> None:
    problem = listen_problem("127.0.0.1", taken_port)
    assert problem is not None
    suggested = SUGGESTED.search(problem)
    assert suggested, problem
    assert listen_problem("127.0.0.1", int(suggested.group(1))) is None


def test_another_host_is_part_of_the_command_offered(taken_port: int) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.2", taken_port))  # all of 127/8 is loopback on Linux
        other.listen()
        problem = listen_problem("127.0.0.2", taken_port)
    assert problem is not None
    assert re.search(
        r"make demo HOST=127\.0\.0\.2 PORT=\d+, or python -m example_app --host "
        r"127\.0\.0\.2 --port \d+$",
        problem,
    ), problem


def test_an_address_not_on_this_machine_is_one_line_without_errno() -> None:
    problem = listen_problem("192.0.2.1", 8000)  # TEST-NET-1 (RFC 5737): never local
    assert problem is not None
    assert problem.startswith("cannot listen on 192.0.2.1:8000: "), problem
    assert "Errno" not in problem


def test_serve_stops_before_uvicorn_or_a_sandbox_provider_starts(
    taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("started despite the taken port")

    monkeypatch.setattr("uvicorn.run", must_not_run)
    monkeypatch.setattr(serve_module, "_start_sandbox_provider", must_not_run)
    for workers in (1, 2):
        with pytest.raises(SystemExit) as stopped:
            serve_module.serve("127.0.0.1", taken_port, workers)
        assert str(stopped.value.code).startswith(f"port {taken_port} on 127.0.0.1 ")


@pytest.mark.parametrize("port", ["0", "65536", "http"])
def test_a_port_out_of_range_is_a_usage_error(
    port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--port", port])
    assert stopped.value.code == 2
    assert "argument --port: not a port number (1 to 65535)" in capsys.readouterr().err
