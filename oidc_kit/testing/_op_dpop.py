"""DPoP proofs (RFC 9449), checked the same way at the sandbox provider and the sandbox ORCA.

:func:`verify_proof` checks one proof against the request it came with and returns the RFC 7638
thumbprint of its key (``jkt``): the token endpoint binds the access token to it
(``cnf.jkt``), a resource server compares it with the token's (``_resource.py``).
:class:`DPoPNonces` is the server-provided nonce of RFC 9449 section 8 (and 9), rotated now
and then.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import warnings
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from joserfc import jwk, jws
from joserfc.errors import JoseError

from ._op_replay import ReplayCache

__all__ = [
    "DPOP_ALGS",
    "PROOF_WINDOW",
    "DPoPError",
    "DPoPNonces",
    "access_token_hash",
    "normalized_htu",
    "proof_value",
    "verify_proof",
]

#: The asymmetric algorithms accepted on proofs (``dpop_signing_alg_values_supported``).
DPOP_ALGS: tuple[str, ...] = ("ES256", "PS256", "EdDSA")

#: How far a proof's ``iat`` may be from now, either way, in seconds.
PROOF_WINDOW = 60

_TYP = "dpop+jwt"
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_MIN_RSA_BITS = 2048
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: joserfc refuses JWS headers over 512 bytes by default: an RSA key in ``jwk`` (PS256) is more.
_MAX_HEADER_LENGTH = 4096
#: A proof is a header with one public key and a few claims: far below this. Anything longer
#: is refused before parsing (deeply nested JSON would exhaust the parser's recursion).
MAX_PROOF_LENGTH = 8192


def _registry(algorithms: Collection[str]) -> jws.JWSRegistry:
    """joserfc's checks for ``algorithms``, with room for a public RSA key in the header."""
    registry = jws.JWSRegistry(algorithms=list(algorithms))
    registry.max_header_length = _MAX_HEADER_LENGTH
    return registry


class DPoPError(Exception):
    """A DPoP proof, or the way an access token is presented, that cannot be accepted.

    ``error`` is the RFC 9449 error code: ``invalid_dpop_proof``, ``use_dpop_nonce`` (then
    the answer carries the server's nonce in ``DPoP-Nonce``) or, from a resource server's
    check, ``invalid_token``; ``description`` says why. ``headers`` are the ones to send with
    the refusal (:class:`~oidc_kit.testing.ResourceServerDPoP` puts its nonce there).
    """

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.headers: dict[str, str] = {}


def _invalid(description: str) -> DPoPError:
    return DPoPError("invalid_dpop_proof", description)


class DPoPNonces:
    """The server's DPoP nonce: a new one every ``lifetime`` seconds; the current and the
    previous one are accepted, so a client that just got a nonce is not caught by a rotation."""

    def __init__(self, clock: Callable[[], float], lifetime: float = 300.0) -> None:
        self._clock = clock
        self._lifetime = lifetime
        self._current = secrets.token_urlsafe(24)
        self._previous: str | None = None
        self._since = clock()

    def current(self) -> str:
        """The nonce to send in ``DPoP-Nonce``, rotated first if it is old enough."""
        age = self._clock() - self._since
        if age >= self._lifetime:
            self._previous = self._current if age < 2 * self._lifetime else None
            self._current = secrets.token_urlsafe(24)
            self._since = self._clock()
        return self._current

    def accepts(self, value: object) -> bool:
        """Whether ``value`` (a proof's ``nonce`` claim) is the current or previous nonce."""
        current = self.current()
        return isinstance(value, str) and value in (current, self._previous)


def proof_value(headers: Iterable[tuple[str, str]]) -> str | None:
    """The single ``DPoP`` header of a request (all header pairs, as Starlette's
    ``request.headers.items()``); None if there is none.

    More than one is invalid (RFC 9449 4.3, check 1).
    """
    values = [value for name, value in headers if name.lower() == "dpop"]
    if len(values) > 1:
        raise _invalid("more than one DPoP header")
    if values and len(values[0]) > MAX_PROOF_LENGTH:
        raise _invalid("the DPoP proof is too large")
    return values[0].strip() if values else None


def access_token_hash(access_token: str) -> str:
    """``ath``: base64url of the SHA-256 of the access token, without padding."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def normalized_htu(url: str) -> str | None:
    """``url`` without query and fragment, scheme and host lower-cased, default port dropped
    (RFC 9449 4.3 compares ``htu`` this way); None if it is not an absolute http(s) URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    return f"{scheme}://{host}{parts.path or '/'}"


def _header_key(header: Mapping[str, Any], algorithms: Collection[str]) -> jwk.Key:
    """The public key in the proof's header, once the header itself is acceptable."""
    if header.get("typ") != _TYP:
        raise _invalid(f"the proof's typ must be {_TYP}")
    alg = header.get("alg")
    if alg not in algorithms:
        raise _invalid(f"the proof's alg must be one of {', '.join(algorithms)}")
    public = header.get("jwk")
    if not isinstance(public, dict):
        raise _invalid("the proof's header has no jwk")
    if _PRIVATE_MEMBERS & set(public):
        raise _invalid("the proof's jwk must be a public key (it has private members)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            key = jwk.import_key(public)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise _invalid("the proof's jwk is not a valid key") from exc
    if isinstance(key, jwk.OctKey):
        raise _invalid("the proof's jwk must be an asymmetric key")
    if isinstance(key, jwk.RSAKey) and key.public_key.key_size < _MIN_RSA_BITS:
        raise _invalid(f"the proof's RSA key must have at least {_MIN_RSA_BITS} bits")
    return key


def _signed_claims(value: str, algorithms: Collection[str]) -> tuple[dict[str, Any], jwk.Key]:
    """The proof's claims and key, once its signature by the key in its header is checked."""
    try:
        signed = jws.extract_compact(value.encode("ascii"), registry=_registry(algorithms))
        header = signed.protected
    except (JoseError, ValueError, TypeError, UnicodeEncodeError, RecursionError) as exc:
        raise _invalid("the DPoP header is not a compact JWS") from exc
    key = _header_key(header, algorithms)
    try:
        alg_registry = _registry([str(header["alg"])])
        with warnings.catch_warnings():  # EdDSA "deprecated" by RFC 9864, yet FAPI 2.0's
            warnings.simplefilter("ignore")
            verified = jws.deserialize_compact(value, key, registry=alg_registry)
        claims = json.loads(verified.payload)
    except (JoseError, ValueError, TypeError, RecursionError) as exc:
        raise _invalid("the proof's signature does not verify with its jwk") from exc
    if not isinstance(claims, dict):
        raise _invalid("the proof's payload is not a JSON object")
    return claims, key


def _check_request(claims: Mapping[str, Any], method: str, url: str) -> None:
    if claims.get("htm") != method:
        raise _invalid(f"htm must be {method}")
    htu = claims.get("htu")
    expected = normalized_htu(url)
    if not isinstance(htu, str) or expected is None or normalized_htu(htu) != expected:
        raise _invalid(f"htu must be {expected}")


def _check_iat(claims: Mapping[str, Any], now: float) -> int:
    iat = claims.get("iat")
    if not isinstance(iat, int) or isinstance(iat, bool):
        raise _invalid("iat must be a number of seconds")
    if abs(now - iat) > PROOF_WINDOW:
        raise _invalid(f"iat must be within {PROOF_WINDOW} seconds of the server's clock")
    return iat


def verify_proof(
    value: str,
    method: str,
    url: str,
    *,
    now: float,
    replay: ReplayCache,
    access_token: str | None = None,
    nonces: DPoPNonces | None = None,
    algorithms: Collection[str] = DPOP_ALGS,
) -> str:
    """Check a DPoP proof (RFC 9449 4.3) and return its key's thumbprint (``jkt``).

    ``value`` is the ``DPoP`` header; ``method`` and ``url`` are the request's (``url``
    compared without query and fragment). The proof must be a JWS with ``typ`` ``dpop+jwt``,
    an ``alg`` of ``algorithms``, a public ``jwk`` that verifies its signature; claims ``htm``,
    ``htu``, ``iat`` within :data:`PROOF_WINDOW` of ``now``, a ``jti`` never seen by
    ``replay``; with ``access_token``, ``ath`` its hash; with ``nonces``, a ``nonce`` they
    accept (else ``use_dpop_nonce``). The ``jti`` is spent only by a proof that passed every
    other check. Raises :class:`DPoPError`.
    """
    claims, key = _signed_claims(value, algorithms)
    _check_request(claims, method, url)
    iat = _check_iat(claims, now)
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise _invalid("jti is required")
    if access_token is not None and claims.get("ath") != access_token_hash(access_token):
        raise _invalid("ath must be the hash of the access token")
    if nonces is not None and not nonces.accepts(claims.get("nonce")):
        raise DPoPError("use_dpop_nonce", "the proof must carry the server's DPoP nonce")
    if not replay.first_use(f"{key.thumbprint()}:{jti}", iat + PROOF_WINDOW + 1):
        raise _invalid("this proof (its jti) was already used")
    return key.thumbprint()
