"""DPoP (RFC 9449) pieces, with no provider: the proof, the nonce bookkeeping,
:class:`~oidc_kit._dpop.DPoPAuth` (the one nonce retry, driven as a generator), and
:class:`~oidc_kit.BearerAuth` driving a DPoP-bound session's calls."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from urllib.parse import parse_qsl

import httpx
import pytest
from joserfc import jws, jwt
from joserfc.jwk import ECKey

from oidc_kit._client_auth import ClientAuth, PrivateKeyJwt
from oidc_kit._client_key import ClientKey
from oidc_kit._dpop import DPoPAuth, DPoPKey, DPoPNonces, access_token_hash, target_uri
from oidc_kit._errors import ResponseTooLarge
from oidc_kit._http import fetch
from oidc_kit._tokens import TokenSet
from oidc_kit.httpx_auth import BearerAuth

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


TOKEN = "https://op.test/token"


def _answer(status: int, headers: dict[str, str], body: object = None) -> Answer:
    """An answer to whatever request was sent (so that ``response.url`` is the request's)."""
    return lambda request: httpx.Response(status, headers=headers, json=body, request=request)


Answer = Callable[[httpx.Request], httpx.Response]


async def _drive(auth: httpx.Auth, request: httpx.Request, *answers: Answer) -> list[httpx.Request]:
    """Run ``auth``'s flow as httpx does, with no network: each request it yields gets the
    next answer. Copies of the requests it sent, as they were sent (a flow may send one
    request object again, changed), until it stopped or the answers ran out."""
    flow = auth.async_auth_flow(request)
    sent = [await flow.__anext__()]
    copies = [_copy(sent[-1])]
    for answer in answers:
        try:
            sent.append(await flow.asend(answer(sent[-1])))
        except StopAsyncIteration:
            return copies
        copies.append(_copy(sent[-1]))
    await flow.aclose()
    return copies


def _copy(request: httpx.Request) -> httpx.Request:
    return httpx.Request(
        request.method, request.url, headers=request.headers, content=request.content
    )


def _post(url: str = TOKEN) -> httpx.Request:
    return httpx.Request("POST", url, data={"grant_type": "refresh_token"})


_NONCE_ERROR = 'error="use_dpop_nonce"'
_AS_ASKS = _answer(400, {"DPoP-Nonce": "n"}, {"error": "use_dpop_nonce"})
_RS_ASKS = _answer(401, {"DPoP-Nonce": "n", "WWW-Authenticate": 'DPoP error="use_dpop_nonce"'})


@pytest.mark.parametrize(
    ("access_token", "answer", "retried"),
    [
        (None, _AS_ASKS, True),
        ("at", _RS_ASKS, True),
        (
            "at",
            _answer(
                401,
                {
                    "DPoP-Nonce": "n",
                    "WWW-Authenticate": 'DPoP algs="ES256", error="use_dpop_nonce"',
                },
            ),
            True,
        ),
        (None, _answer(400, {}, {"error": "use_dpop_nonce"}), False),  # no nonce to use
        (None, _answer(400, {"DPoP-Nonce": "n"}, {"error": "invalid_grant"}), False),
        (None, _answer(400, {"DPoP-Nonce": "n"}, ["use_dpop_nonce"]), False),
        (
            None,
            lambda r: httpx.Response(
                400, headers={"DPoP-Nonce": "n"}, content=b"<html>", request=r
            ),
            False,
        ),
        (None, _answer(200, {"DPoP-Nonce": "n"}, {}), False),
        # An authorization server asks with a 400 (RFC 9449 8), a resource server with a 401
        # (RFC 9449 9): each one's way only.
        (None, _RS_ASKS, False),
        ("at", _AS_ASKS, False),
        (
            "at",
            _answer(401, {"DPoP-Nonce": "n", "WWW-Authenticate": 'DPoP error="invalid_token"'}),
            False,
        ),
        ("at", _answer(200, {"DPoP-Nonce": "n"}, {}), False),
    ],
    ids=[
        "as-400",
        "rs-401",
        "rs-401-with-algs",
        "no-nonce-header",
        "other-error",
        "not-an-object",
        "html",
        "as-200",
        "401-from-the-token-endpoint",
        "400-from-an-api",
        "rs-invalid-token",
        "rs-200",
    ],
)
async def test_dpop_auth_retries_only_on_a_nonce_challenge(
    access_token: str | None, answer: Answer, retried: bool
) -> None:
    auth = DPoPAuth(DPoPKey.generate(), DPoPNonces(), access_token=access_token)
    sent = await _drive(auth, _post(), answer, _answer(200, {}))
    assert len(sent) == (2 if retried else 1)


async def test_dpop_auth_retries_once_with_the_new_nonce() -> None:
    nonces = DPoPNonces()
    auth = DPoPAuth(DPoPKey.generate(), nonces)
    first, retry = await _drive(
        auth,
        _post(),
        _answer(400, {"DPoP-Nonce": "n-1"}, {"error": "use_dpop_nonce"}),
        _answer(200, {"DPoP-Nonce": "n-2"}, {}),
    )
    assert "nonce" not in decode(first.headers["dpop"])[1]
    assert decode(retry.headers["dpop"])[1]["nonce"] == "n-1"
    assert nonces.get(TOKEN) == "n-2"  # the retry's answer's nonce is kept too


async def test_dpop_auth_does_not_loop() -> None:
    asking = _answer(400, {"DPoP-Nonce": "again"}, {"error": "use_dpop_nonce"})
    sent = await _drive(DPoPAuth(DPoPKey.generate(), DPoPNonces()), _post(), asking, asking, asking)
    assert [decode(r.headers["dpop"])[1].get("nonce") for r in sent] == [None, "again"]


async def test_dpop_auth_starts_with_the_known_nonce() -> None:
    nonces = DPoPNonces()
    nonces.remember("https://op.test/x", _response(200, {"DPoP-Nonce": "known"}))
    (sent,) = await _drive(DPoPAuth(DPoPKey.generate(), nonces), _post(), _answer(200, {}))
    assert decode(sent.headers["dpop"])[1]["nonce"] == "known"


async def test_dpop_auth_signs_each_request_for_its_server() -> None:
    """Towards a resource server: the DPoP scheme, ``ath``, ``htm``/``htu``, ``iat`` from
    the clock; towards the token endpoint: no ``Authorization`` and no ``ath``."""
    key = DPoPKey.generate()
    api = DPoPAuth(key, DPoPNonces(), lambda: 1_800_000_000.0, "at-1")
    (sent,) = await _drive(api, httpx.Request("GET", API + "?page=1"), _answer(200, {}))
    assert sent.headers["authorization"] == "DPoP at-1"
    header, claims = decode(sent.headers["dpop"])
    assert ECKey.import_key(header["jwk"]).thumbprint() == key.thumbprint  # type: ignore[arg-type]
    assert (claims["htm"], claims["htu"], claims["iat"]) == ("GET", API, 1_800_000_000)
    assert claims["ath"] == access_token_hash("at-1")
    (sent,) = await _drive(DPoPAuth(key, DPoPNonces()), _post(), _answer(200, {}))
    assert "authorization" not in sent.headers
    assert "ath" not in decode(sent.headers["dpop"])[1]


async def test_a_retry_sends_a_new_proof_and_a_new_client_assertion() -> None:
    """A proof and a client assertion are each good for one request (RFC 9449 11.1, RFC 7523
    3): the retry after a nonce challenge signs both again, and keeps the form."""
    key = ClientKey(ECKey.generate_key("P-256", private=True))
    client = ClientAuth(PrivateKeyJwt("rp", key, "https://op.test"), lambda: 1.8e9)
    auth = DPoPAuth(DPoPKey.generate(), DPoPNonces(), prepare=client.authenticate)
    request = httpx.Request("POST", TOKEN, data={"grant_type": "refresh_token", "client_id": "x"})
    first, retry = await _drive(auth, request, _AS_ASKS, _answer(200, {}))
    proofs = [decode(r.headers["dpop"])[1]["jti"] for r in (first, retry)]
    assert proofs[0] != proofs[1]
    forms = [dict(parse_qsl(r.content.decode())) for r in (first, retry)]
    assertions = [jwt.decode(f["client_assertion"], key.key).claims for f in forms]
    assert assertions[0]["jti"] != assertions[1]["jti"]
    for form in forms:
        assert form["grant_type"] == "refresh_token" and form["client_id"] == "rp"
    assert request.content == b"grant_type=refresh_token&client_id=x"  # the template is kept


class _Streamed(httpx.AsyncByteStream):
    """A body that arrives later, as over a real connection (MockTransport's bodies are
    already read, which hides code that reads one too early)."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._body


@pytest.mark.parametrize("compressed", [False, True], ids=["too-large", "compressed"])
async def test_a_nonce_challenge_through_fetch_is_read_under_its_limits(compressed: bool) -> None:
    """The body of a nonce challenge, read to decide on the retry, is under fetch's rules:
    at most ``max_bytes``, never compressed (no gzip bomb before the retry)."""
    calls: list[httpx.Request] = []
    body = json.dumps({"error": "use_dpop_nonce", "pad": "x" * 2000}).encode()

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) > 1:
            return httpx.Response(200, json={})
        headers = {"DPoP-Nonce": "n"}
        if compressed:
            headers["Content-Encoding"] = "gzip"
            body_ = gzip.compress(body)
        else:
            body_ = body
        return httpx.Response(400, headers=headers, stream=_Streamed(body_))

    auth = DPoPAuth(DPoPKey.generate(), DPoPNonces())
    async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as http:
        with pytest.raises(ResponseTooLarge):
            await fetch(
                http, "POST", TOKEN, what="token endpoint", deadline=5, auth=auth, max_bytes=1000
            )
    assert len(calls) == 1


# -- BearerAuth over DPoP-bound tokens ----------------------------------------------------


class Source:
    """A TokenSource: a DPoP-bound set, a new access token (same key) per refresh."""

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
    auth = BearerAuth(source, nonces=nonces or DPoPNonces())
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

    auth = BearerAuth(source, nonces=DPoPNonces())
    async with httpx.AsyncClient(transport=httpx.MockTransport(handle), auth=auth) as http:
        await http.get(API)
    assert seen[0].headers["authorization"] == "Bearer at-1"
    assert "dpop" not in seen[0].headers


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
    auth = BearerAuth(Source(key), nonces=nonces)
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

    auth = BearerAuth(source, nonces=DPoPNonces())
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
    auth = BearerAuth(Source(key), nonces=nonces)
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


@pytest.mark.parametrize("alone", [False, True], ids=["session-auth", "dpop-auth"])
async def test_a_streamed_request_body_is_resent_on_the_retry(alone: bool) -> None:
    """httpx reads a streamed body up front only for auths that say they resend it: both
    :class:`BearerAuth` and the :class:`DPoPAuth` it runs, which may be used alone."""
    key = DPoPKey.generate()
    api = Api(key.thumbprint, nonce="n")
    bodies: list[bytes] = []

    def handle(request: httpx.Request, body: bytes) -> httpx.Response:
        bodies.append(body)
        return api.handle(request)

    async def upload() -> AsyncIterator[bytes]:
        yield b'{"amount": "10.00"}'

    auth: httpx.Auth = BearerAuth(Source(key), nonces=DPoPNonces())
    if alone:
        auth = DPoPAuth(key, DPoPNonces(), access_token="at-1")
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

    auth = BearerAuth(source, nonces=DPoPNonces())
    async with httpx.AsyncClient(transport=httpx.MockTransport(handle), auth=auth) as http:
        assert (await http.get(API)).status_code == 200
    assert seen == [None, "n-2"] and source.refreshes == []
