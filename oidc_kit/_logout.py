"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0): the logout token and its effect.

The provider POSTs a signed ``logout_token`` when a user's session there ends. It is validated
like an ID token where the rules overlap, with the same code (the algorithms accepted from this
provider, the signature with its keys, ``iss``, the one audience rule for ``aud``/``azp``),
plus the logout token's own rules (§2.6): the back-channel logout event, ``sub`` and/or
``sid``, no ``nonce``, a ``jti`` never seen before (remembered in the shared store, so a replay
to another instance is refused too). The sessions it names are found through the store's
indexes and deleted, for every instance sharing the store.

RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) is the other direction: the app
sends the browser to the provider's ``end_session_endpoint`` (:func:`end_session_url`).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from joserfc import jws
from joserfc.errors import JoseError

from ._errors import InvalidLogoutToken
from ._id_token import check_audience, verify_signed
from ._provider import Provider, ProviderMetadata
from ._provider_config import ProviderConfig
from ._tokens import TokenSet
from .stores import SessionStore

__all__ = [
    "BACKCHANNEL_EVENT",
    "MAX_LOGOUT_TOKEN",
    "LogoutToken",
    "end_session_url",
    "logout_token_in",
    "unverified_issuer",
    "validate_logout_token",
]

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: Far above any real logout token (a few hundred bytes of claims, one signature); anyone
#: can post to the endpoint, so nothing larger is parsed.
MAX_LOGOUT_TOKEN = 16 * 1024
#: Logout tokens older than this are refused; their ``jti`` is remembered as long.
MAX_AGE = 600


@dataclass(frozen=True)
class LogoutToken:
    """What a valid logout token asks: end the provider session ``sid``, or all of ``sub``."""

    sub: str | None
    sid: str | None
    #: Where its ``jti`` is remembered (released again if ending the sessions fails, so
    #: that the provider's retry is not refused as a replay).
    jti_key: str


async def validate_logout_token(
    token: str, config: ProviderConfig, provider: Provider, store: SessionStore, now: float
) -> LogoutToken:
    """Validate ``token``; :class:`InvalidLogoutToken` on any failure."""
    header, claims = await verify_signed(
        token, config, provider, InvalidLogoutToken, "logout token"
    )
    typ = header.get("typ")
    _expect(typ in (None, "logout+jwt", "JWT"), "typ", "logout+jwt", typ)
    _check_claims(claims, config, now)
    sub, sid = claims.get("sub"), claims.get("sid")
    jti_key = "jti:" + hashlib.sha256(f"{config.issuer}|{claims['jti']}".encode()).hexdigest()
    if not await store.add(jti_key, b"1", MAX_AGE + 2 * config.clock_leeway):
        raise InvalidLogoutToken("logout token jti was already used", actual=claims["jti"])
    return LogoutToken(sub=sub, sid=sid, jti_key=jti_key)


def _check_claims(claims: dict[str, Any], config: ProviderConfig, now: float) -> None:
    leeway = config.clock_leeway
    _expect(claims.get("iss") == config.issuer, "iss", config.issuer, claims.get("iss"))
    check_audience(claims, config.client_id, InvalidLogoutToken, "logout token")
    iat = _number(claims, "iat")
    _expect(now - MAX_AGE - leeway <= iat <= now + leeway, "iat", "within the last 10 min", iat)
    if "exp" in claims:
        exp = _number(claims, "exp")
        _expect(now < exp + leeway, "exp", "in the future", exp)
    jti = claims.get("jti")
    _expect(isinstance(jti, str) and jti != "", "jti", "an identifier", jti)
    events = claims.get("events")
    event = events.get(BACKCHANNEL_EVENT) if isinstance(events, dict) else None
    _expect(isinstance(event, dict), "events", {BACKCHANNEL_EVENT: {}}, events)
    sub, sid = claims.get("sub"), claims.get("sid")
    _expect(sub is not None or sid is not None, "sub", "sub and/or sid", None)
    for name, value in (("sub", sub), ("sid", sid)):
        _expect(value is None or (isinstance(value, str) and value != ""), name, "a string", value)
    # §2.4: a nonce is forbidden, so a logout token can never pass for an ID token.
    _expect("nonce" not in claims, "nonce", "absent", "present")


def _number(claims: dict[str, Any], name: str) -> float:
    value = claims.get(name)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidLogoutToken(f"logout token {name} is missing or not a number", actual=value)
    return float(value)


def _expect(ok: bool, claim: str, expected: Any, actual: Any) -> None:
    if not ok:
        raise InvalidLogoutToken(
            f"logout token {claim} is invalid", expected=expected, actual=actual
        )


def logout_token_in(form: Mapping[str, Sequence[str]]) -> str:
    """The one ``logout_token`` of a back-channel request's form, of a sane size."""
    tokens = form.get("logout_token", [])
    if len(tokens) != 1:
        raise InvalidLogoutToken("exactly one logout_token is required")
    if len(tokens[0]) > MAX_LOGOUT_TOKEN:
        raise InvalidLogoutToken("the logout token is too large")
    return tokens[0]


def unverified_issuer(token: str) -> str | None:
    """The ``iss`` of a compact JWS's payload, unverified: only to pick which provider's keys
    and rules then validate it, ``iss`` included."""
    try:
        claims = json.loads(jws.extract_compact(token.encode()).payload)
    except (JoseError, ValueError, TypeError, RecursionError):  # deep nesting: RecursionError
        return None
    iss = claims.get("iss") if isinstance(claims, dict) else None
    return iss if isinstance(iss, str) else None


def end_session_url(
    config: ProviderConfig, meta: ProviderMetadata, tokens: TokenSet | None, return_to: str
) -> tuple[str, str] | None:
    """Where to send the browser to log out at the provider, and the ``state`` it brings back
    to ``return_to`` (``post_logout_redirect_uri``); ``None`` when the provider has no
    ``end_session_endpoint``. The ID token, when there is one, goes as ``id_token_hint``."""
    if meta.end_session_endpoint is None:
        return None
    state = secrets.token_urlsafe(16)
    params = {"client_id": config.client_id, "post_logout_redirect_uri": return_to, "state": state}
    if tokens is not None and tokens.id_token:
        params["id_token_hint"] = tokens.id_token
    separator = "&" if "?" in meta.end_session_endpoint else "?"
    return meta.end_session_endpoint + separator + urlencode(params), state
