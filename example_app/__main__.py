"""``python -m example_app --host 127.0.0.1 --port 8000``: serve the example app with uvicorn."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from oidc_kit import RedactTokens

from .app import create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m example_app",
        description="The oidc_kit example app. Configure it with environment variables "
        "(OIDC_ISSUER, ORCA_API_BASE, APP_BASE_URL, ...); with none set it runs offline "
        "on an embedded sandbox provider and sandbox ORCA.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    args = parser.parse_args(argv)
    # INFO shows the app's own HTTP calls too (httpx logs each one, never a header or body):
    # in the sandbox you can watch the kit refresh the access token every minute.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    # Access-log lines hold whole URLs, and the logout redirect to the (embedded) provider
    # carries id_token_hint: redact tokens in every line that reaches the handler.
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactTokens())
    # The port feeds the default APP_BASE_URL (http://127.0.0.1:{port}).
    # log_config=None: uvicorn's loggers propagate to the root handler configured above.
    uvicorn.run(create_app(port=args.port), host=args.host, port=args.port, log_config=None)


if __name__ == "__main__":
    main()
