"""Issue 16's done-means for users' sessions, on the example app as real processes.

Two instances of ``python -m example_app`` share one Redis, one ``SESSION_SECRET`` and one
external origin (``APP_BASE_URL``), as behind a load balancer; the provider is the sandbox in
its own process (``python -m oidc_kit.testing``), shared by both, as ``--workers`` does. Each
"browser" is an ``httpx.Client`` whose balancer pins the external origin to one instance.
Two browsers log alice in, one through each instance; the first lists both sessions and
revokes the second's, which is then dead on both instances; the ``OIDC_AUDIT_LOG`` file both
instances append to holds the two logins and the revocation as JSON lines, and no token, code
or session id.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import parse_qs

import httpx

from oidc_kit import OIDCConfig
from oidc_kit._cookie_signer import CookieSigner
from oidc_kit._session import Sessions
from oidc_kit._tokens import TokenSet
from oidc_kit.stores import open_store
from tests.servers import Server, free_port, sandbox_login, serve

SECRET = "sessions-blackbox-secret-0123456789"
CLIENT = ("app", "app-secret-0123")
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"


class Balancer(httpx.BaseTransport):
    """Sends what a browser addresses to the app's external origin to one instance."""

    def __init__(self, origin: str, instance: str) -> None:
        self._origin = httpx.URL(origin)
        self._instance = httpx.URL(instance)
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if (url.host, url.port) == (self._origin.host, self._origin.port):
            url = url.copy_with(port=self._instance.port)
        forwarded = httpx.Request(
            request.method, url, headers=request.headers, content=request.read()
        )
        return self._inner.handle_request(forwarded)

    def close(self) -> None:
        self._inner.close()


class Browser:
    """A browser at the app's external origin, served by ``instance``; remembers every URL it
    was sent to (the callback's ``code`` among them)."""

    def __init__(self, origin: str, instance: Server, agent: str) -> None:
        self.urls: list[httpx.URL] = []
        self.client = httpx.Client(
            base_url=origin,
            transport=Balancer(origin, instance.base_url),
            headers={"User-Agent": agent},
            event_hooks={"request": [lambda request: self.urls.append(request.url)]},
            timeout=10,
        )

    def codes(self) -> list[str]:
        return [
            code
            for url in self.urls
            if url.path == "/auth/callback"
            for code in parse_qs(url.query.decode()).get("code", [])
        ]


def start_provider(stack: ExitStack, tmp_path: Path, origin: str) -> str:
    port = free_port()
    client_id, secret = CLIENT
    args = ["-m", "oidc_kit.testing", "--port", str(port)]
    args += ["--client", f"{client_id}:{secret}:{origin}/auth/callback:{origin}/"]
    stack.enter_context(
        serve(args, port, {}, tmp_path / "op.log", "/.well-known/openid-configuration")
    )
    return f"http://127.0.0.1:{port}"


def start_apps(
    stack: ExitStack, tmp_path: Path, redis_url: str, audit: Path
) -> tuple[str, list[Server]]:
    origin = f"http://127.0.0.1:{free_port()}"  # the load balancer's: nothing listens there
    issuer = start_provider(stack, tmp_path, origin)
    env = {
        "OIDC_ISSUER": issuer,
        "OIDC_CLIENT_ID": CLIENT[0],
        "OIDC_CLIENT_SECRET": CLIENT[1],
        "OIDC_ALLOW_INSECURE_HTTP": "1",
        "APP_BASE_URL": origin,
        "SESSION_STORE": redis_url,
        "SESSION_SECRET": SECRET,
        "OIDC_AUDIT_LOG": str(audit),
        "ORCA_API_BASE": "",
    }
    servers = []
    for n in range(2):
        port = free_port()
        args = ["-m", "example_app", "--port", str(port)]
        servers.append(stack.enter_context(serve(args, port, env, tmp_path / f"app{n}.log")))
    return origin, servers


def session_cookie(browser: Browser) -> str:
    return browser.client.cookies["oidc_session"]


def stored_tokens(origin: str, redis_url: str, cookie: str) -> TokenSet:
    config = OIDCConfig(
        issuer="http://127.0.0.1:1",
        client_id=CLIENT[0],
        base_url=origin,
        session_secrets=(SECRET,),
        allow_insecure_http=True,
    )
    sid = CookieSigner(config.session_secrets, config.login_timeout).session_id(cookie)
    assert sid is not None

    async def read() -> TokenSet:
        store = open_store(redis_url)
        try:
            session = await Sessions(config, store).load(sid)
            assert session is not None
            return Sessions(config, store).tokens(session)
        finally:
            await store.close()

    return asyncio.run(read())


def secrets_of(origin: str, redis_url: str, browser: Browser) -> set[str]:
    """What must never reach the audit log: the session id and cookie, the tokens, the codes."""
    cookie = session_cookie(browser)
    sid = CookieSigner((SECRET,), 600).session_id(cookie)
    assert sid is not None
    tokens = stored_tokens(origin, redis_url, cookie)
    codes = browser.codes()
    assert codes, "the login's code was not seen: the check below would check nothing"
    values = {cookie, sid, tokens.access_token, *codes}
    values |= {t for t in (tokens.refresh_token, tokens.id_token) if t}
    return values


def test_a_user_revokes_a_session_of_theirs_and_every_instance_agrees(
    tmp_path: Path, redis_url: str
) -> None:
    audit = tmp_path / "audit.jsonl"
    with ExitStack() as stack:
        origin, (one, two) = start_apps(stack, tmp_path, redis_url, audit)
        first = Browser(origin, one, CHROME)
        second = Browser(origin, two, FIREFOX)
        for browser in (first, second):
            stack.callback(browser.client.close)
            assert sandbox_login(browser.client, "alice").status_code == 303
            assert browser.client.get("/auth/session").status_code == 200
        never = secrets_of(origin, redis_url, first) | secrets_of(origin, redis_url, second)
        second_cookie = session_cookie(second)

        listed = first.client.get("/auth/sessions")
        assert listed.status_code == 200
        sessions = listed.json()["sessions"]
        assert len(sessions) == 2
        [mine] = [s for s in sessions if s["current"]]
        [theirs] = [s for s in sessions if not s["current"]]
        assert mine["user_agent"] == "Chrome 131 on Linux"
        assert theirs["user_agent"] == "Firefox 133 on Windows"
        assert theirs["network"] == "127.0.0.x"

        revoke = first.client.post(
            f"/auth/sessions/{theirs['handle']}/revoke",
            data={"next": "/profile"},
            headers={"Origin": origin},
        )
        assert (revoke.status_code, revoke.headers["location"]) == (303, "/profile")

        # Dead on the instance that served it, and on the other one.
        assert second.client.get("/auth/session").status_code == 401
        for server in (one, two):
            with httpx.Client(base_url=server.base_url) as other:
                other.cookies.set("oidc_session", second_cookie)
                assert other.get("/auth/session").status_code == 401, server.base_url
                other.cookies.set("oidc_session", session_cookie(first))
                assert other.get("/auth/session").status_code == 200, server.base_url
        [left] = first.client.get("/auth/sessions").json()["sessions"]
        assert left["handle"] == mine["handle"]

    text = audit.read_text()
    events = [json.loads(line) for line in text.splitlines()]
    names = [e["event"] for e in events]
    assert names.count("login.succeeded") == 2
    assert names.count("session.revoked") == 1
    [revoked] = [e for e in events if e["event"] == "session.revoked"]
    assert (revoked["sub"], revoked["reason"]) == ("sandbox-alice", "user")
    assert revoked["session"] == theirs["handle"]
    logins = [e for e in events if e["event"] == "login.succeeded"]
    assert {e["user_agent"] for e in logins} == {"Chrome 131 on Linux", "Firefox 133 on Windows"}
    assert all(e["client_ip"] == "127.0.0.1" for e in logins)
    leaked = [value for value in never if value in text]
    assert not leaked, "the audit log holds a token, a code, a cookie or a session id"
