"""RP-initiated logout and back-channel logout, named after the OpenID Foundation RP tests.

oidcc-client-test-rp-init-logout*: the RP sends the browser to the provider's
end_session_endpoint with id_token_hint, post_logout_redirect_uri, client_id and state, and
handles the return (a wrong or missing state is harmless: the session already ended here).
oidcc-client-test-rp-backchannel-rpinitlogout*: the provider posts a logout token; a valid one
ends the session, each invalid variant is refused with 400 and ends nothing.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from oidc_kit._logout import BACKCHANNEL_EVENT
from tests.conformance.conftest import APP, RP
from tests.conftest import Clock
from tests.fake_op import CLIENT_ID, DROP, _unsigned

pytestmark = pytest.mark.usefixtures("op")


async def logged_in(rp: RP) -> None:
    await rp.assert_logged_in(await rp.login())


async def rp_logout(rp: RP) -> dict[str, str]:
    response = await rp.browser.post("/auth/logout", headers={"Origin": APP})
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert (
        f"{location.scheme}://{location.netloc}{location.path}"
        == (rp.op.metadata()["end_session_endpoint"])
    )
    return {k: v[0] for k, v in parse_qs(location.query).items()}


async def test_oidcc_client_test_rp_init_logout(rp: RP, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="oidc_kit")
    await logged_in(rp)
    id_token = rp.op.issued_id_tokens[-1]
    query = await rp_logout(rp)
    assert query["id_token_hint"] == id_token
    assert query["post_logout_redirect_uri"] == f"{APP}/"
    assert query["client_id"] == CLIENT_ID
    assert len(query["state"]) >= 16
    assert (await rp.session()).status_code == 401  # ended here before leaving
    await rp.browser.get("/", params={"state": query["state"]})
    assert "returned from the provider's logout" in caplog.text


@pytest.mark.parametrize("state", ["other-state", None], ids=["other-state", "no-state"])
async def test_oidcc_client_test_rp_init_logout_other_or_no_state(
    rp: RP, caplog: pytest.LogCaptureFixture, state: str | None
) -> None:
    """-rp-init-logout-other-state and -rp-init-logout-no-state: logged, never an error."""
    await logged_in(rp)
    await rp_logout(rp)
    back = await rp.browser.get("/", params={"state": state} if state else {})
    assert back.status_code < 500
    assert "wrong or missing state" in caplog.text
    assert (await rp.session()).status_code == 401


def logout_token(
    rp: RP, clock: Clock, header: dict[str, Any] | None = None, key: Any = None, **claims: Any
) -> str:
    op = rp.op
    now = int(clock())
    body: dict[str, Any] = {
        "iss": op.metadata()["issuer"],
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 120,
        "jti": secrets.token_urlsafe(12),
        "events": {BACKCHANNEL_EVENT: {}},
        "sid": "op-session-1",
        "sub": op.sub,
    }
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not DROP}
    head = {"alg": "RS256", "kid": op.key.kid, "typ": "logout+jwt", **(header or {})}
    head = {k: v for k, v in head.items() if v is not DROP}
    if head["alg"] == "none":
        return _unsigned(head, body)
    return jwt.encode(head, body, key or op.key, algorithms=[head["alg"]])


async def test_oidcc_client_test_rp_backchannel_rpinitlogout(rp: RP, clock: Clock) -> None:
    await logged_in(rp)
    response = await rp.browser.post(
        "/auth/backchannel-logout", data={"logout_token": logout_token(rp, clock)}
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert (await rp.session()).status_code == 401


INVALID = {
    "alg-none": {"header": {"alg": "none", "kid": DROP}},
    "no-event": {"events": DROP},
    "with-nonce": {"nonce": "a-nonce"},
    "wrong-alg": {"header": {"alg": "HS256", "kid": DROP}, "key": "secret"},
    "wrong-aud": {"aud": "another-client"},
    "wrong-event": {"events": {"http://schemas.openid.net/event/not-logout": {}}},
    "wrong-iss": {"iss": "https://another-op.test"},
}


@pytest.mark.parametrize("variant", list(INVALID), ids=list(INVALID))
async def test_oidcc_client_test_rp_backchannel_rpinitlogout_invalid(
    rp: RP, clock: Clock, variant: str
) -> None:
    """-rp-backchannel-rpinitlogout-invalid-*: 400, and the session lives on."""
    await logged_in(rp)
    options = dict(INVALID[variant])
    header = options.pop("header", None)
    key = options.pop("key", None)
    if key == "secret":
        key = OctKey.import_key(rp.config.client_secret.encode())  # type: ignore[union-attr]
    token = logout_token(rp, clock, header, key, **options)
    response = await rp.browser.post("/auth/backchannel-logout", data={"logout_token": token})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_logout_token"
    assert (await rp.session()).status_code == 200
