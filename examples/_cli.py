"""What both examples' command lines share: ``--host``, ``--port`` and the log set-up."""

from __future__ import annotations

import argparse
import logging.config

from example_app.serve import log_config
from example_app.settings import app_name

__all__ = ["parse_args"]


def _port(value: str) -> int:
    port = int(value) if value.isdigit() else 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (1 to 65535): {value!r}")
    return port


def parse_args(module: str, framework: str, argv: list[str] | None) -> argparse.Namespace:
    """``--host`` and ``--port`` for ``python -m {module}``, and the example's logging:
    example_app's (INFO to stderr through the kit's token-redacting filter, the app's outgoing
    calls included, and ``OIDC_AUDIT_LOG``), so the three examples log alike."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {module}",
        description=f"{app_name()} on {framework}: OpenID Connect login and the ORCA API, on "
        "oidc_kit. Configured as example_app is (OIDC_ISSUER, ORCA_API_BASE, APP_BASE_URL, "
        "...); with none set it runs offline on the sandbox provider and sandbox ORCA.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address (default: %(default)s)")
    parser.add_argument("--port", type=_port, default=8000, help="port (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.config.dictConfig(log_config())
    return args
