"""Interop, JAR (RFC 9101): the example app with ``OIDC_PROFILE=fapi2`` and
``OIDC_SIGNED_REQUESTS=1`` against oidc-provider in its FAPI 2.0 mode with signed request
objects required of the client (``provider.js`` with ``FAPI2=1 JAR=1``).

The provider verifies the object with the client's public key (fetched from the app's
``/auth/jwks``, as for its client assertions) and, as the FAPI 2.0 profile asks of it, checks
``exp``, ``aud`` and ``nbf`` and that the object lives at most an hour. It logs each request
object it received (header and claims but the signature): the tests read from there that the
pushed request was a signed request object and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from joserfc.jwk import ECKey

from tests.interop.stack import (
    CLIENT_ID,
    FapiStack,
    fapi_stack_for,
    field_value,
    json_field,
    print_logs,
)

#: What the kit puts in every request object: the authorization request's parameters.
PARAMS = {
    "client_id",
    "code_challenge",
    "code_challenge_method",
    "nonce",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
}


@pytest.fixture(scope="module")
def jar_stack(node: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FapiStack]:
    """An EC client key (ES256 assertions and request objects), its JWKS fetched from the app."""
    tmp = tmp_path_factory.mktemp("jar")
    key = ECKey.generate_key("P-256", private=True)
    with fapi_stack_for(
        node,
        tmp,
        key,
        "ES256",
        provider_settings={"JAR": "1"},
        app_settings={"OIDC_SIGNED_REQUESTS": "1"},
    ) as s:
        yield s


@pytest.fixture(autouse=True)
def _logs(jar_stack: FapiStack) -> Iterator[None]:
    yield
    print_logs(jar_stack)


def test_the_provider_takes_signed_request_objects(jar_stack: FapiStack) -> None:
    meta = httpx.get(f"{jar_stack.provider.issuer}/.well-known/openid-configuration").json()
    assert meta["request_parameter_supported"] is True
    assert "ES256" in meta["request_object_signing_alg_values_supported"]
    assert meta["require_pushed_authorization_requests"] is True


def test_a_login_pushes_a_signed_request_object(jar_stack: FapiStack) -> None:
    provider = jar_stack.provider
    mark = provider.mark()
    with jar_stack.browser() as browser:
        answer = browser.login("alice")
        assert answer.status_code == 303, answer.text
        assert browser.session_body()["sub"] == "alice"

    [line] = provider.lines(r"event=jar\.request", since=mark)
    assert " path=/request status=201 " in line, line  # pushed (PAR), and accepted
    # RFC 9126 3: the form holds the object, the client id and the client authentication only.
    form = field_value(line, "form")
    assert form == "client_assertion,client_assertion_type,client_id,request"
    request_object = json_field(line, "request_object")
    assert request_object == {
        "alg": "ES256",
        "typ": "oauth-authz-req+jwt",
        "kid": jar_stack.client_key.thumbprint(),
        "iss": CLIENT_ID,
        "aud": provider.issuer,
        "client_id": CLIENT_ID,
        "lifetime": request_object["lifetime"],
        "jti": True,
        "claims": request_object["claims"],
    }
    assert 0 < request_object["lifetime"] <= 3600  # FAPI 2.0 Message Signing 5.3.1
    assert PARAMS - {"client_id"} <= set(request_object["claims"])
    # The browser then carries only the request_uri standing for it.
    [authorize] = provider.lines(r"GET /auth 30[23]", since=mark)
    assert "params=client_id,request_uri " in authorize, authorize
