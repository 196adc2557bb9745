"""Reading bounded request bodies from Starlette for the kit's POST routes (adapter layer).

The rules (the limit, the form type, the field cap) are framework-neutral, in
``_body_rules.py``; this reads a Starlette request's stream by them. A declared
``Content-Length`` over :data:`MAX_BODY` is refused (413 ``request_too_large``) before a byte
is read, and a body without one (chunked) is counted while it streams in and refused as soon
as it passes the limit.

A client that disconnects mid-body is not an error of ours: :func:`client_gone` logs one
DEBUG line and answers nobody (the ASGI server drops what is sent after a disconnect).
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from ._body_rules import FORM_TYPE, MAX_BODY, MAX_FIELDS, declared_too_large, parse_form, too_large
from ._exchange import BodyMark

__all__ = [
    "FORM_TYPE",
    "MAX_BODY",
    "MAX_FIELDS",
    "client_gone",
    "read_body",
    "read_bounded",
    "read_form",
]

log = logging.getLogger("oidc_kit")


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The request's body, at most ``limit`` bytes; :class:`RequestTooLarge` beyond that.

    Raises Starlette's ``ClientDisconnect`` when the client leaves mid-body.
    """
    body = await read_bounded(request, limit)
    if body is BodyMark.TOO_LARGE:
        raise too_large(limit)
    assert isinstance(body, bytes)
    return body


async def read_bounded(request: Request, limit: int = MAX_BODY) -> bytes | BodyMark:
    """The request's body, or :attr:`BodyMark.TOO_LARGE` once it is over ``limit`` bytes
    (declared: nothing read; counted: the rest never read).

    Raises Starlette's ``ClientDisconnect`` when the client leaves mid-body.
    """
    if declared_too_large(request.headers.get("content-length"), limit):
        return BodyMark.TOO_LARGE
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # chunked, or a Content-Length that lied: stop reading here
            return BodyMark.TOO_LARGE
        chunks.append(chunk)
    return b"".join(chunks)


async def read_form(
    request: Request, limit: int = MAX_BODY, max_fields: int = MAX_FIELDS
) -> dict[str, list[str]]:
    """The request's form fields (each name with its values, in order), from a bounded body."""
    body = await read_body(request, limit)
    return parse_form(body, request.headers.get("content-type"), max_fields)


def client_gone(request: Request) -> Response:
    """The answer to a request whose client disconnected mid-body: one DEBUG line (no
    traceback: a dropped connection is the client's business), and a response nobody reads."""
    log.debug("client disconnected while sending %s %s", request.method, request.url.path)
    return Response(status_code=400)
