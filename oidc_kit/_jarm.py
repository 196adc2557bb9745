"""JWT Secured Authorization Response Mode (JARM): the authorization response as one signed JWT.

With ``response_mode`` ``query.jwt``, ``form_post.jwt`` or ``jwt`` (the code flow's default,
``query.jwt``) the provider sends one parameter, ``response``: a JWT signed with its keys whose
claims are the authorization response (``code``, ``state``, or ``error``...) plus ``iss``,
``aud`` and ``exp``. The kit then reads the response from the JWT only, following JARM 2.4's
processing rules:

1. an encrypted (JWE) response is refused: the kit holds no decryption key;
2. ``state`` is read from the (not yet verified) JWT to find the login's transaction, which is
   taken only for the browser that started it (:meth:`LoginFlow.take`);
3. the JWT is then verified for that login's provider: its algorithm by the ID tokens' rule
   (the client's allowlist ∩ the provider's ``authorization_signing_alg_values_supported``,
   ``none`` never, ``HS*`` only when allowlisted with a client secret, which keys them), its
   signature with the provider's JWKS (the shared cache; an unknown ``kid`` refetches at the
   rate-limited pace of tokens anyone can send), ``iss`` exactly the issuer, ``aud`` this
   client by the ID tokens' rule (:func:`._id_token.check_audience`), ``exp`` present and not
   past;
4. its ``code``, ``state``, ``iss`` and error parameters replace the callback's: any parameter
   outside the JWT is ignored (only the kit's own form_post re-post marker is read, and
   removed, before). A callback without ``response`` is refused: a plain answer would
   otherwise downgrade a JARM login.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError

from ._algorithms import advertised_algs, effective_algs
from ._errors import DiscoveryError, InvalidResponseJwt
from ._id_token import audience_list, check_audience, verify_signed
from ._provider import Provider, ProviderMetadata
from ._provider_config import ProviderConfig

__all__ = [
    "JARM_MODES",
    "check_jarm_support",
    "response_algs",
    "unverified_state",
    "uses_jarm",
    "verified_response",
]

#: The JARM response modes a server-side client can receive (``fragment.jwt`` never reaches it).
JARM_MODES = ("query.jwt", "form_post.jwt", "jwt")
#: The authorization response's parameters the JWT carries (RFC 6749 4.1.2 and 4.1.2.1, RFC
#: 9207): the only claims read as the callback's parameters.
_RESPONSE_PARAMS = ("code", "state", "iss", "error", "error_description", "error_uri")
#: RFC 8414 2: without ``response_modes_supported`` a provider supports these only.
_DEFAULT_MODES = ("query", "fragment")
_WHAT = "authorization response JWT"


def uses_jarm(response_mode: str | None) -> bool:
    """Whether ``response_mode`` asks for a JWT-secured authorization response."""
    return response_mode in JARM_MODES


def response_algs(config: ProviderConfig, meta: ProviderMetadata) -> tuple[str, ...]:
    """The algorithms accepted on ``meta``'s response JWTs: the ID tokens' allowlist (the
    profile's, or ``id_token_algs``) ∩ the provider's
    ``authorization_signing_alg_values_supported``. Nothing advertised, or nothing shared:
    :class:`DiscoveryError`."""
    advertised = advertised_algs(meta.raw, "authorization_signing_alg_values_supported")
    algs = effective_algs(config.id_token_allowlist, None, advertised or ())
    if not algs:
        raise DiscoveryError(
            "the provider advertises no authorization_signing_alg_values_supported the kit "
            "accepts for JARM responses (OIDC_ID_TOKEN_ALGS)",
            expected=list(config.id_token_allowlist),
            actual=None if advertised is None else list(advertised[:10]),
        )
    return algs


def check_jarm_support(
    response_mode: str | None, config: ProviderConfig, meta: ProviderMetadata
) -> None:
    """At the login's start, before the user is sent to the provider: with a JARM
    ``response_mode``, the provider must advertise it and an algorithm the kit accepts."""
    if not uses_jarm(response_mode):
        return
    modes = meta.raw.get("response_modes_supported", _DEFAULT_MODES)
    if not isinstance(modes, list | tuple) or response_mode not in modes:
        raise DiscoveryError(
            f"the provider does not advertise response_mode {response_mode} in "
            "response_modes_supported (OIDC_RESPONSE_MODE)",
            expected=response_mode,
            actual=modes,
        )
    response_algs(config, meta)


def _response_jwt(params: Mapping[str, Sequence[str]]) -> str:
    """The callback's one ``response`` parameter; an encrypted one is refused."""
    values = params.get("response", ())
    if len(values) != 1 or not values[0]:
        raise InvalidResponseJwt(
            "the callback has no single response parameter (a JARM response_mode is configured)"
        )
    token = values[0]
    if token.count(".") == 4:  # JWE compact serialization: five parts
        raise InvalidResponseJwt(
            "encrypted authorization responses are not supported",
            code="encrypted_response_unsupported",
        )
    return token


def unverified_state(params: Mapping[str, Sequence[str]]) -> str | None:
    """``state`` from the callback's response JWT, before its signature is checked (JARM 2.4
    step 2: it names the transaction, and so the provider whose keys verify the JWT). Using
    it is safe: a transaction is taken only for the browser that started it, and the JWT is
    verified before anything else of it is believed."""
    token = _response_jwt(params)
    try:
        claims = json.loads(jws.extract_compact(token.encode()).payload)
    except (JoseError, ValueError, TypeError, UnicodeError):
        raise InvalidResponseJwt(f"the {_WHAT} is not a compact JWS") from None
    state = claims.get("state") if isinstance(claims, dict) else None
    return state if isinstance(state, str) else None


async def verified_response(
    params: Mapping[str, Sequence[str]],
    config: ProviderConfig,
    provider: Provider,
    now: float,
) -> dict[str, list[str]]:
    """The authorization response the callback's JWT carries, verified for the login its
    ``state`` named (:func:`unverified_state` read it from this same JWT, so it is the
    login's): the parameters the rest of the callback reads, and nothing else."""
    token = _response_jwt(params)
    accepted = response_algs(config, await provider.metadata())
    # Anyone can send a callback: an unknown kid refetches the JWKS at the rate-limited pace.
    _, claims = await verify_signed(
        token, config, provider, InvalidResponseJwt, _WHAT, accepted=accepted
    )
    _check_claims(claims, config, now)
    return {name: [claims[name]] for name in _RESPONSE_PARAMS if isinstance(claims.get(name), str)}


def _check_claims(claims: dict[str, Any], config: ProviderConfig, now: float) -> None:
    iss = claims.get("iss")
    if iss != config.issuer:
        raise InvalidResponseJwt(f"the {_WHAT} iss is invalid", expected=config.issuer, actual=iss)
    check_audience(claims, config.client_id, InvalidResponseJwt, f"the {_WHAT}")
    if config.fapi2 and audience_list(claims.get("aud")) != [config.client_id]:
        # As for ID tokens under the profile: this client alone, even with azp.
        raise InvalidResponseJwt(
            f"the {_WHAT} aud is invalid", expected=config.client_id, actual=claims.get("aud")
        )
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise InvalidResponseJwt(f"the {_WHAT} exp is missing or not a number", actual=exp)
    if now >= exp + config.clock_leeway:
        raise InvalidResponseJwt(f"the {_WHAT} exp is in the past (expired)", actual=exp)
