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

Counters: ``hits`` counts requests per endpoint name (``discovery``, ``jwks``, ``token``,
``userinfo``, ``revocation``); FakeOP's ``calls`` (per path) and ``requests`` still fill in.
"""

from __future__ import annotations

import base64
import html
import secrets
from collections import Counter
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlsplit

import httpx
from joserfc import jws
from joserfc.jwk import RSAKey

from tests.fake_op import CLIENT_ID, CLIENT_SECRET, DROP, ISSUER, FakeOP, hmac_key, rsa_key

__all__ = ["DROP", "ISSUER", "UNTRUSTED", "MisbehavingOP", "id_token_header", "signing_key"]

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
        }
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
        if name == "revocation":
            return httpx.Response(200)
        return httpx.Response(404)

    def requests_to(self, name: str) -> list[httpx.Request]:
        return [r for r in self.requests if self.endpoint_of(r.url) == name]

    # -- the authorization endpoint -------------------------------------------------------

    def authorize(self, authorization_url: str) -> dict[str, str]:
        """Read the authorization request as a provider would; the response's parameters."""
        assert _without_query(authorization_url) == _without_query(
            self.endpoints["authorization"]
        ), f"the browser was sent to {authorization_url}, not the discovered endpoint"
        query = {k: v[0] for k, v in parse_qs(urlsplit(authorization_url).query).items()}
        assert query["client_id"] == self.client_id
        assert query["response_type"] == "code"
        assert query["code_challenge_method"] == "S256"
        assert "openid" in query["scope"].split()
        self.authorization_requests.append(query)
        code = secrets.token_urlsafe(16)
        self._codes[code] = query
        params: dict[str, Any] = {"code": code, "state": query["state"], "iss": self.issuer}
        params.update(self.response_params)
        return {k: v for k, v in params.items() if v is not DROP}

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

    def _client_ok(self, request: httpx.Request, form: dict[str, str]) -> bool:
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

    def _userinfo(self, request: httpx.Request) -> httpx.Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token not in self.issued_access_tokens:
            return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
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
