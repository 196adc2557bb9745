"""Bounded request bodies for the kit's POST routes (adapter layer: it reads the request).

Anyone can POST to ``/auth/callback``, ``/auth/backchannel-logout`` and ``/auth/logout``, so
no body is read whole before its size is known to be small: a declared ``Content-Length``
over :data:`MAX_BODY` is refused (413 ``request_too_large``) before a byte is read, and a body
without one (chunked) is counted while it streams in and refused as soon as it passes the
limit. Forms are parsed here, with :mod:`urllib.parse` and a cap on the number of fields,
rather than by Starlette (whose multipart parser would spool files to disk).

What is accepted: ``application/x-www-form-urlencoded`` (what an HTML form, a provider's
form_post page and a Back-Channel Logout request send), or an empty body of any type. Any
other body is 415 ``unsupported_media_type``.

A client that disconnects mid-body is not an error of ours: :func:`client_gone` logs one
DEBUG line and answers nobody (the ASGI server drops what is sent after a disconnect).
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from ._errors import RequestTooLarge, UnsupportedMediaType

__all__ = ["FORM_TYPE", "MAX_BODY", "MAX_FIELDS", "client_gone", "read_body", "read_form"]

log = logging.getLogger("oidc_kit")

#: The largest body the kit reads: an authorization response (a code, a state, an iss, an
#: error and its description) or a logout token (itself capped at 16 KiB) is a few KiB.
MAX_BODY = 64 * 1024

#: The most form fields the kit parses: an authorization response has at most eight.
MAX_FIELDS = 32

#: The one form encoding the kit parses.
FORM_TYPE = "application/x-www-form-urlencoded"


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The request's body, at most ``limit`` bytes; :class:`RequestTooLarge` beyond that.

    Raises Starlette's ``ClientDisconnect`` when the client leaves mid-body.
    """
    declared = request.headers.get("content-length", "")
    # A malformed Content-Length is left to the count below (servers refuse most of them).
    if declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"the request body is over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # chunked, or a Content-Length that lied: stop reading here
            raise RequestTooLarge(f"the request body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_form(
    request: Request, limit: int = MAX_BODY, max_fields: int = MAX_FIELDS
) -> dict[str, list[str]]:
    """The request's form fields (each name with its values, in order), from a bounded body."""
    body = await read_body(request, limit)
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != FORM_TYPE:
        if not body:
            return {}  # a POST with no body at all (curl -X POST): no fields
        raise UnsupportedMediaType(f"the request body must be {FORM_TYPE}")
    try:
        pairs = parse_qsl(
            body.decode("utf-8", "replace"),
            keep_blank_values=True,
            max_num_fields=max_fields,
            errors="replace",
        )
    except ValueError:  # parse_qsl's "Max number of fields exceeded"
        raise RequestTooLarge(f"the form has more than {max_fields} fields") from None
    form: dict[str, list[str]] = {}
    for name, value in pairs:
        form.setdefault(name, []).append(value)
    return form


def client_gone(request: Request) -> Response:
    """The answer to a request whose client disconnected mid-body: one DEBUG line (no
    traceback: a dropped connection is the client's business), and a response nobody reads."""
    log.debug("client disconnected while sending %s %s", request.method, request.url.path)
    return Response(status_code=400)
