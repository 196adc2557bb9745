"""``python -m oidc_kit.testing``: serve the sandbox OpenID Provider on its own.

For trying an app against a provider that is not embedded in it, or for tests that need a
provider in another process:

    python -m oidc_kit.testing --port 9000 \\
        --client 'my-app:my-secret:http://127.0.0.1:8000/auth/callback:http://127.0.0.1:8000/'

The issuer is ``http://127.0.0.1:{port}``. ``--client`` is ``ID:SECRET:REDIRECT_URI`` with an
optional ``:POST_LOGOUT_REDIRECT_URI`` (URIs may contain colons; the split is on the first two
colons, then on ``:http`` for the post-logout URI). Repeat it for several clients.
"""

from __future__ import annotations

import argparse
import logging

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from .._redact import RedactTokens
from ._op_models import SandboxClient
from ._op_provider import SandboxProvider


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m oidc_kit.testing", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--client", action="append", required=True, type=parse_client)
    parser.add_argument("--access-token-ttl", type=int, default=3600)
    args = parser.parse_args(argv)
    issuer = f"http://{args.host}:{args.port}"
    provider = SandboxProvider(issuer, args.client, access_token_ttl=args.access_token_ttl)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactTokens())
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

    return Starlette(routes=[Route("/_sandbox/stats", stats), Mount("/", app=provider.app)])


if __name__ == "__main__":
    main()
