"""``python -m example_app``: serve the example app, or run one of its commands.

python -m example_app --host 127.0.0.1 --port 8000   # the web app (the default)
python -m example_app --workers 4                    # four worker processes
python -m example_app accounts                       # ORCA accounts, the app's own token

``make demo`` runs the first line; its ``HOST`` and ``PORT`` variables are ``--host`` and
``--port`` (``make demo PORT=8001``). Serving needs uvicorn (``oidc_kit[server]``); ``--help``
and ``accounts`` do not.
"""

from __future__ import annotations

import argparse
import sys

from .cli import accounts_command
from .settings import app_name


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m {__package__}",
        description=f"{app_name()}: OpenID Connect login and the ORCA API, on oidc_kit. "
        "Configure it with environment variables (APP_NAME, OIDC_ISSUER, ORCA_API_BASE, "
        "APP_BASE_URL, ...); with none set it runs offline on an embedded sandbox provider "
        "and sandbox ORCA. Without a command it serves the app.",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s); make demo HOST=...",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=8000,
        help="port to listen on (default: %(default)s); make demo PORT=...",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="uvicorn worker processes; sessions are shared through the SQLite or Redis store",
    )
    commands = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    commands.add_parser(
        "accounts",
        help="list the accounts ORCA returns for the app's own credentials",
        description="Get a token with grant_type=client_credentials (scope accounts:read) and "
        "print ORCA's GET /accounts as a table. OIDC_TOKEN_REQUEST_FORMAT=json sends the token "
        "request as the JSON body of the ORCA documentation's example (default: form).",
    )
    return parser


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (1 to 65535): {value!r}")
    return port


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "accounts":
        return accounts_command()
    if args.workers < 1:
        _parser().error("--workers must be at least 1")
    try:
        from .serve import serve  # uvicorn: only serving needs it
    except ModuleNotFoundError as exc:
        if exc.name != "uvicorn":
            raise
        print("serving the app needs uvicorn: pip install 'oidc_kit[server]'", file=sys.stderr)
        return 1
    serve(args.host, args.port, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
