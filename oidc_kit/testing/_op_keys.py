"""The sandbox provider's signing keys (RS256, PS256 or ES256), with rotation, and the hashes
OIDC needs."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from joserfc import jwk, jws, jwt
from joserfc.errors import JoseError

__all__ = ["ALG", "SIGNING_ALGS", "SigningKeys", "half_hash", "s256"]

#: The default signing algorithm.
ALG = "RS256"
#: The algorithms the provider can sign ID tokens, access tokens and logout tokens with
#: (FAPI 2.0 wants PS256 or ES256).
SIGNING_ALGS = ("RS256", "PS256", "ES256")
_MAX_KEYS = 3


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def s256(verifier: str) -> str:
    """The PKCE ``S256`` code challenge of ``verifier`` (RFC 7636 4.2)."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def half_hash(value: str) -> str:
    """``at_hash``: the left half of SHA-256 of ``value``, base64url (OIDC Core 3.1.3.6)."""
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return _b64url(digest[: len(digest) // 2])


def _new_key(alg: str) -> jwk.RSAKey | jwk.ECKey:
    params: Any = {"kid": f"sandbox-{secrets.token_hex(8)}", "use": "sig", "alg": alg}
    if alg == "ES256":
        return jwk.ECKey.generate_key("P-256", parameters=params)
    return jwk.RSAKey.generate_key(2048, parameters=params)


class SigningKeys:
    """Keys for ``alg`` (RSA 2048, or EC P-256 for ES256), newest first: the first signs,
    all of them verify and are published."""

    def __init__(self, alg: str = ALG) -> None:
        if alg not in SIGNING_ALGS:
            raise ValueError(f"signing alg must be one of {', '.join(SIGNING_ALGS)}: {alg!r}")
        self.alg = alg
        self._keys: list[jwk.RSAKey | jwk.ECKey] = [_new_key(alg)]

    @property
    def current_kid(self) -> str:
        """The ``kid`` of the key that signs new tokens."""
        return str(self._keys[0].kid)

    def rotate(self) -> None:
        """Put a new key first; keep the previous ones (at most three keys in all)."""
        self._keys = [_new_key(self.alg), *self._keys][:_MAX_KEYS]

    def jwks(self) -> dict[str, Any]:
        """The public JWK Set."""
        return {"keys": [key.as_dict(private=False) for key in self._keys]}

    def sign(self, claims: Mapping[str, Any], *, typ: str = "JWT") -> str:
        """Sign ``claims`` with the current key; the header carries ``alg``, ``kid``, ``typ``."""
        header = {"alg": self.alg, "kid": self.current_kid, "typ": typ}
        return jwt.encode(header, dict(claims), self._keys[0], algorithms=[self.alg])

    def forge(
        self, header: Mapping[str, Any], claims: Mapping[str, Any], *, secret: str | None = None
    ) -> str:
        """A compact JWS of ``claims`` with exactly ``header``, for RP tests of bad tokens.

        ``alg`` ``none`` gets an empty signature; ``HS*`` is keyed with ``secret``; ``RS*`` and
        ``PS*`` use the current RSA key whatever its registered ``alg`` (``ES256`` the current
        EC key). joserfc's warnings
        about weak choices are silenced: weak is the point.
        """
        alg = str(header.get("alg"))
        payload = json.dumps(dict(claims), separators=(",", ":"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            key = self._forging_key(alg, secret)
            return jws.serialize_compact(dict(header), payload, key, algorithms=[alg])

    def _forging_key(self, alg: str, secret: str | None) -> jwk.Key | None:
        if alg == "none":
            return None
        if alg.startswith("HS"):
            if not secret:
                raise ValueError(f"alg {alg} needs a secret (the audience's client_secret)")
            return jwk.OctKey.import_key(secret)
        params = {k: v for k, v in self._keys[0].as_dict(private=True).items() if k != "alg"}
        if alg[:2] in ("RS", "PS") and params["kty"] == "RSA":
            return jwk.RSAKey.import_key(params)
        if alg == "ES256" and params["kty"] == "EC":
            return jwk.ECKey.import_key(params)
        raise ValueError(f"cannot forge a token with alg {alg!r}")

    def verify(
        self, token: str, *, issuer: str, typ: str, now: Callable[[], int] | None
    ) -> dict[str, Any] | None:
        """The claims of ``token`` if we signed it, with header ``typ`` and ``iss`` = issuer.

        With ``now`` the token must also carry an unexpired ``exp``; ``now=None`` skips the
        time checks (an ``id_token_hint`` may have expired). Returns None for anything else.
        """
        try:
            decoded = jwt.decode(token, jwk.KeySet(list(self._keys)), algorithms=[self.alg])
        except (JoseError, ValueError, TypeError):
            return None
        claims = dict(decoded.claims)
        if decoded.header.get("typ") != typ or claims.get("iss") != issuer:
            return None
        if now is not None:
            try:
                jwt.JWTClaimsRegistry(now=now, exp={"essential": True}).validate(claims)
            except JoseError:
                return None
        return claims
