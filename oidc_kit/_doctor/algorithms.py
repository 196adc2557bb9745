"""The algorithms the kit accepts on this provider's ID and logout tokens, by the kit's own
rules: its configuration (:class:`ProviderConfig`: which settings it refuses at start-up, the FAPI
2.0 profile's allowlist) and :func:`effective_algs` (the registered algorithm, else the
allowlist ∩ what the provider advertises)."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from joserfc.jwk import ECKey

from .._algorithms import advertised_algs, effective_algs
from .._errors import ConfigurationError
from .._provider_config import DEFAULT_ID_TOKEN_ALGS, ProviderConfig
from .report import Check, Status, verdict
from .settings import DoctorSettings

__all__ = [
    "KitAlgorithms",
    "allowlist_config",
    "check_algorithms",
    "jwks_algs",
    "kit_algorithms",
]

#: The algorithm rules do not depend on the issuer: any the kit takes will do.
_ANY_ISSUER = "https://doctor.invalid"


@dataclass(frozen=True)
class KitAlgorithms:
    """The app's algorithm settings as the kit takes them at start-up."""

    #: The allowlist after the profile (FAPI 2.0 narrows the kit's default).
    allowlist: tuple[str, ...]
    #: The client's registered ``id_token_signed_response_alg``, when set and allowed.
    registered: str | None = None
    #: Why the kit refuses the settings (it would not start), naming the option; else None.
    refusal: str | None = None


def kit_algorithms(settings: DoctorSettings) -> KitAlgorithms:
    """``--id-token-algs``, then ``--id-token-alg``, as :class:`ProviderConfig` takes them: its
    own checks and profile decide, each refusal naming the option it is about. Refused, the
    kit's default allowlist stands in (to judge the JWKS by)."""
    try:
        allowlist = _alg_config(settings, settings.id_token_algs).id_token_allowlist
    except ConfigurationError as exc:
        fallback = _alg_config(settings, None).id_token_allowlist
        shown = " ".join(settings.id_token_algs or ()) or "''"
        return KitAlgorithms(fallback, refusal=f"--id-token-algs {shown}: {exc.description}")
    if (alg := settings.id_token_alg) is None:
        return KitAlgorithms(allowlist)
    try:
        config = _alg_config(settings, settings.id_token_algs, alg)
    except ConfigurationError as exc:
        return KitAlgorithms(allowlist, refusal=f"--id-token-alg {alg}: {exc.description}")
    return KitAlgorithms(config.id_token_allowlist, config.id_token_alg)


def _alg_config(
    settings: DoctorSettings, algs: tuple[str, ...] | None, alg: str | None = None
) -> ProviderConfig:
    """The kit's configuration with these algorithm settings, and nothing else it may refuse."""
    fields: dict[str, Any] = {"id_token_alg": alg}
    if algs is not None:  # None: the kit's default (an empty one the kit refuses, and says so)
        fields["id_token_algs"] = algs
    if settings.fapi2:
        fields |= {"profile": "fapi2", "client_key": _stand_in_key()}
    return ProviderConfig(
        issuer=_ANY_ISSUER,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        **fields,
    )


def allowlist_config(settings: DoctorSettings, kit: KitAlgorithms) -> ProviderConfig:
    """A configuration whose ``id_token_allowlist`` is the app's (the profile's included),
    for the kit's rules that go by it alone (JARM's response algorithms)."""
    return ProviderConfig(
        issuer=_ANY_ISSUER,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        id_token_algs=kit.allowlist,
    )


@functools.cache
def _stand_in_key() -> str:
    """A throwaway client key: the FAPI 2.0 profile will not start without one, and the
    doctor signs nothing; only the profile's algorithm rule matters here."""
    return json.dumps(ECKey.generate_key("P-256", private=True).as_dict(private=True))


def jwks_algs(doc: Mapping[str, Any], kit: KitAlgorithms) -> frozenset[str]:
    """The algorithms the provider's JWKS must serve: those the kit will accept from it that
    a public key verifies (not ``HS*``, whose key is the client secret). None: the
    allowlist's (the ``algorithms`` check reports why), else the kit's default."""
    algs = effective_algs(kit.allowlist, kit.registered, advertised_algs(doc))
    public = [frozenset(a for a in c if not a.startswith("HS")) for c in (algs, kit.allowlist)]
    return public[0] or public[1] or frozenset(DEFAULT_ID_TOKEN_ALGS)


def check_algorithms(doc: Mapping[str, Any], kit: KitAlgorithms) -> Check:
    """The algorithms the kit will accept on this provider's ID and logout tokens, by the
    kit's own rule: ``--id-token-alg`` when given, else the app's allowlist ∩
    ``id_token_signing_alg_values_supported`` (RS256 when absent)."""
    advertised = advertised_algs(doc)
    offered = ", ".join(advertised or ()) or "nothing"
    if kit.refusal is not None:
        return Check("algorithms", "fail", kit.refusal)
    if kit.registered is not None:
        return _check_registered_alg(kit.registered, advertised, offered)
    allowed = ", ".join(kit.allowlist)
    effective = effective_algs(kit.allowlist, None, advertised)
    if not effective:
        assumed = " (none advertised: RS256 assumed)" if advertised is None else ""
        detail = f"no algorithm in common: the provider signs with {offered}{assumed}; "
        return Check("algorithms", "fail", detail + f"the kit accepts {allowed}")
    accepted = f"ID and logout tokens in {', '.join(effective)}"
    findings: list[tuple[Status, str]] = []
    if advertised is None:
        assumed = "RS256 assumed (OpenID Connect Registration's default)"
        detail = f"{accepted}: no id_token_signing_alg_values_supported, {assumed}"
        findings.append(("warn", detail))
    elif "none" in advertised:
        findings.append(("warn", f"{accepted}, but 'none' is advertised (the kit refuses it)"))
    return verdict("algorithms", findings, f"{accepted} (the provider's {offered} ∩ {allowed})")


def _check_registered_alg(alg: str, advertised: tuple[str, ...] | None, offered: str) -> Check:
    """``--id-token-alg``: exactly that algorithm; the provider should advertise it."""
    accepted = f"ID and logout tokens in {alg} (registered id_token_signed_response_alg)"
    if advertised is not None and alg not in advertised:
        detail = f"{accepted}, which the provider does not advertise ({offered})"
        return Check("algorithms", "warn", detail)
    return Check("algorithms", "ok", accepted)
