"""``python -m oidc_kit.testing``: serve the sandbox OpenID Provider on its own.

For trying an app against a provider that is not embedded in it, or for tests that need a
provider in another process:

    python -m oidc_kit.testing --port 9000 \\
        --client 'my-app:my-secret:http://127.0.0.1:8000/auth/callback:http://127.0.0.1:8000/'

The issuer is ``http://127.0.0.1:{port}``. ``--client`` is ``ID:SECRET:REDIRECT_URI`` with an
optional ``:POST_LOGOUT_REDIRECT_URI`` (URIs may contain colons; the split is on the first two
colons, then on ``:http`` for the post-logout URI). Repeat it for several clients.

``--backchannel ID=URI`` registers a client's ``backchannel_logout_uri``: logging out at the
provider then POSTs a logout token there (OpenID Connect Back-Channel Logout 1.0).
``--client-name ID=NAME`` is what the login page calls the client ("to continue to NAME";
its id otherwise).

FAPI 2.0 Security Profile: ``--fapi2`` registers every client (leave SECRET empty:
``ID::REDIRECT_URI``) for ``private_key_jwt`` with the public keys of ``--client-jwks-uri URL``
(fetched when needed, e.g. the app's own JWKS route) or ``--client-jwks-file PATH`` (a JWK
Set), DPoP-bound access tokens, and pushed authorization requests only; the provider signs
with PS256. ``--dpop-nonce`` makes the token endpoint demand DPoP nonces. The key options
work without ``--fapi2`` too, for clients without a secret.

``--client-secret-jwt`` registers every client that has a secret (of 32 bytes or more) for
``client_secret_jwt``: an HS256 assertion keyed by the secret, never the secret itself.

Mutual TLS (RFC 8705): ``--mtls DIR`` serves the provider over https with a new test CA and
writes ``DIR/ca.pem`` (trust it: ``SSL_CERT_FILE``), ``DIR/client.pem`` and ``DIR/client.key``
(``OIDC_CLIENT_CERT``, ``OIDC_CLIENT_CERT_KEY``). Every client gets certificate-bound tokens at
the ``/mtls`` aliases; a client without a secret authenticates with ``tls_client_auth`` (the
certificate's DN).

Serving needs uvicorn, the ``oidc_kit[server]`` extra; the sandbox itself (an ASGI app for
tests) does not.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from .._redact import RedactTokens
from ._op_models import SandboxClient
from ._op_provider import SandboxProvider
from ._pki import Issued, TestCA
from ._tls_server import serve_tls


def parse_client(spec: str) -> SandboxClient:
    """``ID:SECRET:REDIRECT_URI[:POST_LOGOUT_URI]`` → a :class:`SandboxClient`."""
    client_id, secret, uris = spec.split(":", 2)
    redirect, _, post_logout = uris.partition(":http")
    return SandboxClient(
        client_id=client_id,
        client_secret=secret or None,
        redirect_uris=(redirect,),
        post_logout_redirect_uris=(f"http{post_logout}",) if post_logout else (),
    )


def parse_backchannel(spec: str) -> tuple[str, str]:
    """``ID=URI`` → ``(client_id, backchannel_logout_uri)``."""
    client_id, equals, uri = spec.partition("=")
    if not equals or not client_id or not uri.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"expected ID=URI with an http(s) URI: {spec!r}")
    return client_id, uri


def parse_client_name(spec: str) -> tuple[str, str]:
    """``ID=NAME`` → ``(client_id, client_name)``."""
    client_id, equals, name = spec.partition("=")
    if not equals or not client_id or not name.strip():
        raise argparse.ArgumentTypeError(f"expected ID=NAME: {spec!r}")
    return client_id, name.strip()


def with_registered(
    clients: Sequence[SandboxClient], values: Sequence[tuple[str, str]], field: str, option: str
) -> list[SandboxClient]:
    """``clients`` with ``field`` set from ``option``'s ``(client_id, value)`` pairs; an
    unknown id is an error."""
    by_id = dict(values)
    unknown = set(by_id) - {c.client_id for c in clients}
    if unknown:
        raise SystemExit(f"{option} names an unknown client: {', '.join(sorted(unknown))}")
    changes: dict[str, dict[str, Any]] = {cid: {field: value} for cid, value in by_id.items()}
    return [
        dataclasses.replace(c, **changes[c.client_id]) if c.client_id in changes else c
        for c in clients
    ]


def read_jwks_file(path: str) -> dict[str, Any]:
    """``--client-jwks-file``: a JSON JWK Set."""
    try:
        jwks = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"cannot read a JWK Set from {path}: {exc}") from exc
    if not isinstance(jwks, dict):
        raise argparse.ArgumentTypeError(f"{path} does not hold a JWK Set (a JSON object)")
    return jwks


def with_keys(
    clients: Sequence[SandboxClient],
    *,
    jwks: Mapping[str, Any] | None,
    jwks_uri: str | None,
    fapi2: bool,
) -> list[SandboxClient]:
    """``clients`` with the ``--client-jwks-*`` keys (private_key_jwt) and, with ``--fapi2``,
    DPoP-bound tokens and PAR required. A FAPI 2.0 client has no secret, and keys."""
    if fapi2 and jwks is None and jwks_uri is None:
        raise SystemExit("--fapi2 needs --client-jwks-uri or --client-jwks-file")
    if jwks is None and jwks_uri is None:
        return list(clients)
    updated = []
    for client in clients:
        if client.client_secret is not None:
            if fapi2:
                raise SystemExit(
                    f"--fapi2: client {client.client_id!r} authenticates with private_key_jwt; "
                    "leave its SECRET empty (ID::REDIRECT_URI)"
                )
            updated.append(client)  # keeps its secret; keys are for clients without one
            continue
        try:
            client = dataclasses.replace(
                client,
                token_endpoint_auth_method="private_key_jwt",
                jwks=jwks,
                jwks_uri=jwks_uri,
                dpop_bound_access_tokens=fapi2,
                require_par=fapi2,
            )
        except ValueError as exc:
            raise SystemExit(str(exc)) from exc
        updated.append(client)
    return updated


def with_secret_jwt(clients: Sequence[SandboxClient]) -> list[SandboxClient]:
    """``clients``, those with a secret registered for ``client_secret_jwt``."""
    try:
        return [
            dataclasses.replace(c, token_endpoint_auth_method="client_secret_jwt")
            if c.client_secret is not None
            else c
            for c in clients
        ]
    except ValueError as exc:  # a secret shorter than 32 bytes
        raise SystemExit(str(exc)) from exc


def build_provider(argv: list[str] | None = None) -> tuple[SandboxProvider, argparse.Namespace]:
    """The provider the command line describes, and the parsed arguments."""
    parser = argparse.ArgumentParser(prog="python -m oidc_kit.testing", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--client", action="append", required=True, type=parse_client)
    parser.add_argument(
        "--backchannel", action="append", default=[], type=parse_backchannel, metavar="ID=URI"
    )
    parser.add_argument(
        "--client-name",
        action="append",
        default=[],
        type=parse_client_name,
        metavar="ID=NAME",
        help="the name the login page shows ('to continue to NAME')",
    )
    parser.add_argument("--access-token-ttl", type=int, default=3600)
    parser.add_argument("--fapi2", action="store_true", help="FAPI 2.0 clients and provider")
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument("--client-jwks-uri", metavar="URL", help="the clients' public JWKS URL")
    keys.add_argument(
        "--client-jwks-file", metavar="PATH", type=read_jwks_file, help="the clients' JWK Set"
    )
    parser.add_argument("--require-par", action="store_true", help="only pushed requests")
    parser.add_argument("--dpop-nonce", action="store_true", help="demand DPoP nonces")
    parser.add_argument(
        "--client-secret-jwt", action="store_true", help="clients with a secret: client_secret_jwt"
    )
    parser.add_argument(
        "--introspection", action="store_true", help="token introspection (RFC 7662)"
    )
    parser.add_argument("--mtls", metavar="DIR", help="mutual TLS; the certificates go to DIR")
    args = parser.parse_args(argv)
    issuer = f"{'https' if args.mtls else 'http'}://{args.host}:{args.port}"
    clients = with_registered(
        args.client, args.backchannel, "backchannel_logout_uri", "--backchannel"
    )
    clients = with_registered(clients, args.client_name, "client_name", "--client-name")
    clients = with_keys(
        clients, jwks=args.client_jwks_file, jwks_uri=args.client_jwks_uri, fapi2=args.fapi2
    )
    if args.client_secret_jwt:
        clients = with_secret_jwt(clients)
    if args.mtls:
        args.tls, clients = with_mtls(clients, args.mtls)
    provider = SandboxProvider(
        issuer,
        clients,
        access_token_ttl=args.access_token_ttl,
        id_token_alg="PS256" if args.fapi2 else "RS256",
        require_par=args.fapi2 or args.require_par,
        dpop_nonce=args.dpop_nonce,
        introspection=args.introspection,
        mtls=bool(args.mtls),
    )
    return provider, args


@dataclasses.dataclass(frozen=True)
class SandboxTLS:
    """``--mtls``: the server's certificate and what it trusts."""

    server: Issued
    trusted: str


def with_mtls(
    clients: Sequence[SandboxClient], directory: str
) -> tuple[SandboxTLS, list[SandboxClient]]:
    """A new test CA, its server certificate and a client certificate (written to
    ``directory``); ``clients`` with certificate-bound tokens, those without a secret
    registered for ``tls_client_auth`` with the certificate's DN."""
    ca = TestCA("oidc_kit sandbox CA")
    client = ca.client("oidc_kit sandbox client")
    ca.write(directory)
    client.write(directory, "client")
    bound = []
    for each in clients:
        changes: dict[str, Any] = {"tls_client_certificate_bound_access_tokens": True}
        if each.client_secret is None and each.jwks is None and each.jwks_uri is None:
            changes |= {
                "token_endpoint_auth_method": "tls_client_auth",
                "tls_client_auth_subject_dn": client.subject_dn,
            }
        bound.append(dataclasses.replace(each, **changes))
    return SandboxTLS(ca.server(), ca.cert_pem), bound


def main(argv: list[str] | None = None) -> None:
    provider, args = build_provider(argv)
    try:
        import uvicorn
    except ModuleNotFoundError as exc:
        if exc.name != "uvicorn":
            raise
        raise SystemExit(
            "serving the sandbox needs uvicorn: pip install 'oidc_kit[server]'"
        ) from None
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactTokens())
    if args.mtls:
        tls: SandboxTLS = args.tls
        serve_tls(
            with_stats(provider),
            host=args.host,
            port=args.port,
            cert_pem=tls.server.cert_pem,
            key_pem=tls.server.key_pem,
            trusted=tls.trusted,
        )
        return
    uvicorn.run(with_stats(provider), host=args.host, port=args.port, log_config=None)


def with_stats(provider: SandboxProvider) -> Starlette:
    """The provider, plus ``GET /_sandbox/stats`` for tests in other processes: token-endpoint
    calls by grant type and refresh-token reuses (a reuse revokes the token family)."""

    async def stats(request: Request) -> JSONResponse:
        body = {
            "grant_counts": dict(provider.grant_counts),
            "refresh_reuses": provider.refresh_reuses,
        }
        return JSONResponse(body)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await provider.aclose()  # the back-channel logout HTTP client

    routes = [Route("/_sandbox/stats", stats), Mount("/", app=provider.app)]
    return Starlette(routes=routes, lifespan=lifespan)


if __name__ == "__main__":
    main()
