"""The sandbox provider reads bounded bodies and parses its forms itself (no python-multipart).

Its token, PAR, revocation and login endpoints take a form; a body over the cap is refused
with a 413 before it is parsed, whether its size is declared or it streams in chunked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from oidc_kit.testing import SandboxClient, SandboxProvider
from oidc_kit.testing._op_context import MAX_BODY, MAX_FIELDS

ISSUER = "http://op.test"
GRANT = {"grant_type": "client_credentials", "scope": "accounts:read"}


@pytest.fixture
async def op_client() -> AsyncIterator[httpx.AsyncClient]:
    op = SandboxProvider(ISSUER, [SandboxClient("app", "secret", ("http://app.test/cb",))])
    transport = httpx.ASGITransport(app=op.app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
        yield client


def _assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "invalid_request"
    assert response.headers["cache-control"] == "no-store"


async def test_a_form_at_the_cap_is_parsed(op_client: httpx.AsyncClient) -> None:
    body = str(httpx.QueryParams(GRANT)).encode()
    padded = body + b"&pad=" + b"x" * (MAX_BODY - len(body) - len(b"&pad="))
    assert len(padded) == MAX_BODY
    response = await op_client.post(
        "/token",
        content=padded,
        headers={"content-type": "application/x-www-form-urlencoded"},
        auth=("app", "secret"),
    )
    assert response.status_code == 200, response.text


async def test_a_declared_body_over_the_cap_is_413(op_client: httpx.AsyncClient) -> None:
    form = {**GRANT, "pad": "x" * MAX_BODY}
    _assert_too_large(await op_client.post("/token", data=form, auth=("app", "secret")))


async def test_a_declared_length_over_the_cap_is_refused_before_reading(
    op_client: httpx.AsyncClient,
) -> None:
    read: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        read.append(1)
        yield b"grant_type=client_credentials&pad=" + b"x" * MAX_BODY

    response = await op_client.post(
        "/token",
        content=chunks(),
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "content-length": str(MAX_BODY + 1),
        },
        auth=("app", "secret"),
    )
    _assert_too_large(response)
    assert read == []  # the Content-Length alone was enough


async def test_a_chunked_body_over_the_cap_is_413(op_client: httpx.AsyncClient) -> None:
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        yield b"grant_type=client_credentials&pad="
        for _ in range(64):  # 4 MiB in all, if it were read whole
            sent.append(1)
            yield b"x" * 65536

    response = await op_client.post(
        "/token",
        content=chunks(),
        headers={"content-type": "application/x-www-form-urlencoded"},
        auth=("app", "secret"),
    )
    assert "content-length" not in response.request.headers
    _assert_too_large(response)
    assert len(sent) < 64  # refused while streaming in, not after reading it all


async def test_a_json_body_over_the_cap_is_413(op_client: httpx.AsyncClient) -> None:
    body = {**GRANT, "client_id": "app", "client_secret": "secret", "pad": "x" * MAX_BODY}
    _assert_too_large(await op_client.post("/token", json=body))


async def test_too_many_fields_is_a_400(op_client: httpx.AsyncClient) -> None:
    form = {**GRANT, **{f"f{i}": "v" for i in range(MAX_FIELDS)}}
    response = await op_client.post("/token", data=form, auth=("app", "secret"))
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"


async def test_form_values_are_decoded_as_before(op_client: httpx.AsyncClient) -> None:
    # Percent-escapes and '+' decode; a repeated parameter is still refused (RFC 6749 3.1).
    body = b"grant_type=client_credentials&scope=accounts%3Aread+transactions%3Aread"
    response = await op_client.post(
        "/token",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded; charset=utf-8"},
        auth=("app", "secret"),
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "accounts:read transactions:read"
    repeated = await op_client.post(
        "/token",
        content=body + b"&scope=cards%3Aread",
        headers={"content-type": "application/x-www-form-urlencoded"},
        auth=("app", "secret"),
    )
    assert repeated.status_code == 400
    assert "repeated" in repeated.json()["error_description"]
