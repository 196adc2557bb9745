"""``python -m examples.flask_app --host 127.0.0.1 --port 8000``: the Flask example, served.

Werkzeug's threaded server (``run_simple(threaded=True)``): a thread per request, enough for
the example and its tests, and nothing to install beyond Flask. In production, serve
``create_app()`` with a WSGI server of your choice (gunicorn, waitress...); every worker
process then starts the kit's event loop of its own on first use.
"""

from __future__ import annotations

import argparse
import logging
import sys

from example_app.settings import app_name


def _port(value: str) -> int:
    port = int(value) if value.isdigit() else 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (1 to 65535): {value!r}")
    return port


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m examples.flask_app",
        description=f"{app_name()} on Flask: OpenID Connect login and the ORCA API, on "
        "oidc_kit. Configured as example_app is (OIDC_ISSUER, ORCA_API_BASE, APP_BASE_URL, "
        "...); with none set it runs offline on the sandbox provider and sandbox ORCA.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address (default: %(default)s)")
    parser.add_argument("--port", type=_port, default=8000, help="port (default: %(default)s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per call to the provider
    from werkzeug.serving import run_simple

    from .app import create_app

    run_simple(args.host, args.port, create_app(port=args.port), threaded=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
