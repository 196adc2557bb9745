"""The provider's signing keys, judged by the kit's own key rule (:func:`key_weakness`) for
the algorithms it accepts: a key the doctor passes is one the kit verifies with."""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey

from .._jwks import KEY_CLASSES, MAX_JWKS_BYTES, MAX_JWKS_KEYS, key_weakness
from .net import fetch_json, split_url
from .report import Check, Status, verdict

__all__ = ["check_jwks", "judge_jwks"]

_RSA_ALGS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_EC_ALGS = {"P-256": {"ES256"}, "P-384": {"ES384"}, "P-521": {"ES512"}}
#: JWK members that only a private (or symmetric) key has (RFC 7518 6.2.2, 6.3.2, 6.4).
_PRIVATE_MEMBERS = {
    "RSA": {"d", "p", "q", "dp", "dq", "qi", "oth"},
    "EC": {"d"},
    "OKP": {"d"},
    "oct": {"k"},
}


async def check_jwks(
    http: httpx.AsyncClient,
    doc: Mapping[str, Any],
    clock: Callable[[], float],
    algs: frozenset[str],
) -> Check:
    """Fetch ``jwks_uri`` and judge its keys for ``algs`` (see :func:`judge_jwks`); larger
    than the kit reads (``MAX_JWKS_BYTES``) fails."""
    uri = doc.get("jwks_uri")
    parts = split_url(uri)
    if not isinstance(uri, str) or parts is None or parts.scheme not in ("http", "https"):
        return Check("jwks", "fail", f"jwks_uri is not an http(s) URL: {uri!r}")
    fetched = await fetch_json(http, uri, clock)
    if fetched.body is None:
        return Check("jwks", "fail", f"could not fetch {uri}: {fetched.error}")
    if fetched.size > MAX_JWKS_BYTES:
        detail = f"{fetched.size} bytes: the kit refuses a JWKS of more than {MAX_JWKS_BYTES}"
        return Check("jwks", "fail", detail)
    return judge_jwks(fetched.body, algs)


@dataclass(frozen=True)
class _Key:
    label: str
    kind: str
    #: Why it cannot verify the kit's ID tokens; None when it can.
    problem: str | None
    private: bool = False
    encryption: bool = False
    has_kid: bool = False


def judge_jwks(jwks: Mapping[str, Any], algs: frozenset[str]) -> Check:
    """Private material or duplicate kids fail; so does having no key usable for ``algs``."""
    raw_keys = jwks.get("keys")
    if not isinstance(raw_keys, list):
        return Check("jwks", "fail", "the JWKS has no keys array")
    if len(raw_keys) > MAX_JWKS_KEYS:
        detail = f"{len(raw_keys)} keys: the kit refuses a JWKS of more than {MAX_JWKS_KEYS}"
        return Check("jwks", "fail", detail)
    keys = [_inspect_key(i, raw, algs) for i, raw in enumerate(raw_keys)]
    kids = Counter(k.label for k in keys if k.has_kid)
    duplicates = sorted(label for label, n in kids.items() if n > 1)
    usable = [k for k in keys if k.problem is None]
    findings: list[tuple[Status, str]] = []
    if private := [k.label for k in keys if k.private]:
        findings.append(("fail", "private key material published: " + ", ".join(private)))
    if duplicates:
        findings.append(("fail", "duplicate kid " + ", ".join(duplicates)))
    unusable = "; ".join(f"{k.label} ({k.kind}): {k.problem}" for k in keys if k.problem)
    if not usable:
        findings.append(("fail", f"no usable keys: {unusable or 'the JWKS is empty'}"))
    elif odd := [k for k in keys if k.problem and not k.encryption]:
        findings.append(("warn", "unusable: " + "; ".join(f"{k.label}: {k.problem}" for k in odd)))
    if no_kid := [k.label for k in usable if not k.has_kid]:
        findings.append(("warn", f"{', '.join(no_kid)} without kid: tokens are matched by kid"))
    good = ", ".join(f"{k.label} ({k.kind})" for k in usable)
    return verdict("jwks", findings, f"{len(keys)} key(s); usable for ID tokens: {good}")


def _inspect_key(index: int, raw: Any, algs: frozenset[str]) -> _Key:
    """One JWK: its label and kind, whether it is private, why it is unusable if it is."""
    if not isinstance(raw, dict):
        return _Key(f"key #{index + 1}", "?", "not a JSON object")
    kid = raw.get("kid")
    has_kid = isinstance(kid, str) and kid != ""
    label = f"kid {kid!r}" if has_kid else f"key #{index + 1}"
    kty = str(raw.get("kty"))
    private = bool(_PRIVATE_MEMBERS.get(kty, set()) & raw.keys())
    known = {"private": private, "encryption": raw.get("use") == "enc", "has_kid": has_kid}
    key_class = KEY_CLASSES.get(kty)
    if key_class is None:
        return _Key(label, f"kty {kty}", "not a signature key type", **known)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # joserfc warns of weak keys; reported below
            key = key_class.import_key(raw)
    except (JoseError, ValueError, TypeError, KeyError):
        return _Key(label, kty, "joserfc cannot import it", **known)
    kind, key_algs, weakness = _strength(key)
    known["private"] = private or key.is_private
    alg = raw.get("alg")
    allowed = key_algs if alg is None else {alg} if isinstance(alg, str) else set()
    fitting = key_algs & algs & allowed
    if raw.get("use", "sig") != "sig":
        problem: str | None = f"use {raw.get('use')!r}, not sig"
    elif weakness or not fitting:
        problem = weakness or f"fits none of {', '.join(sorted(algs))}"
    else:
        problem, kind = None, f"{kind}, {'/'.join(sorted(fitting))}"
    return _Key(label, kind, problem, **known)


def _strength(key: RSAKey | ECKey | OKPKey) -> tuple[str, frozenset[str], str | None]:
    """A key's description, the algorithms it can verify, and its weakness if any (the
    kit's own rule, :func:`key_weakness`)."""
    weak = key_weakness(key)
    if isinstance(key, RSAKey):
        return f"RSA {key.public_key.key_size} bits", _RSA_ALGS, weak
    curve = str(key.curve_name)
    if isinstance(key, ECKey):
        return f"EC {curve}", frozenset(_EC_ALGS.get(curve, ())), weak
    return f"OKP {curve}", frozenset() if weak else frozenset({"EdDSA"}), weak
