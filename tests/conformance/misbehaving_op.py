"""A misbehaving OpenID Provider for the conformance suite, on top of ``tests.fake_op.FakeOP``.

What it adds to the unit tests' provider, so every case can be played end to end:

- a configurable ``issuer`` (with a path, as the OpenID Foundation suite's issuers have) and
  configurable ``endpoints`` (any URL, on any host): discovery publishes them and
  :meth:`handle` routes by them, so a kit that guessed a path instead of discovering it fails;
- a configurable client (``client_id``/``client_secret``, any characters): the token endpoint
  decodes ``client_secret_basic`` as RFC 6749 2.3.1 says (form-urlencoded, then Basic), and
  ``require_client_auth`` makes it refuse any other client authentication;
- the authorization response: :meth:`authorize` answers like a provider redirecting the
  browser, :meth:`form_post_page` like one answering with ``response_mode=form_post``; both
  apply ``response_params`` (replaced or, with ``DROP``, removed parameters);
- a userinfo endpoint that only honours a Bearer header carrying a token it issued, and
  records what it was sent;
- one method per misbehaviour, named after the OpenID Foundation test it plays
  (:meth:`misbehave` looks them up by the test's name).

FAPI 2.0 (:meth:`MisbehavingOP.fapi2` turns it all on at once):

- a PAR endpoint (RFC 9126) that stores the pushed parameters under a one-time
  ``request_uri``; :meth:`authorize` resolves it, and with ``require_par`` refuses a request
  that was not pushed (the browser's own query is kept in ``browser_queries``);
- ``private_key_jwt`` (RFC 7523): assertions verified against ``client_jwks`` (the conftest
  registers what the app serves at ``/auth/jwks``), a reused ``jti`` refused, every assertion
  recorded in ``client_assertions`` with the endpoint it came to;
- DPoP (RFC 9449) at the token and userinfo endpoints: proofs verified (signature by the
  header's ``jwk``, ``typ``, ``htm``, ``htu``, ``iat``, a unique ``jti``, ``ath`` at
  userinfo, the server's nonce when ``dpop_nonce`` names one) and recorded in
  ``dpop_proofs``; a token request with a proof gets a ``DPoP`` token bound to the proof's
  key (``token_jkt``), which userinfo then accepts only with a matching proof.
  :func:`verify_dpop_proof` is the same check for the conftest's resource server.

Counters: ``hits`` counts requests per endpoint name (``discovery``, ``jwks``, ``token``,
``userinfo``, ``revocation``, ``par``); FakeOP's ``calls`` (per path) and ``requests`` still
fill in.

Client assertions and DPoP proofs are checked against ``clock``, the one the kit is given:
it dates them with the same clock as everything else.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlsplit

import httpx
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

from tests.fake_op import CLIENT_ID, CLIENT_SECRET, DROP, ISSUER, FakeOP, hmac_key, rsa_key

__all__ = [
    "CLIENT_ASSERTION_TYPE",
    "DROP",
    "ISSUER",
    "JARM_MODES",
    "UNTRUSTED",
    "ClientAssertion",
    "DPoPProof",
    "DPoPRefused",
    "MisbehavingOP",
    "access_token_hash",
    "id_token_header",
    "signing_key",
    "verify_dpop_proof",
]

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: The JARM response modes the provider answers in when asked (``jwt`` is ``query.jwt`` here).
JARM_MODES = ("query.jwt", "form_post.jwt", "jwt")
REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
#: What FAPI 2.0 allows for client assertions and DPoP proofs.
FAPI2_ALGS = ("PS256", "ES256")
#: How far a proof's or an assertion's ``iat`` may be from the server's clock.
MAX_SKEW = 60

#: Where a misbehaving provider points things it should not.
UNTRUSTED = "https://attacker.test"

_ALG_KEYS: dict[tuple[str, str], RSAKey] = {}


def signing_key(kid: str, alg: str) -> RSAKey:
    """An RSA key published for ``alg`` (RS256 keys come from FakeOP's cache)."""
    if alg == "RS256":
        return rsa_key(kid)
    if (kid, alg) not in _ALG_KEYS:
        _ALG_KEYS[kid, alg] = RSAKey.generate_key(
            2048, parameters={"kid": kid, "use": "sig", "alg": alg}
        )
    return _ALG_KEYS[kid, alg]


def id_token_header(token: str) -> dict[str, Any]:
    """The protected header of a compact JWS, as the provider sent it."""
    return dict(jws.extract_compact(token.encode()).protected)


def access_token_hash(access_token: str) -> str:
    """RFC 9449 ``ath``: base64url(SHA-256(access token)), computed here independently."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _compact_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a compact JWS, unverified (for the record)."""
    obj = jws.extract_compact(token.encode())
    claims = json.loads(obj.payload)
    if not isinstance(claims, dict):
        raise ValueError("the JWT's payload is not an object")
    return dict(obj.protected), claims


@dataclass
class ClientAssertion:
    """A ``private_key_jwt`` assertion as the provider received it."""

    endpoint: str
    header: dict[str, Any]
    claims: dict[str, Any]
    accepted: bool = False


@dataclass
class DPoPProof:
    """A validly signed DPoP proof as a server received it (before its nonce was checked)."""

    endpoint: str
    header: dict[str, Any]
    claims: dict[str, Any]
    jkt: str


class DPoPRefused(Exception):
    """A DPoP proof a server refuses: ``error`` is ``invalid_dpop_proof`` or
    ``use_dpop_nonce`` (RFC 9449 7.1, 8, 9)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


def verify_dpop_proof(
    request: httpx.Request,
    *,
    endpoint: str,
    htu: str,
    seen_jti: set[str],
    now: float,
    record: list[DPoPProof],
    access_token: str | None = None,
    nonce: str | None = None,
) -> DPoPProof:
    """RFC 9449 4.3: the checks a server makes of a request's DPoP proof.

    Records the proof in ``record`` once its signature is verified, then checks the nonce;
    raises :class:`DPoPRefused` on any failure.
    """
    values = request.headers.get_list("dpop")
    if len(values) != 1:
        raise DPoPRefused("invalid_dpop_proof", f"{len(values)} DPoP headers")
    try:
        header, _ = _compact_parts(values[0])
        jwk = header.get("jwk")
        if header.get("typ") != "dpop+jwt" or header.get("alg") not in FAPI2_ALGS:
            raise DPoPRefused("invalid_dpop_proof", f"typ/alg {header!r}")
        if not isinstance(jwk, dict) or any(m in jwk for m in ("d", "p", "q", "k")):
            raise DPoPRefused("invalid_dpop_proof", "the header's jwk is missing or private")
        key = ECKey.import_key(jwk) if jwk.get("kty") == "EC" else RSAKey.import_key(jwk)
        claims = dict(jwt.decode(values[0], key, algorithms=[header["alg"]]).claims)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise DPoPRefused("invalid_dpop_proof", f"undecodable ({type(exc).__name__})") from None
    proof = DPoPProof(endpoint, header, claims, key.thumbprint())
    record.append(proof)
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or jti in seen_jti:
        raise DPoPRefused("invalid_dpop_proof", "jti missing or reused")
    seen_jti.add(jti)
    if claims.get("htm") != request.method:
        raise DPoPRefused("invalid_dpop_proof", f"htm {claims.get('htm')!r}")
    if claims.get("htu") != htu:
        raise DPoPRefused("invalid_dpop_proof", f"htu {claims.get('htu')!r}")
    iat = claims.get("iat")
    if not isinstance(iat, int) or abs(iat - now) > MAX_SKEW:
        raise DPoPRefused("invalid_dpop_proof", f"iat {iat!r}")
    if access_token is not None and claims.get("ath") != access_token_hash(access_token):
        raise DPoPRefused("invalid_dpop_proof", "ath does not match the access token")
    if nonce is not None and claims.get("nonce") != nonce:
        raise DPoPRefused("use_dpop_nonce", "the proof must carry the server's nonce")
    return proof


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


class MisbehavingOP(FakeOP):
    """A provider that plays the OpenID Foundation RP test cases; correct until told not to."""

    def __init__(self) -> None:
        super().__init__()
        self.issuer = ISSUER
        self.endpoints: dict[str, str] = {}
        self.relocate(ISSUER)
        self.client_id = CLIENT_ID
        self.client_secret = CLIENT_SECRET
        #: ``client_secret_basic`` or ``client_secret_post``: refuse the other one.
        self.require_client_auth: str | None = None
        #: Overrides of the authorization response's parameters (``DROP`` removes one).
        self.response_params: dict[str, Any] = {}
        #: The authorization requests the browser brought, as query dicts.
        self.authorization_requests: list[dict[str, str]] = []
        #: Every access token and ID token issued, in order.
        self.issued_access_tokens: list[str] = []
        self.issued_id_tokens: list[str] = []
        #: The userinfo claims released besides ``sub`` (``userinfo_body`` still overrides).
        self.userinfo_claims: dict[str, Any] = {
            "email": "user@example.com",
            "email_verified": True,
            "name": "Test User",
            "given_name": "Test",
            "family_name": "User",
        }
        self.hits: Counter[str] = Counter()
        # FAPI 2.0: PAR, private_key_jwt, DPoP (see fapi2()).
        #: Publish ``require_pushed_authorization_requests`` and refuse unpushed requests.
        self.require_par = False
        #: Overrides of the PAR endpoint's answer (status and body), for its misbehaviours.
        self.par_status = 201
        self.par_body: dict[str, Any] = {}
        #: The pushed requests' forms, as received (client authentication included).
        self.pushed_requests: list[dict[str, str]] = []
        self._pushed: dict[str, dict[str, str]] = {}
        #: The queries the browser brought to the authorization endpoint, as they were.
        self.browser_queries: list[dict[str, str]] = []
        #: The client's registered public JWKS, for ``private_key_jwt``.
        self.client_jwks: dict[str, Any] = {"keys": []}
        self.client_assertions: list[ClientAssertion] = []
        self._assertion_jti: set[str] = set()
        #: Refuse a token request without a DPoP proof.
        self.require_dpop = False
        #: The nonce an endpoint (``token``, ``userinfo``) demands in proofs, if any.
        self.dpop_nonce: dict[str, str] = {}
        self.dpop_proofs: list[DPoPProof] = []
        self._dpop_jti: set[str] = set()
        #: The key thumbprint each DPoP-bound access token is bound to (``cnf.jkt``).
        self.token_jkt: dict[str, str] = {}
        #: The revocation requests' forms.
        self.revocations: list[dict[str, str]] = []
        self._binding: str | None = None  # the current token request's proof key
        # JARM: the authorization response as a signed JWT (see jarm()).
        #: Overrides of the response JWT's claims and header (``DROP`` removes one).
        self.jarm_claims: dict[str, Any] = {}
        self.jarm_header: dict[str, Any] = {}
        #: The key signing the response JWT (``None``: the ID tokens' key).
        self.jarm_sign_key: Any = None
        #: Parameters sent beside ``response``, outside the JWT.
        self.jarm_outside: dict[str, Any] = {}
        #: Every response JWT sent, in order.
        self.jarm_responses: list[str] = []
        # RAR (RFC 9396): the token response grants the requested authorization_details,
        # passed through this (the rar_* misbehaviours alter them).
        self.grant_details: Callable[[list[Any]], Any] = lambda details: details

    # -- discovery and routing ------------------------------------------------------------

    def relocate(self, issuer: str, **endpoints: str) -> None:
        """Serve as ``issuer`` (discovery under it), with any endpoint moved to any URL."""
        self.issuer = issuer
        base = issuer.rstrip("/")
        self.endpoints = {
            "discovery": f"{base}/.well-known/openid-configuration",
            "authorization": f"{base}/authorize",
            "token": f"{base}/token",
            "userinfo": f"{base}/userinfo",
            "jwks": f"{base}/jwks",
            "revocation": f"{base}/revoke",
            "end_session": f"{base}/logout",
            "par": f"{base}/par",
            **endpoints,
        }

    def metadata(self) -> dict[str, Any]:
        doc = {
            **super().metadata(),
            "issuer": self.issuer,
            "authorization_endpoint": self.endpoints["authorization"],
            "token_endpoint": self.endpoints["token"],
            "userinfo_endpoint": self.endpoints["userinfo"],
            "jwks_uri": self.endpoints["jwks"],
            "revocation_endpoint": self.endpoints["revocation"],
            "end_session_endpoint": self.endpoints["end_session"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "claims_supported": ["sub", "name", "given_name", "family_name", "email"],
            "response_modes_supported": ["query", "form_post"],
            "pushed_authorization_request_endpoint": self.endpoints["par"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
            ],
            "token_endpoint_auth_signing_alg_values_supported": list(FAPI2_ALGS),
            "dpop_signing_alg_values_supported": list(FAPI2_ALGS),
        }
        if self.require_par:
            doc["require_pushed_authorization_requests"] = True
        doc.update(self.discovery)
        return {k: v for k, v in doc.items() if v is not DROP}

    def endpoint_of(self, url: httpx.URL | str) -> str | None:
        """The name of the endpoint ``url`` addresses, if it is one this provider publishes."""
        target = _without_query(str(url))
        for name, published in self.endpoints.items():
            if _without_query(published) == target:
                return name
        return None

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.calls[request.url.path] += 1
        name = self.endpoint_of(request.url)
        if name is not None:
            self.hits[name] += 1
        if self.fail_with is not None:
            raise self.fail_with("provider down", request=request)  # type: ignore[call-arg]
        if name == "discovery":
            return httpx.Response(200, json=self.metadata())
        if name == "jwks":
            keys = self.jwks_raw
            if keys is None:
                keys = [k.as_dict(private=False) for k in self.jwks_keys]
            return httpx.Response(200, json={"keys": keys})
        if name == "token" and request.method == "POST":
            return self._token(request)
        if name == "userinfo":
            return self._userinfo(request)
        if name == "revocation" and request.method == "POST":
            return self._revocation(request)
        if name == "par" and request.method == "POST":
            return self._par(request)
        return httpx.Response(404)

    def requests_to(self, name: str) -> list[httpx.Request]:
        return [r for r in self.requests if self.endpoint_of(r.url) == name]

    # -- the authorization endpoint -------------------------------------------------------

    def requested(self, authorization_url: str) -> dict[str, str]:
        """The authorization request's parameters: the browser's query, or what was pushed
        under its ``request_uri`` (without using the ``request_uri`` up)."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(authorization_url).query).items()}
        return self._pushed.get(query.get("request_uri", ""), query)

    def authorize(self, authorization_url: str) -> dict[str, str]:
        """Read the authorization request as a provider would; the response's parameters."""
        assert _without_query(authorization_url) == _without_query(
            self.endpoints["authorization"]
        ), f"the browser was sent to {authorization_url}, not the discovered endpoint"
        query = {k: v[0] for k, v in parse_qs(urlsplit(authorization_url).query).items()}
        self.browser_queries.append(query)
        if "request_uri" in query:
            pushed = self._pushed.pop(query["request_uri"], None)  # RFC 9126 7.3: one use
            assert pushed is not None, "an unknown or reused request_uri"
            assert query["client_id"] == pushed["client_id"]
            query = pushed
        elif self.require_par:
            # RFC 9126 5: without a pushed request, the provider answers an error.
            error = {"error": "invalid_request", "iss": self.issuer}
            return error | ({"state": query["state"]} if "state" in query else {})
        assert query["client_id"] == self.client_id
        assert query["response_type"] == "code"
        assert query["code_challenge_method"] == "S256"
        assert "openid" in query["scope"].split()
        self.authorization_requests.append(query)
        code = secrets.token_urlsafe(16)
        self._codes[code] = query
        params: dict[str, Any] = {"code": code, "state": query["state"], "iss": self.issuer}
        params.update(self.response_params)
        params = {k: v for k, v in params.items() if v is not DROP}
        if query.get("response_mode") in JARM_MODES:
            return self._jarm_response(params)
        return params

    def form_post_page(self, authorization_url: str) -> str:
        """``response_mode=form_post``: the self-submitting page the provider answers with."""
        params = self.authorize(authorization_url)
        action = self.authorization_requests[-1]["redirect_uri"]
        inputs = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in params.items()
        )
        return (
            '<!doctype html><html><body onload="document.forms[0].submit()">'
            f'<form method="post" action="{html.escape(action)}">{inputs}'
            "<noscript><button>Continue</button></noscript></form></body></html>"
        )

    # -- tokens ---------------------------------------------------------------------------

    def id_token(self, nonce: str | None, access_token: str, **extra: Any) -> str:
        extra = {"iss": self.issuer, "aud": self.client_id, **extra}
        token = super().id_token(nonce, access_token, **extra)
        self.issued_id_tokens.append(token)
        return token

    def access_token(self) -> str:
        token = super().access_token()
        self.issued_access_tokens.append(token)
        return token

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if not self._client_ok(request, form, "token"):
            return httpx.Response(401, json={"error": "invalid_client"})
        jkt = None
        if self.require_dpop or "dpop" in request.headers:
            nonce = self.dpop_nonce.get("token")
            headers = {"DPoP-Nonce": nonce} if nonce else {}
            try:
                jkt = self._proof(request, "token", nonce=nonce).jkt
            except DPoPRefused as exc:
                body = {"error": exc.error, "error_description": exc.description}
                return httpx.Response(400, json=body, headers=headers)
        self._binding = jkt
        if form["grant_type"] == "authorization_code":
            return self._code_grant(form)
        return self._refresh_grant(form)

    def _code_grant(self, form: dict[str, str]) -> httpx.Response:
        """RFC 9396 7: the token response carries the authorization details granted (those
        the request asked for, through :attr:`grant_details`); ``token_body`` still wins."""
        requested = self._codes.get(form.get("code", ""), {}).get("authorization_details")
        if requested is None:
            return super()._code_grant(form)
        saved = self.token_body
        granted = self.grant_details(json.loads(requested))
        self.token_body = {"authorization_details": granted, **saved}
        try:
            return super()._code_grant(form)
        finally:
            self.token_body = saved

    def _proof(self, request: httpx.Request, endpoint: str, **kwargs: Any) -> DPoPProof:
        return verify_dpop_proof(
            request,
            endpoint=endpoint,
            htu=_without_query(self.endpoints[endpoint]),
            seen_jti=self._dpop_jti,
            now=self.clock(),
            record=self.dpop_proofs,
            **kwargs,
        )

    def _issue(self, nonce: str | None, overrides: dict[str, Any] | None = None) -> httpx.Response:
        """FakeOP's token response; with a DPoP proof, a ``DPoP`` token bound to its key."""
        response = super()._issue(nonce, overrides)
        if self._binding is None:
            return response
        body = json.loads(response.content)
        changed = self.token_body if overrides is None else overrides
        if "token_type" not in changed:
            body["token_type"] = "DPoP"
        if str(body.get("token_type")).lower() == "dpop":
            self.token_jkt[self.issued_access_tokens[-1]] = self._binding
        nonce_header = self.dpop_nonce.get("token")
        headers = {"Cache-Control": "no-store"} | (
            {"DPoP-Nonce": nonce_header} if nonce_header else {}
        )
        return httpx.Response(200, json=body, headers=headers)

    def _client_ok(
        self, request: httpx.Request, form: dict[str, str], endpoint: str = "token"
    ) -> bool:
        if "client_assertion" in form or "client_assertion_type" in form:
            return self._assertion_ok(request, form, endpoint)
        if self.require_client_auth == "private_key_jwt":
            return False
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            if self.require_client_auth not in (None, "client_secret_basic"):
                return False
            user, _, password = base64.b64decode(header[6:]).decode("ascii").partition(":")
            # RFC 6749 2.3.1: each part was form-urlencoded before the Basic encoding.
            return unquote_plus(user) == self.client_id and unquote_plus(password) == (
                self.client_secret
            )
        if self.require_client_auth not in (None, "client_secret_post"):
            return False
        return form.get("client_id") == self.client_id and form.get("client_secret") == (
            self.client_secret
        )

    def _assertion_ok(self, request: httpx.Request, form: dict[str, str], endpoint: str) -> bool:
        """``private_key_jwt`` (RFC 7523 3, FAPI 2.0 5.3.2.1), checked as a strict provider."""
        if self.require_client_auth not in (None, "private_key_jwt"):
            return False
        if "authorization" in request.headers or "client_secret" in form:
            return False  # RFC 6749 2.3: one client authentication method per request
        token = form.get("client_assertion", "")
        try:
            header, claims = _compact_parts(token)
        except (JoseError, ValueError, TypeError):
            return False
        record = ClientAssertion(endpoint, header, claims)
        self.client_assertions.append(record)
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
            return False
        if header.get("alg") not in FAPI2_ALGS:
            return False
        try:
            jwks: Any = self.client_jwks
            keys = KeySet.import_key_set(jwks)
            key = keys.get_by_kid(header["kid"])
            jwt.decode(token, key, algorithms=[header["alg"]])
        except (JoseError, ValueError, TypeError, KeyError):
            return False
        now = self.clock()
        jti = claims.get("jti")
        exp, iat = claims.get("exp"), claims.get("iat")
        ok = (
            claims.get("iss") == self.client_id
            and claims.get("sub") == self.client_id
            and form.get("client_id", self.client_id) == self.client_id
            and claims.get("aud") == self.issuer
            and isinstance(jti, str)
            and jti not in self._assertion_jti
            and isinstance(exp, int)
            and isinstance(iat, int)
            and iat - MAX_SKEW <= now < exp
        )
        if isinstance(jti, str):
            self._assertion_jti.add(jti)
        record.accepted = ok
        return ok

    def _par(self, request: httpx.Request) -> httpx.Response:
        """RFC 9126 2: authenticate the client, keep the parameters behind a request_uri."""
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        self.pushed_requests.append(form)
        if not self._client_ok(request, form, "par"):
            return httpx.Response(401, json={"error": "invalid_client"})
        if "dpop" in request.headers:
            # RFC 9449 10.1: a proof at PAR binds the code to its key.
            nonce = self.dpop_nonce.get("par")
            try:
                self._proof(request, "par", nonce=nonce)
            except DPoPRefused as exc:
                body = {"error": exc.error, "error_description": exc.description}
                return httpx.Response(400, json=body, headers={"DPoP-Nonce": nonce or ""})
        if self.par_status != 201 or self.par_body:
            return httpx.Response(self.par_status, json=self.par_body)
        if "request_uri" in form or form.get("client_id") != self.client_id:
            return httpx.Response(400, json={"error": "invalid_request"})
        uri = REQUEST_URI_PREFIX + secrets.token_urlsafe(24)
        auth_params = ("client_assertion", "client_assertion_type", "client_secret")
        self._pushed[uri] = {k: v for k, v in form.items() if k not in auth_params}
        return httpx.Response(201, json={"request_uri": uri, "expires_in": 60})

    def _revocation(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        self.revocations.append(form)
        if not self._client_ok(request, form, "revocation"):
            return httpx.Response(401, json={"error": "invalid_client"})
        return httpx.Response(200)

    def _userinfo(self, request: httpx.Request) -> httpx.Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if token not in self.issued_access_tokens:
            return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        jkt = self.token_jkt.get(token)
        if jkt is None and scheme.lower() != "bearer":
            return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if jkt is not None:
            # RFC 9449 7.1: a bound token only with the DPoP scheme and a proof of its key.
            nonce = self.dpop_nonce.get("userinfo")
            headers = {"DPoP-Nonce": nonce} if nonce else {}
            try:
                if scheme.lower() != "dpop":
                    raise DPoPRefused("invalid_token", "a DPoP-bound token without DPoP")
                proof = self._proof(request, "userinfo", access_token=token, nonce=nonce)
                if proof.jkt != jkt:
                    raise DPoPRefused("invalid_dpop_proof", "not the token's key")
            except DPoPRefused as exc:
                headers["WWW-Authenticate"] = f'DPoP error="{exc.error}"'
                return httpx.Response(401, headers=headers)
        body = {"sub": self.sub, **self.userinfo_claims, **self.userinfo_body}
        body = {k: v for k, v in body.items() if v is not DROP}
        return httpx.Response(self.userinfo_status, json=body)

    # -- keys -----------------------------------------------------------------------------

    def use_key(self, key: RSAKey, alg: str, *, publish: bool = True) -> None:
        """Sign the next ID tokens with ``key`` under ``alg`` (and publish it, by default)."""
        self.key = key
        self.sign_key = None
        self.id_header = {"alg": alg, "kid": key.kid}
        if publish:
            self.jwks_keys = [key]

    def rotate(self, kid: str) -> None:
        """Retire the signing key: a new one under a new ``kid``, alone in the JWKS."""
        self.use_key(rsa_key(kid), "RS256")

    # -- the misbehaviours, by OpenID Foundation test name --------------------------------

    def misbehave(self, test_name: str) -> None:
        """Play the provider side of an OpenID Foundation test, e.g.
        ``oidcc-client-test-invalid-iss`` or ``fapi2-security-profile-final-client-test-...``."""
        for prefix in ("oidcc-client-test-", "fapi2-security-profile-final-client-test-"):
            if test_name.startswith(prefix):
                getattr(self, test_name.removeprefix(prefix).replace("-", "_"))()
                return
        assert test_name == "oidcc-client-test", test_name

    def invalid_iss(self) -> None:
        self.id_claims["iss"] = UNTRUSTED

    def missing_sub(self) -> None:
        self.id_claims["sub"] = DROP

    def invalid_aud(self) -> None:
        self.id_claims["aud"] = "https://another-client.test"

    def missing_iat(self) -> None:
        self.id_claims["iat"] = DROP

    def kid_absent_single_jwks(self) -> None:
        self.jwks_keys = [self.key]
        self.id_header["kid"] = DROP

    def kid_absent_multiple_jwks(self) -> None:
        """Several RSA keys, the signing one last, and no ``kid`` to tell them apart."""
        self.jwks_keys = [rsa_key("other-1"), rsa_key("other-2"), self.key]
        self.id_header["kid"] = DROP

    def idtoken_sig_rs256(self) -> None:
        self.id_header["alg"] = "RS256"

    def idtoken_sig_none(self) -> None:
        self.discovery["id_token_signing_alg_values_supported"] = ["RS256", "none"]
        self.id_header = {"alg": "none", "kid": DROP}

    def invalid_sig_rs256(self) -> None:
        """Signed with a key that is not the published one, under the published ``kid``."""
        self.sign_key = rsa_key("attacker")

    def userinfo_invalid_sub(self) -> None:
        self.userinfo_body["sub"] = "another-user"

    def nonce_invalid(self) -> None:
        self.id_claims["nonce"] = secrets.token_urlsafe(32)

    def scope_userinfo_claims(self) -> None:
        """The profile and email claims only come from userinfo, never from the ID token."""
        self.id_claims["name"] = DROP

    def client_secret_basic(self) -> None:
        self.require_client_auth = "client_secret_basic"

    # -- FAPI 2.0 ---------------------------------------------------------------------------

    def fapi2(self) -> None:
        """Act as a FAPI 2.0 authorization server: PAR required, ``private_key_jwt`` only,
        DPoP required at the token endpoint, ID tokens in PS256."""
        self.require_par = True
        self.require_client_auth = "private_key_jwt"
        self.require_dpop = True
        self.use_key(signing_key("ps-1", "PS256"), "PS256")
        self.discovery["id_token_signing_alg_values_supported"] = ["PS256"]
        self.discovery["token_endpoint_auth_methods_supported"] = ["private_key_jwt"]

    def use_dpop_nonce(self, endpoint: str = "token", nonce: str | None = None) -> str:
        """Demand a server nonce in the DPoP proofs sent to ``endpoint`` (RFC 9449 8, 9)."""
        self.dpop_nonce[endpoint] = nonce or "nonce-" + secrets.token_urlsafe(12)
        return self.dpop_nonce[endpoint]

    def dpop_bearer_token(self) -> None:
        """Asked for a DPoP-bound token, issue a ``Bearer`` one (no ``cnf``)."""
        self.token_body["token_type"] = "Bearer"

    def dpop_token_type_lower_case(self) -> None:
        """``token_type`` ``dpop``: the same type as ``DPoP`` (RFC 6749 7.1)."""
        self.token_body["token_type"] = "dpop"

    # refresh (the next ID tokens are the refresh responses')

    def refresh_token_invalid_issuer(self) -> None:
        self.id_claims["iss"] = UNTRUSTED

    def refresh_token_invalid_sub(self) -> None:
        self.id_claims["sub"] = "another-user"

    # FAPI 2.0 client tests

    def invalid_missing_aud(self) -> None:
        self.id_claims["aud"] = DROP

    def invalid_secondary_aud(self) -> None:
        self.id_claims["aud"] = [self.client_id, "https://untrusted-client.test"]

    def invalid_expired_exp(self) -> None:
        self.id_claims["exp"] = int(self.clock()) - 3600

    def invalid_missing_exp(self) -> None:
        self.id_claims["exp"] = DROP

    def invalid_missing_nonce(self) -> None:
        self.id_claims["nonce"] = DROP

    def invalid_authorization_response_iss(self) -> None:
        self.response_params["iss"] = UNTRUSTED

    def remove_authorization_response_iss(self) -> None:
        self.response_params["iss"] = DROP

    def ensure_authorization_response_with_invalid_state_fails(self) -> None:
        self.response_params["state"] = secrets.token_urlsafe(32)

    def ensure_authorization_response_with_invalid_missing_state_fails(self) -> None:
        self.response_params["state"] = DROP

    def invalid_alternate_alg(self, alg: str = "RS256") -> None:
        """Sign with ``alg``, outside the client's algorithms, with a key published for it
        beside the usual one (an HMAC alg is keyed with the client secret, Core 10.1)."""
        if alg.startswith("HS"):
            self.id_header = {"alg": alg, "kid": DROP}
            self.sign_key = hmac_key(self.client_secret)
            return
        usual = self.jwks_keys
        self.use_key(signing_key(f"alt-{alg}", alg), alg)
        self.jwks_keys = [*usual, self.key]

    # -- JARM: JWT-secured authorization responses -----------------------------------------

    def jarm(self, algs: tuple[str, ...] = ("RS256",)) -> None:
        """Advertise the JARM response modes, and ``algs`` for the response JWTs."""
        self.discovery["response_modes_supported"] = ["query", "form_post", *JARM_MODES]
        self.discovery["authorization_signing_alg_values_supported"] = list(algs)

    def _jarm_response(self, params: dict[str, Any]) -> dict[str, str]:
        """The authorization response as JARM 2.1 has it: its parameters as the claims of one
        JWT (with ``iss``, ``aud``, ``exp``), signed like the ID tokens, in ``response``."""
        now = int(self.clock())
        claims = {"iss": self.issuer, "aud": self.client_id, "exp": now + 300, **params}
        claims.update(self.jarm_claims)
        claims = {k: v for k, v in claims.items() if v is not DROP}
        header = {"alg": "RS256", "kid": self.key.kid, **self.id_header, **self.jarm_header}
        header = {k: v for k, v in header.items() if v is not DROP}
        key = self.jarm_sign_key or self.sign_key or self.key
        if header["alg"] == "none":
            parts = (json.dumps(part).encode() for part in (header, claims))
            token = ".".join(base64.urlsafe_b64encode(p).rstrip(b"=").decode() for p in parts) + "."
        else:
            token = jwt.encode(header, claims, key, algorithms=[header["alg"]])
        self.jarm_responses.append(token)
        # ``...`` beside the JWT: the response's own value of that parameter.
        outside = {k: params[k] if v is ... else v for k, v in self.jarm_outside.items()}
        return {"response": token, **outside}

    def jarm_invalid_signature(self) -> None:
        """Signed with a key that is not the published one, under the published ``kid``."""
        self.jarm_sign_key = rsa_key("attacker")

    def jarm_invalid_iss(self) -> None:
        self.jarm_claims["iss"] = UNTRUSTED

    def jarm_invalid_aud(self) -> None:
        self.jarm_claims["aud"] = "https://another-client.test"

    def jarm_secondary_aud(self) -> None:
        """This client and another, without ``azp``: refused as in an ID token."""
        self.jarm_claims["aud"] = [self.client_id, "https://untrusted-client.test"]

    def jarm_expired(self) -> None:
        self.jarm_claims["exp"] = int(self.clock()) - 3600

    def jarm_missing_exp(self) -> None:
        self.jarm_claims["exp"] = DROP

    def jarm_alg_none(self) -> None:
        self.discovery["authorization_signing_alg_values_supported"] = ["RS256", "none"]
        self.jarm_header = {"alg": "none", "kid": DROP}

    def jarm_hs256(self) -> None:
        """HS256, keyed with the client secret (and advertised)."""
        self.discovery["authorization_signing_alg_values_supported"] = ["RS256", "HS256"]
        self.jarm_header = {"alg": "HS256", "kid": DROP}
        self.jarm_sign_key = hmac_key(self.client_secret)

    def jarm_unknown_kid(self) -> None:
        """Signed with a key the JWKS does not publish, under its own ``kid``."""
        self.jarm_sign_key = rsa_key("unpublished")
        self.jarm_header["kid"] = "unpublished"

    def jarm_state_outside(self) -> None:
        """The login's ``state`` beside the JWT instead of in it."""
        self.jarm_claims["state"] = DROP
        self.jarm_outside["state"] = ...

    def jarm_encrypted(self) -> None:
        """A JWE instead of a JWS (five parts): encrypted for a key the client does not have."""
        self.jarm_outside["response"] = "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d"

    # -- RAR (RFC 9396): the granted authorization_details differ from the requested ones --

    def rar_details_missing(self) -> None:
        """The token response carries no ``authorization_details`` at all."""
        self.token_body["authorization_details"] = DROP

    def rar_amount_changed(self) -> None:
        """The payment's amount is not the one asked for."""
        amount = {"currency": "EUR", "amount": "9999.00"}
        self.grant_details = lambda d: [{**d[0], "instructedAmount": amount}, *d[1:]]

    def rar_detail_added(self) -> None:
        """One more object than asked for."""
        self.grant_details = lambda d: [*d, {"type": "account_information", "actions": ["read"]}]

    def rar_detail_removed(self) -> None:
        """Fewer objects than asked for (the user consented to part of it)."""
        self.grant_details = lambda d: d[:-1]

    def rar_not_an_array(self) -> None:
        """One object instead of an array of them."""
        self.grant_details = lambda d: d[0]

    def rar_without_type(self) -> None:
        """Objects without their ``type``."""
        self.grant_details = lambda d: [{k: v for k, v in x.items() if k != "type"} for x in d]
