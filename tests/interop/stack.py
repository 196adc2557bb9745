"""The interop stack: panva's oidc-provider (Node) and a real example app process.

:class:`OidcProvider` runs ``node provider.js`` and reads what it logs (one line per request and
per event). :func:`start_app` runs an example against it: ``python -m example_app``, or the
Flask or Django example (:data:`tests.servers.EXAMPLES`), which keep the same environment and
routes; tests of what only the demo has (its pages, ``/api/cards``) take :data:`demo_only`.
:func:`stack_for` (and :func:`fapi_stack_for`) start the two together: every module's stack
fixture is one call, with its provider switches and app settings.
:class:`Browser` plays a browser over HTTP with httpx: it follows redirects across the two
origins and fills in oidc-provider's development login, consent and logout pages from their
HTML (form action, hidden fields and buttons are read from the page, not assumed).
"""

from __future__ import annotations

import html.parser
import json
import os
import re
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey, RSAKey

from tests.servers import EXAMPLES, Server, free_port, serve

HERE = Path(__file__).resolve().parent
PROVIDER_JS = HERE / "provider.js"
CLIENT_ID = "example-app"
NOCARDS_CLIENT_ID = "example-app-nocards"
CLIENT_SECRET = "interop-client-secret-0123456789"
ORCA_RESOURCE = "urn:portx:orca"
SESSION_SECRET = "interop-session-secret-0123456789abcdef"
#: Access-token lifetime at the shared provider: the kit refreshes at half of it (its leeway is
#: capped at half the lifetime), and the tests wait for real expiry, so it stays short.
ACCESS_TOKEN_TTL = 3
#: How long the provider may take to answer its discovery document after starting.
START_TIMEOUT = 30

#: For a test of what only the demo (``example_app``) has: the module's stacks run it alone.
demo_only = pytest.mark.parametrize("framework", ["starlette"], scope="module")


# --- the provider ------------------------------------------------------------------------------


@dataclass
class OidcProvider:
    """``node provider.js`` on ``127.0.0.1:port``; restartable with other keys.

    ``tls``: the provider serves https (its ``MTLS`` mode), and this context (trusting the test
    CA) is what its readiness is checked with."""

    node: str
    port: int
    env: dict[str, str]
    log_path: Path
    tls: ssl.SSLContext | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def issuer(self) -> str:
        scheme = "http" if self.tls is None else "https"
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self, *, may_move: bool = True) -> None:
        """Start node and wait for its discovery document. A node that has not answered
        within :data:`START_TIMEOUT` is killed, what the system showed of it is written to
        the log, and (``may_move``: not a restart, whose issuer the app already knows) it is
        started once more on another port."""
        if self._run_until_ready():
            return
        self._record_hang()
        if may_move:
            self.port = free_port()
            if self._run_until_ready():
                return
            self._record_hang()
        raise RuntimeError(f"oidc-provider did not answer within {START_TIMEOUT} s:\n{self.log()}")

    def _run_until_ready(self) -> bool:
        full_env = {**os.environ, **self.env, "PROVIDER_PORT": str(self.port)}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - node and our own script
                [self.node, str(PROVIDER_JS)],
                cwd=HERE,
                env=full_env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        # A readiness wait, not a speed check.
        deadline = time.monotonic() + START_TIMEOUT
        url = f"{self.issuer}/.well-known/openid-configuration"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"oidc-provider exited early:\n{self.log()}")
            try:
                if httpx.get(url, verify=self.tls or True, timeout=1).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        return False

    def _record_hang(self) -> None:
        """Twice on a fresh-clone CI run (never here, in dozens of runs) node stayed alive
        without listening: write what the system shows of it and of its port to the log,
        then kill it."""
        assert self.process is not None
        pid, port = self.process.pid, self.port
        facts = [f"--- node {pid} not ready on port {port} after {START_TIMEOUT} s"]
        for name in ("wchan", "stat"):
            try:
                facts.append(f"/proc/{pid}/{name}: {Path(f'/proc/{pid}/{name}').read_text()}")
            except OSError as exc:
                facts.append(f"/proc/{pid}/{name}: {exc}")
        ss = shutil.which("ss")
        sockets = (
            subprocess.run([ss, "-tanp"], capture_output=True, text=True, check=False).stdout  # noqa: S603
            if ss
            else ""
        )
        facts += [line for line in sockets.splitlines() if f":{port} " in line]
        with self.log_path.open("a") as log:
            log.write("\n".join(facts) + "\n")
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self, **env: str) -> None:
        """Stop, then start again with ``env`` changed (its state file keeps the sessions)."""
        self.stop()
        self.env.update(env)
        self.start(may_move=False)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def mark(self) -> int:
        """The number of log lines so far: ``lines(..., since=mark)`` reads only newer ones."""
        return len(self.log().splitlines())

    def lines(self, pattern: str, since: int = 0) -> list[str]:
        """The log lines (after the first ``since``) matching the regular expression."""
        return [line for line in self.log().splitlines()[since:] if re.search(pattern, line)]

    def refresh_grants(self, since: int = 0) -> int:
        """How many refresh_token grants the provider answered with tokens."""
        return len(self.lines(r"event=grant\.success grant_type=refresh_token ", since))


@contextmanager
def run_provider(
    node: str, port: int, env: Mapping[str, str], log_path: Path, tls: ssl.SSLContext | None = None
) -> Iterator[OidcProvider]:
    provider = OidcProvider(node, port, dict(env), log_path, tls)
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()


def provider_env(app_url: str, *, ttl: int, **extra: str) -> dict[str, str]:
    return {
        "APP_BASE_URL": app_url,
        "CLIENT_ID": CLIENT_ID,
        "CLIENT_SECRET": CLIENT_SECRET,
        "ORCA_RESOURCE": ORCA_RESOURCE,
        "ACCESS_TOKEN_TTL": str(ttl),
        **extra,
    }


# --- the app -----------------------------------------------------------------------------------


@contextmanager
def start_app(
    issuer: str,
    port: int,
    tmp: Path,
    *,
    client_id: str = CLIENT_ID,
    name: str = "app",
    extra_env: Mapping[str, str] | None = None,
    framework: str = "starlette",
) -> Iterator[Server]:
    """The real ``python -m example_app`` (or ``framework``'s example), logging in at
    ``issuer``, ORCA sandboxed; ``extra_env`` adds or overrides settings (the FAPI 2.0 profile
    and its client key)."""
    env = {
        "OIDC_ISSUER": issuer,
        "OIDC_CLIENT_ID": client_id,
        "OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "OIDC_ALLOW_INSECURE_HTTP": "1",
        "ORCA_AUDIENCE": ORCA_RESOURCE,
        "SESSION_STORE": f"sqlite:///{tmp / (name + '-sessions.db')}",
        "SESSION_SECRET": SESSION_SECRET,
        "APP_BASE_URL": f"http://127.0.0.1:{port}",
        # Blank is unset for the app: the sandbox ORCA, the default scopes and leeway.
        "ORCA_API_BASE": "",
        "OIDC_SCOPES": "",
        "OIDC_REFRESH_LEEWAY": "",
        "OIDC_CLOCK_LEEWAY": "",
        "OIDC_PROFILE": "",
        "OIDC_CLIENT_KEY": "",
        **(extra_env or {}),
    }
    args = ["-m", EXAMPLES[framework], "--host", "127.0.0.1", "--port", str(port)]
    with serve(args, port, env, tmp / f"{name}.log") as server:
        yield server


# --- the whole stack ----------------------------------------------------------------------------


@dataclass
class Stack:
    """oidc-provider, the example app logging in there, and their logs."""

    provider: OidcProvider
    app: Server
    tmp: Path
    #: Where the second app (the client the provider grants no ``cards:read``) must run.
    nocards_port: int

    def browser(self, app: Server | None = None) -> Browser:
        return Browser((app or self.app).base_url, self.provider.issuer)

    def second_app(
        self,
        name: str,
        *,
        app_settings: Mapping[str, str] | None = None,
        framework: str = "starlette",
    ) -> AbstractContextManager[Server]:
        """The app of the provider's second client (:data:`NOCARDS_CLIENT_ID`, granted no
        ``cards:read``), on :attr:`nocards_port`: a stack started with ``second_client``."""
        assert self.nocards_port, "the stack was started without second_client=True"
        return start_app(
            self.provider.issuer,
            self.nocards_port,
            self.tmp,
            client_id=NOCARDS_CLIENT_ID,
            name=name,
            extra_env=app_settings,
            framework=framework,
        )


@dataclass
class RotationStack(Stack):
    """A stack whose provider reads its keys from ``jwks_file`` at each (re)start."""

    jwks_file: Path


@dataclass
class FapiStack(Stack):
    """The provider in its FAPI 2.0 mode and the app with ``OIDC_PROFILE=fapi2``."""

    #: The app's client key (what ``OIDC_CLIENT_KEY`` names): PS256 for RSA, ES256 for EC.
    client_key: RSAKey | ECKey
    client_alg: str


@contextmanager
def stack_for(
    node: str,
    tmp: Path,
    *,
    provider_settings: Mapping[str, str] | None = None,
    app_settings: Mapping[str, str] | None = None,
    framework: str = "starlette",
    ttl: int = ACCESS_TOKEN_TTL,
    second_client: bool = False,
) -> Iterator[Stack]:
    """oidc-provider with ``provider_settings`` (provider.js's switches) on a free port, and
    ``framework``'s example app with ``app_settings`` logging in there, their logs in ``tmp``.

    ``second_client``: the provider also registers :data:`NOCARDS_CLIENT_ID`, for an app on
    the stack's ``nocards_port`` (:meth:`Stack.second_app`)."""
    provider_port, app_port = free_port(), free_port()
    nocards_port = free_port() if second_client else 0
    switches = dict(provider_settings or {})
    if second_client:
        switches["NOCARDS_CLIENT_ID"] = NOCARDS_CLIENT_ID
        switches["NOCARDS_APP_BASE_URL"] = f"http://127.0.0.1:{nocards_port}"
    env = provider_env(f"http://127.0.0.1:{app_port}", ttl=ttl, **switches)
    with (
        run_provider(node, provider_port, env, tmp / "provider.log") as provider,
        start_app(
            provider.issuer, app_port, tmp, extra_env=app_settings, framework=framework
        ) as app,
    ):
        yield Stack(provider, app, tmp, nocards_port)


@contextmanager
def fapi_stack_for(
    node: str,
    tmp: Path,
    key: RSAKey | ECKey,
    alg: str,
    *,
    inline: bool = True,
    provider_settings: Mapping[str, str] | None = None,
    app_settings: Mapping[str, str] | None = None,
    framework: str = "starlette",
) -> Iterator[FapiStack]:
    """:func:`stack_for` with the provider in its FAPI 2.0 mode (``FAPI2=1``, the client's
    assertions signed with ``alg``) and the app's FAPI 2.0 settings for ``key``
    (:func:`fapi_env`), plus each side's own ``*_settings``."""
    with stack_for(
        node,
        tmp,
        provider_settings={"FAPI2": "1", "CLIENT_AUTH_ALG": alg, **(provider_settings or {})},
        app_settings=fapi_env(key, tmp, inline=inline) | dict(app_settings or {}),
        framework=framework,
    ) as s:
        yield FapiStack(s.provider, s.app, s.tmp, s.nocards_port, key, alg)


def stacks_used(request: pytest.FixtureRequest, *names: str) -> list[Stack]:
    """The stacks, among the fixtures ``names``, that the running test uses."""
    return [request.getfixturevalue(n) for n in names if n in request.fixturenames]


def print_logs(*stacks: Stack) -> None:
    """The tails of each stack's provider and app logs, which pytest shows when a test fails
    (a module's autouse ``_logs`` fixture calls this after each test)."""
    for s in stacks:
        print(f"--- provider log ---\n{s.provider.log()[-8000:]}")
        print(f"--- app log ---\n{s.app.log()[-6000:]}")


def json_field(line: str, name: str) -> dict[str, Any]:
    """The ``name={...}`` JSON object that provider.js logs on a request line."""
    match = re.search(rf"\b{name}=(\{{.*?\}})(?: |$)", line)
    assert match, f"no {name}= in {line!r}"
    value: dict[str, Any] = json.loads(match.group(1))
    return value


def field_value(line: str, name: str) -> str:
    """The ``name=value`` field (no spaces in it) of a provider log line."""
    match = re.search(rf"\b{name}=(\S+)", line)
    assert match, f"no {name}= in {line!r}"
    return match.group(1)


def fapi_env(key: RSAKey | ECKey, tmp: Path, *, inline: bool) -> dict[str, str]:
    """The app's FAPI 2.0 settings: ``OIDC_PROFILE=fapi2`` and ``OIDC_CLIENT_KEY``, the
    private key as a PEM file, or (``inline``) as a JWK in the variable itself."""
    if inline:
        value = json.dumps(key.as_dict(private=True))
    else:
        path = tmp / "client-key.pem"
        path.write_bytes(key.as_pem(private=True))
        path.chmod(0o600)
        value = str(path)
    return {"OIDC_PROFILE": "fapi2", "OIDC_CLIENT_KEY": value, "OIDC_CLIENT_SECRET": ""}


def public_jwks_file(key: RSAKey | ECKey, alg: str, tmp: Path) -> Path:
    """The client's public JWKS as a file, for provider.js's inline registration
    (``CLIENT_JWKS_FILE``); ``kid`` is the RFC 7638 thumbprint, as the kit computes it."""
    public = {**key.as_dict(private=False), "kid": key.thumbprint(), "alg": alg, "use": "sig"}
    path = tmp / "client-jwks.json"
    path.write_text(json.dumps({"keys": [public]}))
    return path


def signing_key(kid: str) -> dict[str, object]:
    """A new private RSA signing key as a JWK (what provider.js reads from its JWKS file)."""
    key = RSAKey.generate_key(
        2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"}, private=True
    )
    return key.as_dict(private=True)


# --- a browser over HTTP ------------------------------------------------------------------------


@dataclass
class Form:
    """One ``<form>`` of a page: where it goes, its fields and its submit buttons."""

    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str, str]] = field(default_factory=list)  # (name, value, label)


class _FormParser(html.parser.HTMLParser):
    """Forms, their inputs, and buttons (also those outside a form with ``form="id"``)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._by_id: dict[str, Form] = {}
        self._current: Form | None = None
        self._button: tuple[Form | None, str, str] | None = None
        self._label: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = Form(a.get("action", ""), a.get("method", "get").lower())
            self.forms.append(self._current)
            if "id" in a:
                self._by_id[a["id"]] = self._current
        elif tag == "input" and "name" in a:
            owner = self._by_id.get(a["form"]) if "form" in a else self._current
            if owner is not None and a.get("type", "text") in ("hidden", "text", "password"):
                owner.fields[a["name"]] = a.get("value", "")
        elif tag == "button":
            owner = self._by_id.get(a["form"]) if "form" in a else self._current
            self._button = (owner, a.get("name", ""), a.get("value", ""))
            self._label = []

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._label.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None
        elif tag == "button" and self._button is not None:
            owner, name, value = self._button
            if owner is not None:
                owner.buttons.append((name, value, "".join(self._label).strip()))
            self._button = None


def forms(page: httpx.Response) -> list[Form]:
    parser = _FormParser()
    parser.feed(page.text)
    return parser.forms


#: The most a test waits for a token to expire or become due.
MAX_WAIT = 3.1  # a 3 s access token, and the moment waited past its expiry


def wait_until(epoch: float) -> None:
    """Sleep until ``epoch`` (wall clock): the app and the provider are other processes."""
    delay = epoch - time.time()
    assert delay <= MAX_WAIT, f"would wait {delay:.1f} s"
    if delay > 0:
        time.sleep(delay)


class Browser:
    """One browser: one cookie jar, as a browser has, for the app and the provider.

    Both are on 127.0.0.1, so (cookies ignore ports) each sees the other's cookies; their
    names do not clash. ``get``/``post`` with a path go to the app. ``login`` drives the
    whole login; the provider pages it fills are kept in ``provider_pages`` (their prompt
    names: ``login``, ``consent``), to tell a real login from silent single sign-on.
    """

    def __init__(self, app_url: str, issuer: str) -> None:
        self.app_url = app_url
        self.issuer = issuer
        self.http = httpx.Client(base_url=app_url, timeout=20)
        self.provider_pages: list[str] = []

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.http.post(url, **kwargs)

    def session(self) -> httpx.Response:
        return self.get("/auth/session")

    def session_body(self) -> dict[str, object]:
        """``/auth/session``'s JSON, for a logged-in browser."""
        response = self.session()
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        return body

    def expires_at(self) -> float:
        """When the session's access token expires (epoch seconds)."""
        value = self.session_body()["expires_at"]
        assert isinstance(value, int | float)
        return float(value)

    def login(self, user: str, next_path: str = "/") -> httpx.Response:
        """``/auth/login`` → the provider's pages → the app's callback: its answer (a 303)."""
        start = self.get("/auth/login", params={"next": next_path})
        assert start.status_code in (302, 303), start.text
        assert start.headers["location"].startswith(self.issuer + "/auth?"), start.headers
        return self.follow(start, user=user)

    def follow(self, response: httpx.Response, *, user: str | None = None) -> httpx.Response:
        """Follow redirects and submit the provider's pages until the app answers its
        callback, or a page has no form (the provider's "signed out" page, an app page)."""
        for _ in range(20):
            if response.is_redirect:
                target = response.url.join(response.headers["location"])
                response = self.http.get(target)
                if _is_app(target, self.app_url) and target.path == "/auth/callback":
                    return response
                continue
            if _is_app(response.url, self.app_url) or not forms(response):
                return response  # a page with nothing to submit (the app's, or the end)
            response = self._submit_provider_page(response, user)
        raise AssertionError("too many redirects between the app and the provider")

    def _submit_provider_page(self, page: httpx.Response, user: str | None) -> httpx.Response:
        assert page.status_code == 200, f"{page.url}: {page.status_code} {page.text[:500]}"
        form = forms(page)[0]
        data = dict(form.fields)
        prompt = data.get("prompt", "")
        self.provider_pages.append(prompt or str(page.url.path))
        if prompt == "login":
            assert user is not None, "the provider asks for a login"
            assert {"login", "password"} <= data.keys(), form
            data.update(login=user, password="any")  # oidc-provider's dev pages take any
        elif "logout" in {name for name, _, _ in form.buttons}:
            # The end-session page: the "Yes, sign me out" button posts logout=yes.
            name, value, _ = next(b for b in form.buttons if b[0] == "logout")
            data[name] = value
        action = page.url.join(form.action)
        return self.http.request(form.method.upper(), action, data=data)


def _is_app(url: httpx.URL, app_url: str) -> bool:
    app = httpx.URL(app_url)
    return (url.host, url.port) == (app.host, app.port)
