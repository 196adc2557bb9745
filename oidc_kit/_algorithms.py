"""Which signature algorithms the kit accepts on a provider's ID tokens and logout tokens.

One rule, computed here only; the ID-token and logout-token validators, the login start and
``oidc-kit doctor`` all use it:

- the client's registered ``id_token_signed_response_alg`` (``ProviderConfig.id_token_alg``,
  ``OIDC_ID_TOKEN_ALG``) when it is set: exactly that algorithm;
- otherwise the kit's allowlist (``id_token_algs``) narrowed to what the provider advertises
  in ``id_token_signing_alg_values_supported``. A provider that advertises nothing is taken
  to sign with RS256, OpenID Connect Registration's default for the client's algorithm.

A token signed with an algorithm the provider never said it uses is refused even when a key in
its JWKS would verify it (as openid-client and mod_auth_openidc do). Back-Channel Logout 1.0
(2.4) signs logout tokens like ID tokens, so the same set applies to them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._errors import DiscoveryError
from ._provider import ProviderMetadata
from ._provider_config import ProviderConfig

__all__ = ["REGISTRATION_DEFAULT_ALG", "accepted_algs", "advertised_algs", "effective_algs"]

#: OpenID Connect Registration 2: ``id_token_signed_response_alg`` defaults to RS256.
REGISTRATION_DEFAULT_ALG = "RS256"
#: How many advertised algorithms an error shows (the list is the provider's, unbounded).
_SHOWN = 10


def advertised_algs(
    doc: Mapping[str, Any], name: str = "id_token_signing_alg_values_supported"
) -> tuple[str, ...] | None:
    """The provider's ``name`` (``id_token_signing_alg_values_supported``; JARM reads
    ``authorization_signing_alg_values_supported``): ``None`` when absent, ``()`` when it is
    not a list (nothing usable is advertised), else its strings."""
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, list):
        return ()
    return tuple(alg for alg in value if isinstance(alg, str))


def effective_algs(
    allowlist: Sequence[str], registered: str | None, advertised: Sequence[str] | None
) -> tuple[str, ...]:
    """The algorithms accepted: ``(registered,)`` when set, else ``allowlist`` ∩
    ``advertised`` (RS256 when ``None``), in the allowlist's order; may be empty."""
    if registered is not None:
        return (registered,)
    offered = (REGISTRATION_DEFAULT_ALG,) if advertised is None else advertised
    return tuple(alg for alg in allowlist if alg in offered)


def accepted_algs(config: ProviderConfig, meta: ProviderMetadata) -> tuple[str, ...]:
    """The algorithms this client accepts on ``meta``'s ID and logout tokens.

    An empty set means no token from this provider could ever be accepted: a
    :class:`DiscoveryError` (502 ``invalid_discovery``) naming both sides, at the login's
    start rather than after the user has logged in at the provider.
    """
    advertised = advertised_algs(meta.raw)
    algs = effective_algs(config.id_token_allowlist, config.id_token_alg, advertised)
    if not algs:
        shown = [REGISTRATION_DEFAULT_ALG] if advertised is None else list(advertised[:_SHOWN])
        raise DiscoveryError(
            "the provider signs ID tokens with no algorithm the kit accepts "
            "(OIDC_ID_TOKEN_ALGS; or set OIDC_ID_TOKEN_ALG to the client's registered one)",
            expected=list(config.id_token_allowlist),
            actual=shown,
        )
    return algs
