"""A provider's key set (JWKS): read within caps, each key judged by the kit's key rule, imported
once and indexed by ``kid``.

A JWKS is the provider's to publish and an attacker's to tamper with on the way: a huge one
costs the event loop, a weak key (a short RSA modulus, an unexpected curve) must never verify a
token, and a key's ``kty`` and ``alg`` must fit the token's algorithm.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey

from ._errors import DiscoveryError

__all__ = [
    "KEY_CLASSES",
    "MAX_JWKS_BYTES",
    "MAX_JWKS_KEYS",
    "KeyIndex",
    "SigningKey",
    "import_keys",
    "key_weakness",
]

log = logging.getLogger("oidc_kit")

SigningKey = RSAKey | ECKey | OKPKey

KEY_CLASSES: dict[str, type[RSAKey] | type[ECKey] | type[OKPKey]] = {
    "RSA": RSAKey,
    "EC": ECKey,
    "OKP": OKPKey,
}
_KTY_FOR_ALG_PREFIX = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}

#: The largest JWKS the kit reads. Real ones are a few KiB (a handful of keys); importing a
#: hostile 8 MB one took seconds of the event loop per login. Larger: ``ResponseTooLarge``.
MAX_JWKS_BYTES = 512 * 1024
#: The most keys a JWKS may hold (providers publish the current, next and previous few).
#: More: ``DiscoveryError``, before any key is imported.
MAX_JWKS_KEYS = 100


@dataclass(frozen=True)
class KeyIndex:
    """One fetch's usable signing keys, imported once, with those carrying a ``kid`` by kid."""

    keys: tuple[SigningKey, ...] = ()
    by_kid: Mapping[str, tuple[SigningKey, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, keys: list[SigningKey]) -> KeyIndex:
        by_kid: dict[str, list[SigningKey]] = {}
        for key in keys:
            if isinstance(key.kid, str):
                by_kid.setdefault(key.kid, []).append(key)
        return cls(tuple(keys), {kid: tuple(found) for kid, found in by_kid.items()})

    def candidates(self, kid: str | None, alg: str) -> list[SigningKey]:
        """The keys that may verify a token with this header ``kid`` and ``alg``: with a
        ``kid``, only keys carrying it; their ``kty`` must fit ``alg``, and their own
        ``alg``, if any, be ``alg``."""
        pool = self.keys if kid is None else self.by_kid.get(kid, ())
        kty = _KTY_FOR_ALG_PREFIX.get(alg[:2])
        return [k for k in pool if k.key_type == kty and k.get("alg") in (None, alg)]


def import_keys(jwks: dict[str, Any]) -> KeyIndex:
    """The JWKS's usable signing keys; encryption keys and unknown types are skipped."""
    raw_keys = jwks.get("keys")
    if not isinstance(raw_keys, list):
        raise DiscoveryError("the JWKS has no keys array")
    if len(raw_keys) > MAX_JWKS_KEYS:
        # Checked before importing anything: the import is what costs.
        raise DiscoveryError(
            "the JWKS has more keys than the kit reads",
            expected=MAX_JWKS_KEYS,
            actual=len(raw_keys),
        )
    keys: list[SigningKey] = []
    for raw in raw_keys:
        if not isinstance(raw, dict) or raw.get("use", "sig") != "sig":
            continue
        key_class = KEY_CLASSES.get(str(raw.get("kty")))
        if key_class is None:
            continue
        try:
            key = key_class.import_key(raw)
        except (JoseError, ValueError, TypeError):
            log.warning("skipping an unusable key in the provider's JWKS (kid=%r)", raw.get("kid"))
            continue
        if key_weakness(key) is not None:
            # joserfc only warns about a short RSA key; a token it signs must not verify.
            log.warning("skipping a weak key in the provider's JWKS (kid=%r)", raw.get("kid"))
            continue
        keys.append(key)
    return KeyIndex.of(keys)


_MIN_RSA_BITS = 2048
_CURVES = {"EC": frozenset({"P-256", "P-384", "P-521"}), "OKP": frozenset({"Ed25519", "Ed448"})}


def key_weakness(key: SigningKey) -> str | None:
    """Why the kit will not verify signatures with ``key``, or ``None`` when it will: RSA
    needs at least 2048 bits (RFC 7518 3.3); EC and OKP keys a curve the allowed algs use."""
    if isinstance(key, RSAKey):
        if key.public_key.key_size < _MIN_RSA_BITS:
            return f"RSA keys need at least {_MIN_RSA_BITS} bits"
        return None
    curves = _CURVES[key.key_type]
    if key.curve_name not in curves:
        return f"{key.key_type} keys must be {' or '.join(sorted(curves))}"
    return None
