"""``BearerAuth``: attach the token, and on a 401 refresh once and retry once.

The flow is driven as a generator with no network first, then through a real
``httpx.AsyncClient`` on a ``MockTransport``, then with the kit's own token source.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.requests import Request

from oidc_kit import BearerAuth, LoginRequired, SessionEnded, TokenSet, TokenSource
from oidc_kit._session import Session
from oidc_kit.starlette import OIDCAuth
from tests.conftest import Clock, login
from tests.fake_op import FakeOP

API = "https://api.test/orca/v1/accounts"


class FakeSource:
    """A TokenSource handing out ``t1``, then ``t2``, ``t3``... one per refresh."""

    def __init__(self) -> None:
        self.current = "t1"
        self.token_calls = 0
        self.refreshes: list[str] = []

    async def tokens(self) -> TokenSet:
        self.token_calls += 1
        return TokenSet(access_token=self.current, token_type="Bearer")

    async def refreshed(self, rejected: str) -> TokenSet:
        self.refreshes.append(rejected)
        self.current = f"t{len(self.refreshes) + 1}"
        return TokenSet(access_token=self.current, token_type="Bearer")


def response(status: int, request: httpx.Request) -> httpx.Response:
    return httpx.Response(status, json={"status": status}, request=request)


# -- the flow as a generator -----------------------------------------------------------------


async def test_attaches_the_bearer_token() -> None:
    source: TokenSource = FakeSource()  # an app's own source, of the one protocol
    assert isinstance(source, FakeSource)
    flow = BearerAuth(source).async_auth_flow(httpx.Request("GET", API))
    sent = await flow.__anext__()
    assert sent.headers["Authorization"] == "Bearer t1"
    assert source.token_calls == 1
    assert source.refreshes == []
    await flow.aclose()


@pytest.mark.parametrize("status", [200, 204, 400, 403, 404, 500])
async def test_a_non_401_answer_ends_the_flow_after_one_request(status: int) -> None:
    source = FakeSource()
    flow = BearerAuth(source).async_auth_flow(httpx.Request("GET", API))
    sent = await flow.__anext__()
    with pytest.raises(StopAsyncIteration):
        await flow.asend(response(status, sent))
    assert source.refreshes == []


async def test_a_401_refreshes_once_and_retries_once_with_the_new_token() -> None:
    source = FakeSource()
    flow = BearerAuth(source).async_auth_flow(httpx.Request("GET", API))
    first = await flow.__anext__()
    assert first.headers["Authorization"] == "Bearer t1"

    retry = await flow.asend(response(401, first))

    assert source.refreshes == ["t1"]  # refresh(rejected=<the refused token>)
    assert retry.headers["Authorization"] == "Bearer t2"
    assert retry.url == first.url and retry.method == first.method
    with pytest.raises(StopAsyncIteration):
        await flow.asend(response(200, retry))
    assert source.refreshes == ["t1"]


async def test_a_second_401_is_the_apis_answer() -> None:
    source = FakeSource()
    flow = BearerAuth(source).async_auth_flow(httpx.Request("GET", API))
    first = await flow.__anext__()
    retry = await flow.asend(response(401, first))
    with pytest.raises(StopAsyncIteration):  # no third request
        await flow.asend(response(401, retry))
    assert source.refreshes == ["t1"]
    assert source.token_calls == 1


async def test_the_401_body_is_read_before_the_retry() -> None:
    source = FakeSource()
    flow = BearerAuth(source).async_auth_flow(httpx.Request("GET", API))
    first = await flow.__anext__()
    refused = httpx.Response(
        401, stream=httpx.ByteStream(b'{"error": "unauthorized"}'), request=first
    )
    await flow.asend(refused)
    assert refused.is_stream_consumed  # the connection is released before the retry
    await flow.aclose()


async def test_a_streamed_body_is_resent_on_the_retry() -> None:
    """A connection reads a streamed body by iterating it, once: the retry after the 401
    must still have it (httpx keeps it only when the auth reads it first)."""
    bodies: list[bytes] = []

    class Wire(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            assert isinstance(request.stream, httpx.AsyncByteStream)
            bodies.append(b"".join([chunk async for chunk in request.stream]))
            ok = request.headers["authorization"] == "Bearer t2"
            return httpx.Response(200 if ok else 401)

    async def upload() -> AsyncIterator[bytes]:
        yield b'{"amount": "10.00"}'

    async with httpx.AsyncClient(transport=Wire(), auth=BearerAuth(FakeSource())) as http:
        assert (await http.post(API, content=upload())).status_code == 200
    assert bodies == [b'{"amount": "10.00"}'] * 2


def test_the_sync_flow_is_refused() -> None:
    auth = BearerAuth(FakeSource())
    with pytest.raises(RuntimeError, match="async"):
        next(auth.sync_auth_flow(httpx.Request("GET", API)))
    with (
        httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))) as client,
        pytest.raises(RuntimeError, match="async"),
    ):
        client.get(API, auth=auth)


# -- through a real client -------------------------------------------------------------------


class FakeAPI:
    """An API refusing the tokens in ``refused`` with a 401, recording what it received."""

    def __init__(self, *refused: str) -> None:
        self.refused = set(refused)
        self.seen: list[tuple[str, bytes]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        header = request.headers.get("Authorization", "")
        self.seen.append((header, request.content))
        token = header.removeprefix("Bearer ")
        if not header.startswith("Bearer ") or token in self.refused:
            return httpx.Response(
                401,
                json={
                    "error": "unauthorized",
                    "error_description": "The access token is invalid or has expired",
                },
            )
        return httpx.Response(200, json={"accounts": [], "token_ok": True})


async def test_a_client_gets_200_after_one_refresh() -> None:
    source = FakeSource()
    api = FakeAPI("t1")
    async with httpx.AsyncClient(transport=httpx.MockTransport(api)) as client:
        answer = await client.post(API, json={"amount": 5}, auth=BearerAuth(source))
    assert answer.status_code == 200
    assert source.refreshes == ["t1"]
    assert [header for header, _ in api.seen] == ["Bearer t1", "Bearer t2"]
    assert {json.loads(body)["amount"] for _, body in api.seen} == {5}  # body sent again


async def test_a_client_gets_the_second_401_as_is() -> None:
    source = FakeSource()
    api = FakeAPI("t1", "t2")
    async with httpx.AsyncClient(transport=httpx.MockTransport(api)) as client:
        answer = await client.get(API, auth=BearerAuth(source))
    assert answer.status_code == 401
    assert answer.json()["error"] == "unauthorized"
    assert len(api.seen) == 2
    assert source.refreshes == ["t1"]


# -- with the kit's token source -------------------------------------------------------------


async def new_session(kit: OIDCAuth, op: FakeOP) -> Session:
    result = await login(kit, op)
    session = await kit._sessions.create(result.tokens, result.claims, result.provider_sid)
    op.calls.clear()
    return session


def request_with(session: Session) -> Request:
    """A request as the kit's middleware leaves it: the session under ``oidc_session``."""
    scope = {"type": "http", "method": "GET", "path": "/api/accounts", "headers": []}
    return Request({**scope, "oidc_session": session})


async def test_the_kit_refreshes_once_when_the_api_refuses_its_token(
    kit: OIDCAuth, op: FakeOP
) -> None:
    session = await new_session(kit, op)
    first = kit._sessions.tokens(session).access_token
    api = FakeAPI(first)  # e.g. revoked at the authorization server before its expiry

    async with httpx.AsyncClient(transport=httpx.MockTransport(api)) as client:
        answer = await client.get(API, auth=kit.httpx_auth(request_with(session)))

    assert answer.status_code == 200
    assert op.calls["/token"] == 1
    stored = await kit._sessions.load(session.sid)
    assert stored is not None
    current = kit._sessions.tokens(stored).access_token
    assert current != first
    assert [header for header, _ in api.seen] == [f"Bearer {first}", f"Bearer {current}"]


async def test_the_kit_refreshes_a_due_token_before_calling(
    kit: OIDCAuth, op: FakeOP, clock: Clock
) -> None:
    op.token_body["expires_in"] = 600  # due at 570 s, well within the idle timeout
    session = await new_session(kit, op)
    first = kit._sessions.tokens(session).access_token
    clock.advance(571)
    api = FakeAPI(first)

    async with httpx.AsyncClient(transport=httpx.MockTransport(api)) as client:
        answer = await client.get(API, auth=kit.httpx_auth(request_with(session)))

    assert answer.status_code == 200
    assert op.calls["/token"] == 1
    assert len(api.seen) == 1  # refreshed before the call: no 401 round trip
    assert api.seen[0][0] != f"Bearer {first}"


async def test_a_refused_refresh_after_a_401_ends_the_session(kit: OIDCAuth, op: FakeOP) -> None:
    session = await new_session(kit, op)
    tokens = kit._sessions.tokens(session)
    op.refresh_tokens.clear()  # the provider ended this login
    api = FakeAPI(tokens.access_token)

    async with httpx.AsyncClient(transport=httpx.MockTransport(api)) as client:
        with pytest.raises(SessionEnded):
            await client.get(API, auth=kit.httpx_auth(request_with(session)))

    assert len(api.seen) == 1
    assert await kit._sessions.load(session.sid) is None


@pytest.mark.parametrize("scope", [{}, {"oidc_session": None}], ids=["no-key", "none"])
async def test_without_a_session_the_kit_asks_for_a_login(
    kit: OIDCAuth, scope: dict[str, Any]
) -> None:
    conn = Request({"type": "http", "method": "GET", "path": "/", "headers": [], **scope})
    with pytest.raises(LoginRequired) as info:
        kit.httpx_auth(conn)
    assert info.value.code == "login_required"
    assert info.value.status == 401
