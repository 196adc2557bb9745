"""DPoP (RFC 9449) pieces, with no provider: the proof, the nonce bookkeeping, one retry,
and :class:`~oidc_kit.httpx_auth.SessionAuth` driving a DPoP-bound session's calls."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import httpx
import pytest
from joserfc import jws, jwt
from joserfc.jwk import ECKey

from oidc_kit._dpop import (
    DPoPKey,
    DPoPNonces,
    access_token_hash,
    send_with_nonce,
    target_uri,
    wants_nonce,
)
from oidc_kit._tokens import TokenSet
from oidc_kit.httpx_auth import SessionAuth

API = "https://orca.test/v1/accounts"


def decode(proof: str) -> tuple[dict[str, object], dict[str, object]]:
    """Verify a proof with the key its own header carries, as a server does (RFC 9449 4.3)."""
    header = dict(jws.extract_compact(proof.encode()).protected)
    key = ECKey.import_key(header["jwk"])
    return header, dict(jwt.decode(proof, key, algorithms=["ES256"]).claims)


# -- the proof -----------------------------------------------------------------------------


def test_a_proof_names_the_request_and_carries_only_the_public_key() -> None:
    key = DPoPKey.generate()
    header, claims = decode(key.proof("post", API + "?page=2#frag", now=1_800_000_000))
    assert header["typ"] == "dpop+jwt"
    assert header["alg"] == "ES256"
    jwk = header["jwk"]
    assert isinstance(jwk, dict)
    assert "d" not in jwk
    assert ECKey.import_key(jwk).thumbprint() == key.thumbprint
    assert claims["htm"] == "POST"
    assert claims["htu"] == API  # RFC 9449 4.2: no query, no fragment
    assert claims["iat"] == 1_800_000_000
    assert "ath" not in claims
    assert "nonce" not in claims


def test_ath_is_the_rfc_9449_example() -> None:
    """RFC 9449 7.1's example token and its ``ath``."""
    token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
    assert access_token_hash(token) == "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    _, claims = decode(DPoPKey.generate().proof("GET", API, access_token=token))
    assert claims["ath"] == "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"


def test_a_proof_carries_the_nonce() -> None:
    _, claims = decode(DPoPKey.generate().proof("GET", API, nonce="n-1"))
    assert claims["nonce"] == "n-1"


def test_every_proof_has_its_own_jti() -> None:
    key = DPoPKey.generate()
    jtis = {decode(key.proof("GET", API))[1]["jti"] for _ in range(30)}
    assert len(jtis) == 30


def test_target_uri_keeps_scheme_host_port_and_path() -> None:
    assert target_uri("https://Orca.test:8443/a/b?x=1#y") == "https://Orca.test:8443/a/b"


def test_the_key_survives_sealing_and_its_repr_shows_no_secret() -> None:
    key = DPoPKey.generate()
    again = DPoPKey.from_json(key.to_json())
    assert again.thumbprint == key.thumbprint
    private = json.loads(key.to_json())
    assert private["d"] not in repr(key)
    assert repr(key) == f"DPoPKey(jkt={key.thumbprint!r})"
    _, claims = decode(again.proof("GET", API))
    assert claims["htu"] == API


def test_each_session_gets_its_own_key() -> None:
    assert DPoPKey.generate().thumbprint != DPoPKey.generate().thumbprint


# -- a server asking for its nonce ---------------------------------------------------------


def _response(status: int, headers: dict[str, str], body: object = None) -> httpx.Response:
    return httpx.Response(status, headers=headers, json=body)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (_response(400, {"DPoP-Nonce": "n"}, {"error": "use_dpop_nonce"}), True),
        (
            _response(401, {"DPoP-Nonce": "n", "WWW-Authenticate": 'DPoP error="use_dpop_nonce"'}),
            True,
        ),
        (
            _response(
                401,
                {
                    "DPoP-Nonce": "n",
                    "WWW-Authenticate": 'DPoP algs="ES256", error="use_dpop_nonce"',
                },
            ),
            True,
        ),
        (_response(400, {}, {"error": "use_dpop_nonce"}), False),  # no nonce to use
        (_response(400, {"DPoP-Nonce": "n"}, {"error": "invalid_grant"}), False),
        (_response(400, {"DPoP-Nonce": "n"}, ["use_dpop_nonce"]), False),
        (
            _response(401, {"DPoP-Nonce": "n", "WWW-Authenticate": 'DPoP error="invalid_token"'}),
            False,
        ),
        (_response(200, {"DPoP-Nonce": "n"}, {}), False),
        (httpx.Response(400, headers={"DPoP-Nonce": "n"}, content=b"<html>"), False),
    ],
    ids=[
        "as-400",
        "rs-401",
        "rs-401-with-algs",
        "no-nonce-header",
        "other-error",
        "not-an-object",
        "rs-invalid-token",
        "200",
        "html",
    ],
)
def test_wants_nonce(response: httpx.Response, expected: bool) -> None:
    assert wants_nonce(response) is expected


def test_nonces_are_kept_per_origin() -> None:
    nonces = DPoPNonces()
    nonces.remember("https://op.test/token", _response(200, {"DPoP-Nonce": "op-1"}))
    nonces.remember("https://orca.test/v1/a", _response(200, {"DPoP-Nonce": "rs-1"}))
    assert nonces.get("https://OP.test/userinfo") == "op-1"
    assert nonces.get("https://orca.test/v1/b?x=1") == "rs-1"
    assert nonces.get("https://other.test/") is None
    nonces.remember("https://op.test/token", _response(200, {}))  # no header: kept
    assert nonces.get("https://op.test/token") == "op-1"
    nonces.remember("https://op.test/token", _response(200, {"DPoP-Nonce": "op-2"}))
    assert nonces.get("https://op.test/token") == "op-2"


@pytest.mark.parametrize("bad", ["x" * 1025, "caf\u00e9", "a\tb"])
def test_a_nonce_that_could_not_go_in_a_proof_is_ignored(bad: str) -> None:
    nonces = DPoPNonces()
    response = httpx.Response(200, headers=[(b"DPoP-Nonce", bad.encode())])
    nonces.remember("https://op.test/token", response)
    assert nonces.get("https://op.test/token") is None


def _server(*answers: httpx.Response) -> tuple[Callable[..., object], list[str | None]]:
    sent: list[str | None] = []

    async def send(nonce: str | None) -> httpx.Response:
        sent.append(nonce)
        return answers[min(len(sent), len(answers)) - 1]

    return send, sent


async def test_send_with_nonce_retries_once_with_the_new_nonce() -> None:
    send, sent = _server(
        _response(400, {"DPoP-Nonce": "n-1"}, {"error": "use_dpop_nonce"}),
        _response(200, {"DPoP-Nonce": "n-2"}, {}),
    )
    nonces = DPoPNonces()
    response = await send_with_nonce(send, "https://op.test/token", nonces)  # type: ignore[arg-type]
    assert response.status_code == 200
    assert sent == [None, "n-1"]
    assert nonces.get("https://op.test/token") == "n-2"


async def test_send_with_nonce_does_not_loop() -> None:
    asking = _response(400, {"DPoP-Nonce": "again"}, {"error": "use_dpop_nonce"})
    send, sent = _server(asking)
    response = await send_with_nonce(send, "https://op.test/token", DPoPNonces())  # type: ignore[arg-type]
    assert response.status_code == 400
    assert sent == [None, "again"]


async def test_send_with_nonce_starts_with_the_known_nonce() -> None:
    nonces = DPoPNonces()
    nonces.remember("https://op.test/x", _response(200, {"DPoP-Nonce": "known"}))
    send, sent = _server(_response(200, {}, {}))
    await send_with_nonce(send, "https://op.test/token", nonces)  # type: ignore[arg-type]
    assert sent == ["known"]


# -- SessionAuth ---------------------------------------------------------------------------


class Source:
    """A TokenSetSource: a DPoP-bound set, a new access token (same key) per refresh."""

    def __init__(self, key: DPoPKey | None) -> None:
        self.key = key
        self.current = TokenSet(
            access_token="at-1",
            token_type="DPoP" if key else "Bearer",
            expires_at=None,
            issued_at=0,
            dpop_key=key.to_json() if key else None,
        )
        self.refreshes: list[str] = []

    async def tokens(self) -> TokenSet:
        return self.current

    async def refreshed(self, rejected: str) -> TokenSet:
        self.refreshes.append(rejected)
        self.current = replace(self.current, access_token=f"at-{len(self.refreshes) + 1}")
        return self.current


class Api:
    """A resource server: checks the scheme, the proof's key, ``ath``, and its nonce."""

    def __init__(self, jkt: str, nonce: str | None = None, valid: tuple[str, ...] = ("at-1",)):
        self.jkt = jkt
        self.nonce = nonce
        self.valid = valid
        self.seen: list[tuple[str, dict[str, object]]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        scheme, _, token = request.headers["authorization"].partition(" ")
        assert scheme == "DPoP"
        header, claims = decode(request.headers["dpop"])
        self.seen.append((token, claims))
        assert ECKey.import_key(header["jwk"]).thumbprint() == self.jkt  # type: ignore[arg-type]
        assert claims["ath"] == access_token_hash(token)
        assert claims["htm"] == request.method
        assert claims["htu"] == target_uri(str(request.url))
        if self.nonce is not None and claims.get("nonce") != self.nonce:
            headers = {"DPoP-Nonce": self.nonce, "WWW-Authenticate": 'DPoP error="use_dpop_nonce"'}
            return httpx.Response(401, headers=headers)
        if token not in self.valid:
            return httpx.Response(401, headers={"WWW-Authenticate": 'DPoP error="invalid_token"'})
        return httpx.Response(200, json={"ok": True})


async def _call(source: Source, api: Api, nonces: DPoPNonces | None = None) -> httpx.Response:
    auth = SessionAuth(source, nonces or DPoPNonces())
    async with httpx.AsyncClient(transport=httpx.MockTransport(api.handle), auth=auth) as http:
        return await http.get(API + "?page=1")


async def test_session_auth_sends_the_dpop_scheme_and_a_proof() -> None:
    key = DPoPKey.generate()
    api = Api(key.thumbprint)
    assert (await _call(Source(key), api)).status_code == 200
    ((token, claims),) = api.seen
    assert token == "at-1"
    assert claims["htu"] == API


async def test_session_auth_meets_a_nonce_challenge_with_one_retry() -> None:
    key = DPoPKey.generate()
    api = Api(key.thumbprint, nonce="rs-n")
    source = Source(key)
    assert (await _call(source, api)).status_code == 200
    assert [c.get("nonce") for _, c in api.seen] == [None, "rs-n"]
    assert source.refreshes == []


async def test_session_auth_refreshes_on_401_with_a_proof_for_the_new_token() -> None:
    key = DPoPKey.generate()
    api = Api(key.thumbprint, valid=("at-2",))
    source = Source(key)
    assert (await _call(source, api)).status_code == 200
    assert source.refreshes == ["at-1"]
    assert [t for t, _ in api.seen] == ["at-1", "at-2"]
    assert api.seen[1][1]["ath"] == access_token_hash("at-2")


async def test_session_auth_after_refresh_meets_a_new_nonce() -> None:
    """401 invalid_token, refresh, then the server wants a nonce: one more try, no more."""
    key = DPoPKey.generate()
    api = Api(key.thumbprint, valid=("at-2",))
    source = Source(key)
    nonces = DPoPNonces()
    original = api.handle

    def handle(request: httpx.Request) -> httpx.Response:
        if len(api.seen) == 1:
            api.nonce = "late"
        return original(request)

    api.handle = handle  # type: ignore[method-assign]
    assert (await _call(source, api, nonces)).status_code == 200
    assert [(t, c.get("nonce")) for t, c in api.seen] == [
        ("at-1", None),
        ("at-2", None),
        ("at-2", "late"),
    ]


async def test_session_auth_without_dpop_is_bearer() -> None:
    source = Source(None)
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    auth = SessionAuth(source, DPoPNonces())
    async with httpx.AsyncClient(transport=httpx.MockTransport(handle), auth=auth) as http:
        await http.get(API)
    assert seen[0].headers["authorization"] == "Bearer at-1"
    assert "dpop" not in seen[0].headers


class _Streamed(httpx.AsyncByteStream):
    """A body that arrives later, as over a real connection (MockTransport's bodies are
    already read, which hides code that reads one too early)."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._body


async def test_session_auth_leaves_a_streamed_400_with_a_nonce_header_alone() -> None:
    """RFC 9449 8.2 lets a server send DPoP-Nonce with any answer; an API's 400 is the
    caller's to read, not a reason to crash (httpx.ResponseNotRead) or to retry."""
    key = DPoPKey.generate()
    calls: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        body = _Streamed(b'{"error": "use_dpop_nonce"}')
        return httpx.Response(400, headers={"DPoP-Nonce": "n-1"}, stream=body)

    nonces = DPoPNonces()
    auth = SessionAuth(Source(key), nonces)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handle), auth=auth) as http:
        response = await http.get(API)
    assert response.status_code == 400 and len(calls) == 1
    assert nonces.get(API) == "n-1"  # kept for the next proof


@pytest.mark.parametrize("error", ["invalid_dpop_proof", "use_dpop_nonce"])
async def test_a_refused_proof_spends_no_refresh_token(error: str) -> None:
    """A new access token cannot cure a refused proof (clock skew, a nonce the server keeps
    changing): no refresh, the 401 is the answer."""
    key = DPoPKey.generate()
    source = Source(key)
    calls: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        headers = {"WWW-Authenticate": f'DPoP error="{error}"', "DPoP-Nonce": f"n{len(calls)}"}
        return httpx.Response(401, headers=headers)

    auth = SessionAuth(source, DPoPNonces())
    async with httpx.AsyncClient(transport=httpx.MockTransport(handle), auth=auth) as http:
        assert (await http.get(API)).status_code == 401
    assert source.refreshes == []
    assert len(calls) == (2 if error == "use_dpop_nonce" else 1)


async def test_a_nonce_from_another_origin_after_a_redirect_is_not_kept() -> None:
    key = DPoPKey.generate()

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host == "orca.test":
            return httpx.Response(302, headers={"Location": "https://elsewhere.test/x"})
        headers = {"DPoP-Nonce": "theirs", "WWW-Authenticate": 'DPoP error="use_dpop_nonce"'}
        return httpx.Response(401, headers=headers)

    nonces = DPoPNonces()
    auth = SessionAuth(Source(key), nonces)
    transport = httpx.MockTransport(handle)
    async with httpx.AsyncClient(transport=transport, auth=auth, follow_redirects=True) as http:
        await http.get(API)
    assert nonces.get(API) is None


class _Wire(httpx.AsyncBaseTransport):
    """Reads the request body as a connection would: by iterating its stream, once."""

    def __init__(self, handle: Callable[[httpx.Request, bytes], httpx.Response]) -> None:
        self._handle = handle

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        body = b"".join([chunk async for chunk in request.stream])
        return self._handle(request, body)


async def test_a_streamed_request_body_is_resent_on_the_retry() -> None:
    """httpx reads a streamed body up front only for auths that say they resend it."""
    key = DPoPKey.generate()
    api = Api(key.thumbprint, nonce="n")
    bodies: list[bytes] = []

    def handle(request: httpx.Request, body: bytes) -> httpx.Response:
        bodies.append(body)
        return api.handle(request)

    async def upload() -> AsyncIterator[bytes]:
        yield b'{"amount": "10.00"}'

    auth = SessionAuth(Source(key), DPoPNonces())
    async with httpx.AsyncClient(transport=_Wire(handle), auth=auth) as http:
        assert (await http.post(API, content=upload())).status_code == 200
    assert bodies == [b'{"amount": "10.00"}'] * 2


async def test_a_nonce_challenge_among_several_schemes_is_seen() -> None:
    """``WWW-Authenticate: Bearer error="invalid_token", DPoP error="use_dpop_nonce"``: the
    DPoP challenge counts; one more try with the nonce, and no refresh token spent."""
    key = DPoPKey.generate()
    source = Source(key)
    seen: list[object] = []

    def handle(request: httpx.Request) -> httpx.Response:
        _, claims = decode(request.headers["dpop"])
        seen.append(claims.get("nonce"))
        if claims.get("nonce") == "n-2":
            return httpx.Response(200)
        challenge = 'Bearer error="invalid_token", DPoP error="use_dpop_nonce"'
        return httpx.Response(401, headers={"WWW-Authenticate": challenge, "DPoP-Nonce": "n-2"})

    auth = SessionAuth(source, DPoPNonces())
    async with httpx.AsyncClient(transport=httpx.MockTransport(handle), auth=auth) as http:
        assert (await http.get(API)).status_code == 200
    assert seen == [None, "n-2"] and source.refreshes == []
