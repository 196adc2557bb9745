"""``python -m example_app``: serve the example app, or run one of its commands.

python -m example_app --host 127.0.0.1 --port 8000   # the web app (the default)
python -m example_app --workers 4                    # four worker processes
python -m example_app accounts                       # ORCA accounts, the app's own token
"""

from __future__ import annotations

import argparse
import sys

from .cli import accounts_command
from .serve import serve


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m {__package__}",
        description="The oidc_kit example app. Configure it with environment variables "
        "(OIDC_ISSUER, ORCA_API_BASE, APP_BASE_URL, ...); with none set it runs offline "
        "on an embedded sandbox provider and sandbox ORCA. Without a command it serves the app.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "accounts":
        return accounts_command()
    if args.workers < 1:
        _parser().error("--workers must be at least 1")
    serve(args.host, args.port, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
