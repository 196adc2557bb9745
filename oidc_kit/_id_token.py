"""ID token validation (OpenID Connect Core 3.1.3.7), strict, with joserfc doing the JOSE.

The algorithm is checked against the set this client accepts from this provider
(:mod:`._algorithms`: the registered one, or the allowlist ∩ what the provider advertises)
before any key is looked at: the token never chooses how it is verified. Every failure is an
:class:`InvalidIdToken` whose code is ``invalid_id_token`` and whose message names the claim,
never the token.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import OctKey

from ._algorithms import accepted_algs
from ._errors import InvalidIdToken, OIDCError
from ._jwks import SigningKey
from ._provider import Provider
from ._provider_config import ProviderConfig

__all__ = [
    "VALIDATION_ONLY_CLAIMS",
    "IdTokenChecks",
    "audience_list",
    "check_audience",
    "validate_id_token",
    "verify_signed",
]

#: Claims that only matter while validating the token; sessions do not keep them.
VALIDATION_ONLY_CLAIMS = frozenset({"nonce", "at_hash", "c_hash"})

_HASH_FOR_ALG = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}


@dataclass(frozen=True)
class IdTokenChecks:
    """What this particular ID token must satisfy beyond the configuration's rules."""

    #: The login's nonce; ``None`` for refresh responses (no nonce is expected there).
    nonce: str | None = None
    #: ``max_age`` sent at login: ``auth_time`` is then required and checked.
    max_age: int | None = None
    #: The access token issued alongside, for the ``at_hash`` check.
    access_token: str | None = None
    #: On refresh, the session's subject: the new token must be about the same user.
    sub: str | None = None
    #: ``acr_values`` sent at login (step-up): the ``acr`` claim must be one of them.
    acr_values: tuple[str, ...] = ()
    #: When a ``prompt=login`` login started: ``auth_time`` must not be earlier (the provider
    #: really authenticated the user again rather than reusing its session).
    auth_not_before: float | None = None


async def validate_id_token(
    token: str, config: ProviderConfig, provider: Provider, checks: IdTokenChecks, now: float
) -> dict[str, Any]:
    """Verify ``token``'s signature and claims; return its claims."""
    # ID tokens come from the token endpoint: a new kid may refetch the JWKS at once.
    header, claims = await verify_signed(
        token, config, provider, InvalidIdToken, "ID token", from_provider=True
    )
    alg = header["alg"]
    _check_claims(claims, config, checks, now)
    if checks.access_token is not None and "at_hash" in claims:
        _check_at_hash(claims["at_hash"], checks.access_token, alg)
    return claims


async def verify_signed(
    token: str,
    config: ProviderConfig,
    provider: Provider,
    error: type[OIDCError],
    what: str,
    *,
    from_provider: bool = False,
    accepted: Sequence[str] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check a JWT's algorithm against the accepted set, then its signature.

    The accepted set (:func:`._algorithms.accepted_algs`) is the same for ID and logout
    tokens, and the algorithm is checked before any key is looked at: the token never
    chooses how it is verified. ``accepted`` replaces it for a JWT the provider advertises
    other algorithms for (JARM responses, :mod:`._jarm`, computed by the same rule). The
    header and the (unvalidated) claims; ``error`` on any failure (:class:`DiscoveryError`
    when the provider and the client share no algorithm).
    """
    header = _header(token, error, what)
    alg = header.get("alg")
    if accepted is None:
        accepted = accepted_algs(config, await provider.metadata())
    if not isinstance(alg, str) or alg not in accepted:
        raise error(f"{what} algorithm not allowed", expected=list(accepted), actual=alg)
    kid = header.get("kid")
    claims = await _verify(token, alg, kid, config, provider, error, what, from_provider)
    return header, claims


def _header(token: str, error: type[OIDCError], what: str) -> dict[str, Any]:
    try:
        return dict(jws.extract_compact(token.encode()).protected)
    except (JoseError, ValueError, TypeError, UnicodeError):
        raise error(f"{what} is not a compact JWS") from None


async def _verify(
    token: str,
    alg: str,
    kid: Any,
    config: ProviderConfig,
    provider: Provider,
    error: type[OIDCError],
    what: str,
    from_provider: bool,
) -> dict[str, Any]:
    keys: Sequence[SigningKey | OctKey]
    if alg.startswith("HS"):
        # HMAC ID tokens are keyed by the client secret (Core 10.1); allowed only when the
        # configuration lists the alg, which it refuses without a secret.
        keys = [OctKey.import_key((config.client_secret or "").encode())]
    else:
        keys = await provider.keys(
            kid if isinstance(kid, str) else None, alg, from_provider=from_provider
        )
    if not keys:
        raise error(f"no provider key matches the {what}", actual=kid)
    for key in keys:
        try:
            claims = jwt.decode(token, key, algorithms=[alg]).claims
        except BadSignatureError:
            continue
        except (JoseError, ValueError, TypeError):
            raise error(f"{what} could not be decoded") from None
        return dict(claims)
    raise error(f"{what} signature is invalid")


def _check_claims(
    claims: dict[str, Any], config: ProviderConfig, checks: IdTokenChecks, now: float
) -> None:
    leeway = config.clock_leeway
    _expect(claims.get("iss") == config.issuer, "iss", config.issuer, claims.get("iss"))
    sub = claims.get("sub")
    _expect(isinstance(sub, str) and sub != "", "sub", "a subject", sub)
    check_audience(claims, config.client_id, InvalidIdToken, "ID token")
    exp = _number(claims, "exp")
    iat = _number(claims, "iat")
    _expect(now < exp + leeway, "exp", f"after {now - leeway:.0f}", exp)
    _expect(iat <= now + leeway, "iat", f"before {now + leeway:.0f}", iat)
    if config.fapi2:
        _check_fapi2_limits(claims, config.client_id, iat, exp, now, leeway)
    if checks.nonce is not None:
        nonce = claims.get("nonce")
        _expect(
            isinstance(nonce, str)
            and secrets.compare_digest(nonce.encode(), checks.nonce.encode()),
            "nonce",
            "the login's nonce",
            "a different nonce" if nonce else None,
        )
    if checks.sub is not None:
        _expect(sub == checks.sub, "sub", checks.sub, sub)
    _check_authentication(claims, checks, now, leeway)


def _check_authentication(
    claims: dict[str, Any], checks: IdTokenChecks, now: float, leeway: float
) -> None:
    """``auth_time`` and ``acr`` against what the login asked (``max_age``, step-up)."""
    if checks.max_age is not None or checks.auth_not_before is not None:
        auth_time = _number(claims, "auth_time")
        latest = now + leeway
        _expect(auth_time <= latest, "auth_time", f"before {latest:.0f}", auth_time)
    if checks.max_age is not None:
        oldest = now - checks.max_age - leeway
        _expect(auth_time >= oldest, "auth_time", f"after {oldest:.0f}", auth_time)
    if checks.auth_not_before is not None:
        earliest = checks.auth_not_before - leeway
        _expect(auth_time >= earliest, "auth_time", f"after {earliest:.0f}", auth_time)
    if checks.acr_values:
        acr = claims.get("acr")
        _expect(acr in checks.acr_values, "acr", list(checks.acr_values), acr)


def _number(claims: dict[str, Any], name: str) -> float:
    """A required numeric claim (booleans are not numbers here)."""
    value = claims.get(name)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidIdToken(f"ID token {name} is missing or not a number", actual=value)
    return float(value)


def audience_list(aud: Any) -> list[Any]:
    """A token's ``aud`` as a list: one string is one audience; anything else, none."""
    return [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []


def check_audience(
    claims: dict[str, Any], client_id: str, error: type[OIDCError], what: str
) -> None:
    """The one audience rule for the tokens a provider signs for this client: ID tokens
    (Core 3.1.3.7 steps 3 to 5) and logout tokens (Back-Channel Logout 1.0 2.6: ``aud`` is
    validated "in the same way" as in ID tokens). ``aud`` must contain ``client_id``; several
    audiences, or any ``azp``, need ``azp`` == ``client_id``. ``error`` when not."""
    aud = claims.get("aud")
    audiences = audience_list(aud)
    if client_id not in audiences:
        raise error(f"{what} aud is invalid", expected=client_id, actual=aud)
    azp = claims.get("azp")
    # Extra audiences are only acceptable when we are the authorized party.
    if (len(audiences) > 1 or azp is not None) and azp != client_id:
        raise error(f"{what} azp is invalid", expected=client_id, actual=azp)


#: FAPI 2.0 profile: an ID token comes straight from the token endpoint, so it was issued
#: moments ago, and it is short-lived.
FAPI2_MAX_ID_TOKEN_AGE = 600
FAPI2_MAX_ID_TOKEN_LIFETIME = 24 * 3600


def _check_fapi2_limits(
    claims: dict[str, Any], client_id: str, iat: float, exp: float, now: float, leeway: float
) -> None:
    """The FAPI 2.0 profile's stricter rules: ``aud`` is exactly this client (no other
    audience, even with ``azp``), ``iat`` is recent and ``exp`` not far away."""
    aud = claims.get("aud")
    _expect(aud == client_id or aud == [client_id], "aud", client_id, aud)
    oldest = now - FAPI2_MAX_ID_TOKEN_AGE - leeway
    _expect(iat >= oldest, "iat", f"after {oldest:.0f}", iat)
    latest = now + FAPI2_MAX_ID_TOKEN_LIFETIME + leeway
    _expect(exp <= latest, "exp", f"before {latest:.0f}", exp)


def _check_at_hash(at_hash: Any, access_token: str, alg: str) -> None:
    hash_fn = hashlib.sha512 if alg == "EdDSA" else _HASH_FOR_ALG.get(alg[-3:], hashlib.sha256)
    digest = hash_fn(access_token.encode()).digest()
    expected = base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()
    _expect(
        isinstance(at_hash, str) and secrets.compare_digest(at_hash.encode(), expected.encode()),
        "at_hash",
        "the access token's hash",
        "a different hash",
    )


def _expect(ok: bool, claim: str, expected: Any, actual: Any) -> None:
    if not ok:
        raise InvalidIdToken(f"ID token {claim} is invalid", expected=expected, actual=actual)
