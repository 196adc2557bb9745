"""``python -m examples.django_app --host 127.0.0.1 --port 8000``: the Django example, served.

By uvicorn, with Django's ASGI application: the ``server`` extra the sandboxes need anyway
(so ``oidc_kit[django,server]`` is all it takes, no Flask for werkzeug), a production server
rather than ``runserver`` (which reloads, and says it is not for production), and the
async path of the kit's middleware. The views are sync: Django runs each on a thread of the
request's own. Under WSGI (gunicorn, ``create_app`` swapped for ``get_wsgi_application()``)
the same project runs unchanged.
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
        prog="python -m examples.django_app",
        description=f"{app_name()} on Django: OpenID Connect login and the ORCA API, on "
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
    try:
        import uvicorn
    except ModuleNotFoundError:  # pragma: no cover - the server extra brings it
        raise SystemExit("serving needs uvicorn: pip install 'oidc_kit[django,server]'") from None

    from .app import create_app

    app = create_app(port=args.port)
    # Django's ASGI application has no lifespan; the kit closes its store at exit.
    uvicorn.run(app, host=args.host, port=args.port, lifespan="off", log_config=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
