"""A resource server's side of DPoP (RFC 9449 section 7): is this access token presented as
its binding requires? Used by the sandbox provider's userinfo endpoint and the example app's
sandbox ORCA, so that both refuse exactly the same requests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from ._op_dpop import DPOP_ALGS, DPoPError, DPoPNonces, proof_value, verify_proof
from ._op_replay import ReplayCache

__all__ = ["ResourceServerDPoP"]


class ResourceServerDPoP:
    """Checks how a request presents an access token of the sandbox provider (RFC 9449 7).

    A token bound to a key (``cnf.jkt``, see :meth:`bound_jkt`) is accepted only as
    ``Authorization: DPoP <token>`` with a ``DPoP`` proof of that key for this request:
    ``htm`` the method, ``htu`` the URL, ``iat`` within a minute of ``clock``, a ``jti`` this
    server never saw, ``ath`` the token's hash. An unbound token only as ``Bearer``; with
    ``require_dpop`` (FAPI 2.0) not at all. With ``nonce``, every proof must also carry the
    server's current (or previous) nonce, which is rotated every five minutes.

    :meth:`check` raises :class:`DPoPError` for anything else: the resource server answers it
    with a 401, ``WWW-Authenticate: DPoP error="<error>", error_description="<description>",
    algs="<algorithms>"`` and the error's ``headers`` (the ``DPoP-Nonce`` to use).

    Keep one per server: it remembers the ``jti`` of the proofs it accepted, and its nonce.
    ``clock`` returns epoch seconds; tests pass a fake one.
    """

    #: The proof algorithms accepted: the ``algs`` of a ``DPoP`` challenge (RFC 9449 7.1).
    algorithms: ClassVar[tuple[str, ...]] = DPOP_ALGS

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        *,
        require_dpop: bool = False,
        nonce: bool = False,
    ) -> None:
        self.require_dpop = require_dpop
        self._clock = clock
        self._replay = ReplayCache(clock)
        self._nonces = DPoPNonces(clock) if nonce else None

    @staticmethod
    def bound_jkt(claims: Mapping[str, Any]) -> str | None:
        """The thumbprint of the key an access token is bound to (``cnf.jkt``); ``None`` for
        an unbound token; ``ValueError`` for a ``cnf`` this server does not understand (refuse
        the token: it is meant to be checked in a way this server cannot)."""
        cnf = claims.get("cnf")
        if cnf is None:
            return None
        jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
        if not isinstance(jkt, str) or not jkt:
            raise ValueError("unknown cnf")
        return jkt

    def check(
        self,
        headers: Iterable[tuple[str, str]],
        method: str,
        url: str,
        *,
        scheme: str,
        token: str,
        jkt: str | None,
    ) -> None:
        """Accept the request or raise :class:`DPoPError`.

        ``headers`` are all the request's header pairs (as Starlette's
        ``request.headers.items()``: a second ``DPoP`` header is refused), ``method`` and
        ``url`` what the proof's ``htm`` and ``htu`` must name (the URL clients call, query
        and fragment ignored), ``scheme`` the ``Authorization`` scheme (``bearer`` or
        ``dpop``, any case), ``token`` the access token, ``jkt`` its :meth:`bound_jkt`.

        The error is ``invalid_token`` for a token presented other than its binding requires
        (an unbound one as DPoP, a bound one as Bearer or with a proof of another key),
        ``invalid_dpop_proof`` for a missing or bad proof, ``use_dpop_nonce`` for a proof
        without the server's nonce. A proof's error carries ``DPoP-Nonce`` in its ``headers``
        when the server demands nonces; an ``invalid_token`` does not (no proof can fix it).
        """
        try:
            self._check(headers, method, url, scheme.lower(), token, jkt)
        except DPoPError as exc:
            if self._nonces is not None and exc.error != "invalid_token":
                exc.headers = {"DPoP-Nonce": self._nonces.current()}
            raise

    def _check(
        self,
        headers: Iterable[tuple[str, str]],
        method: str,
        url: str,
        scheme: str,
        token: str,
        jkt: str | None,
    ) -> None:
        if jkt is None:
            if self.require_dpop or scheme == "dpop":
                raise DPoPError("invalid_token", "The access token is not DPoP-bound")
            return
        if scheme != "dpop":
            description = "A DPoP-bound access token must be sent with the DPoP scheme"
            raise DPoPError("invalid_token", description)
        proof = proof_value(headers)
        if proof is None:
            raise DPoPError("invalid_dpop_proof", "A DPoP proof is required")
        proven = verify_proof(
            proof,
            method,
            url,
            now=self._clock(),
            replay=self._replay,
            access_token=token,
            nonces=self._nonces,
        )
        if proven != jkt:
            description = "The DPoP proof is not signed by the key the token is bound to"
            raise DPoPError("invalid_token", description)
