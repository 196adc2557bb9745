"""``python -m examples.django_app --host 127.0.0.1 --port 8000``: the Django example, served.

By uvicorn, with Django's ASGI application: the ``server`` extra the sandboxes need anyway
(so ``oidc_kit[django,server]`` is all it takes, no Flask for werkzeug), a production server
rather than ``runserver`` (which reloads, and says it is not for production), and the
async path of the kit's middleware. The views are sync: Django runs each on a thread of the
request's own. Under WSGI (gunicorn, ``create_app`` swapped for ``get_wsgi_application()``)
the same project runs unchanged.
"""

from __future__ import annotations

import sys

from .._cli import parse_args


def main(argv: list[str] | None = None) -> int:
    args = parse_args("examples.django_app", "Django", argv)
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
