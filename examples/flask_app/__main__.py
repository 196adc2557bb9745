"""``python -m examples.flask_app --host 127.0.0.1 --port 8000``: the Flask example, served.

Werkzeug's threaded server (``run_simple(threaded=True)``): a thread per request, enough for
the example and its tests, and nothing to install beyond Flask. In production, serve
``create_app()`` with a WSGI server of your choice (gunicorn, waitress...); every worker
process then starts the kit's event loop of its own on first use.
"""

from __future__ import annotations

import sys

from .._cli import parse_args


def main(argv: list[str] | None = None) -> int:
    args = parse_args("examples.flask_app", "Flask", argv)
    from werkzeug.serving import run_simple

    from .app import create_app

    run_simple(args.host, args.port, create_app(port=args.port), threaded=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
