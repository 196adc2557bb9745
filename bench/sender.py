"""What each way of holding and sending tokens costs: ``python -m bench.sender`` (and ``make
bench``).

Side by side in one run, best of ``ROUNDS`` rounds each, interleaved:

- one ORCA call through ``BearerAuth`` over real TLS on loopback (``MTLSServer``, a test CA
  made in memory), on a kept-alive connection: a ``Bearer`` token; a DPoP-bound one (a fresh
  ES256 proof per call); a certificate-bound one (RFC 8705: a ``Bearer`` token on a
  connection that presented the client certificate, from ``ProviderConfig.tls_context``);
- the same call on a new connection each time, without and with the client certificate: what
  an app that does not reuse connections pays for mTLS (the handshake);
- the login's push with JAR: building a signed request object (``_request_object.signed_request``,
  ES256 and PS256) against the plain parameters;
- client authentication per request to the provider: a ``private_key_jwt`` assertion (ES256,
  PS256) and a ``client_secret_jwt`` one (HS256);
- a session record's size at rest with and without the sealed DPoP key.

The ORCA answer is a tiny JSON body from a trivial ASGI app served over TLS by
``oidc_kit.testing``'s mTLS server in a process of its own (so that the client's figures do not
share its GIL): the figures are what the client, the server's TLS and loopback cost, not a
network.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx
from joserfc.jwk import ECKey, RSAKey

from oidc_kit import OIDCConfig
from oidc_kit._client_auth import ClientSecretJwt
from oidc_kit._client_key import ClientKey
from oidc_kit._dpop import DPoPKey, DPoPNonces
from oidc_kit._provider import ProviderMetadata
from oidc_kit._request_object import signed_request
from oidc_kit._session import Sessions
from oidc_kit._tokens import TokenSet
from oidc_kit.httpx_auth import BearerAuth
from oidc_kit.stores.memory import MemoryStore
from oidc_kit.testing._pki import TestCA
from oidc_kit.testing._tls_server import serve_tls

__all__ = ["Costs", "main", "measure", "rows"]

ROUNDS = 5
CALLS = 400  # per round, on a kept-alive connection
CONNECTIONS = 60  # per round, a new TLS connection each
SIGNS = 300  # per round
ISSUER = "https://op.test"


class _Fixed:
    def __init__(self, tokens: TokenSet) -> None:
        self._tokens = tokens

    async def tokens(self) -> TokenSet:
        return self._tokens

    async def refreshed(self, rejected: str) -> TokenSet:
        return self._tokens


def _tokens(dpop: DPoPKey | None) -> TokenSet:
    now = time.time()
    return TokenSet(
        access_token="a" * 900,  # about the size of a JWT access token
        token_type="DPoP" if dpop else "Bearer",
        expires_at=now + 3600,
        issued_at=now,
        refresh_token="r" * 64,
        id_token="i" * 1200,
        scope="openid accounts:read",
        dpop_key=dpop.to_json() if dpop else None,
    )


async def _orca(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    """ORCA's answer, as small as can be: what is timed is the client and TLS."""
    if scope["type"] != "http":
        return
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"11")]}
    )
    await send({"type": "http.response.body", "body": b'{"data":[]}'})


async def _best(step: Callable[[], Awaitable[object]], n: int) -> float:
    """Best µs per ``step`` of one round of ``n``: the caller interleaves the rounds."""
    start = time.perf_counter()
    for _ in range(n):
        await step()
    return (time.perf_counter() - start) / n * 1e6


def _sync_best(step: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - start) / n * 1e6


class Costs(dict[str, float]):
    """Each measure's best µs over the rounds, by name."""

    def keep(self, name: str, value: float) -> None:
        self[name] = min(self.get(name, float("inf")), value)


def _config(ca_file: str, cert_pem: str, key_pem: str) -> OIDCConfig:
    os.environ["SSL_CERT_FILE"] = ca_file  # what httpx (and so tls_context) trusts
    return OIDCConfig(
        issuer=ISSUER,
        client_id="app",
        base_url="https://app.test",
        session_secrets=("a-bench-secret-of-32-characters!",),
        session_store="memory://",
        client_cert=cert_pem,
        client_cert_key=key_pem,
        mtls_bound_tokens=True,
    )


def _serve(port: int, cert_pem: str, key_pem: str, trusted: str) -> None:
    serve_tls(
        _orca, host="127.0.0.1", port=port, cert_pem=cert_pem, key_pem=key_pem, trusted=trusted
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_listening(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the TLS server did not start")


async def _calls(url: str, config: OIDCConfig, costs: Costs) -> None:
    """The ORCA calls, each kind in its round, the rounds interleaved."""
    plain_tls, mtls = httpx.create_ssl_context(), config.tls_context()
    assert mtls is not None  # the config has a client certificate
    bearer = BearerAuth(_Fixed(_tokens(None)), nonces=DPoPNonces())
    dpop = BearerAuth(_Fixed(_tokens(DPoPKey.generate())), nonces=DPoPNonces())
    async with (
        httpx.AsyncClient(verify=plain_tls) as tls_client,
        httpx.AsyncClient(verify=mtls) as mtls_client,
    ):
        kept: dict[str, Callable[[], Awaitable[object]]] = {
            "call, Bearer": lambda: tls_client.get(url, auth=bearer),
            "call, DPoP": lambda: tls_client.get(url, auth=dpop),
            "call, mTLS-bound": lambda: mtls_client.get(url, auth=bearer),
        }

        async def fresh(context: Any) -> None:
            async with httpx.AsyncClient(verify=context) as client:
                await client.get(url, auth=bearer)

        new: dict[str, Callable[[], Awaitable[object]]] = {
            "new connection, TLS": lambda: fresh(plain_tls),
            "new connection, mTLS": lambda: fresh(mtls),
        }
        for step in (*kept.values(), *new.values()):  # warm: connections, caches, imports
            await step()
        kept_order, new_order = list(kept), list(new)
        for round_ in range(ROUNDS):
            # Each round starts with another kind: none is always first after a pause.
            for name in kept_order[round_ % 3 :] + kept_order[: round_ % 3]:
                costs.keep(name, await _best(kept[name], CALLS))
            for name in new_order[round_ % 2 :] + new_order[: round_ % 2]:
                costs.keep(name, await _best(new[name], CONNECTIONS))


def _signing(costs: Costs) -> None:
    """Request objects and client assertions, per login or per request to the provider."""
    meta = ProviderMetadata(
        issuer=ISSUER,
        authorization_endpoint=f"{ISSUER}/authorize",
        token_endpoint=f"{ISSUER}/token",
        jwks_uri=f"{ISSUER}/jwks",
        userinfo_endpoint=None,
        revocation_endpoint=None,
        end_session_endpoint=None,
        token_endpoint_auth_methods=("private_key_jwt",),
        iss_parameter_supported=True,
        raw={
            "request_object_signing_alg_values_supported": ["PS256", "ES256"],
            "request_parameter_supported": True,
        },
    )
    params = {
        "response_type": "code",
        "client_id": "app",
        "redirect_uri": "https://app.test/auth/callback",
        "scope": "openid profile accounts:read",
        "state": "s" * 43,
        "nonce": "n" * 43,
        "code_challenge": "c" * 43,
        "code_challenge_method": "S256",
    }
    keys = {
        "ES256": ClientKey.load(
            json.dumps(ECKey.generate_key("P-256", private=True).as_dict(private=True))
        ),
        "PS256": ClientKey.load(
            json.dumps(RSAKey.generate_key(2048, private=True).as_dict(private=True))
        ),
    }
    configs = {
        alg: OIDCConfig(
            issuer=ISSUER,
            client_id="app",
            base_url="https://app.test",
            session_secrets=("a-bench-secret-of-32-characters!",),
            session_store="memory://",
            client_key=json.dumps(key.key.as_dict(private=True)),
            client_secret=None,
            signed_requests=True,
        )
        for alg, key in keys.items()
    }
    secret_jwt = ClientSecretJwt("app", "s" * 32, ISSUER)
    steps: dict[str, Callable[[], object]] = {
        "PAR form, plain": lambda: dict(params),
        "PAR form, JAR ES256": lambda: signed_request(
            params, (), configs["ES256"], meta, time.time(), pushed=True
        ),
        "PAR form, JAR PS256": lambda: signed_request(
            params, (), configs["PS256"], meta, time.time(), pushed=True
        ),
        "assertion, private_key_jwt ES256": lambda: keys["ES256"].assertion("app", ISSUER),
        "assertion, private_key_jwt PS256": lambda: keys["PS256"].assertion("app", ISSUER),
        "assertion, client_secret_jwt HS256": lambda: secret_jwt.apply({}, time.time()),
    }
    for step in steps.values():
        step()
    for _ in range(ROUNDS):
        for name, step in steps.items():
            costs.keep(name, _sync_best(step, SIGNS))


def _record_size(tokens: TokenSet) -> int:
    config = OIDCConfig(
        issuer=ISSUER,
        client_id="app",
        base_url="https://app.test",
        session_secrets=("a-bench-secret-of-32-characters!",),
        session_store="memory://",
    )
    sessions = Sessions(config, MemoryStore())
    claims = {"iss": ISSUER, "sub": "sandbox-alice", "name": "Alice Example"}
    session = asyncio.run(sessions.create(tokens, claims, "op-sid"))
    return len(session.encode())


def measure() -> tuple[Costs, dict[str, int]]:
    """Every measure (µs) and the session sizes (bytes), side by side in one run."""
    costs = Costs()
    ca = TestCA()
    server_cert, client = ca.server(), ca.client()
    with tempfile.TemporaryDirectory(prefix="oidc_kit_bench_tls_") as directory:
        ca_file = ca.write(directory)
        saved = os.environ.get("SSL_CERT_FILE")
        try:
            config = _config(ca_file, client.cert_pem, client.key_pem)
            port = _free_port()
            args = (port, server_cert.cert_pem, server_cert.key_pem, ca.cert_pem)
            server = multiprocessing.get_context("spawn").Process(target=_serve, args=args)
            server.start()
            try:
                _wait_listening(port)
                asyncio.run(_calls(f"https://127.0.0.1:{port}/v1/accounts", config, costs))
            finally:
                server.terminate()
                server.join(10)
        finally:
            if saved is None:
                os.environ.pop("SSL_CERT_FILE", None)
            else:
                os.environ["SSL_CERT_FILE"] = saved
    _signing(costs)
    sizes = {
        "Bearer": _record_size(_tokens(None)),
        "DPoP": _record_size(_tokens(DPoPKey.generate())),
    }
    return costs, sizes


def rows(costs: Costs, sizes: dict[str, int]) -> list[tuple[str, str]]:
    """``make bench``'s rows: each path against its plain counterpart, measured in one run."""
    bearer, tls = costs["call, Bearer"], costs["new connection, TLS"]
    plain = costs["PAR form, plain"]

    def against(name: str, base: float) -> str:
        value = costs[name]
        return f"{value:,.0f} µs ({value - base:+,.0f} µs, {value / base:.2f}x)"

    return [
        ("ORCA call over TLS, kept-alive connection, Bearer", f"{bearer:,.0f} µs (baseline)"),
        ("ORCA call, DPoP-bound (a fresh ES256 proof)", against("call, DPoP", bearer)),
        ("ORCA call, mTLS-bound (client certificate)", against("call, mTLS-bound", bearer)),
        ("ORCA call on a new TLS connection", f"{tls:,.0f} µs"),
        (
            "ORCA call on a new mTLS connection (the handshake)",
            against("new connection, mTLS", tls),
        ),
        (
            "a login's push with a signed request object (JAR), ES256 / PS256",
            f"+{costs['PAR form, JAR ES256'] - plain:,.0f} µs / "
            f"+{costs['PAR form, JAR PS256'] - plain:,.0f} µs per login",
        ),
        (
            "client assertion per provider request: private_key_jwt ES256 / PS256, "
            "client_secret_jwt HS256",
            " / ".join(
                f"{costs[name]:,.0f} µs"
                for name in (
                    "assertion, private_key_jwt ES256",
                    "assertion, private_key_jwt PS256",
                    "assertion, client_secret_jwt HS256",
                )
            ),
        ),
        (
            "session record at rest, Bearer / with the DPoP key",
            f"{sizes['Bearer']:,} B / {sizes['DPoP']:,} B",
        ),
    ]


def main() -> None:
    costs, sizes = measure()
    for name, value in costs.items():
        print(f"{name:40s} {value:8.1f} µs")
    print(f"session at rest: {sizes['Bearer']} B Bearer, {sizes['DPoP']} B with the DPoP key")


if __name__ == "__main__":
    main()
