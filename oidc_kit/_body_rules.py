"""What the kit accepts of a request body, in no web framework's terms: its size, its type,
its form fields (framework-neutral: the adapters read the bytes, bounded by these rules).

Anyone can POST to ``/auth/callback``, ``/auth/backchannel-logout`` and ``/auth/logout``, so
an adapter never reads a body whole before its size is known to be small: a declared
``Content-Length`` over :data:`MAX_BODY` is refused (:func:`declared_too_large`) before a byte
is read, and a body without one is counted while it comes in and refused once past the limit
(``_body.py`` does both for Starlette; Flask and Django count with :func:`read_counted`).
Forms are parsed here, with :mod:`urllib.parse` and a cap on the number of fields.

What is accepted: ``application/x-www-form-urlencoded`` (what an HTML form, a provider's
form_post page and a Back-Channel Logout request send), or an empty body of any type. Any
other body is 415 ``unsupported_media_type``.
"""

from __future__ import annotations

from typing import Protocol
from urllib.parse import parse_qsl

from ._errors import RequestTooLarge, UnsupportedMediaType

__all__ = [
    "FORM_TYPE",
    "MAX_BODY",
    "MAX_FIELDS",
    "declared_too_large",
    "is_form",
    "optional_form",
    "parse_form",
    "read_counted",
    "too_large",
]

#: The largest body the kit reads: an authorization response (a code, a state, an iss, an
#: error and its description) or a logout token (itself capped at 16 KiB) is a few KiB.
MAX_BODY = 64 * 1024

#: The most form fields the kit parses: an authorization response has at most eight.
MAX_FIELDS = 32

#: The one form encoding the kit parses.
FORM_TYPE = "application/x-www-form-urlencoded"


def too_large(limit: int = MAX_BODY) -> RequestTooLarge:
    """The refusal of a body over ``limit`` bytes (413 ``request_too_large``)."""
    return RequestTooLarge(f"the request body is over {limit} bytes")


def declared_too_large(content_length: str | None, limit: int = MAX_BODY) -> bool:
    """Whether a declared ``Content-Length`` is over ``limit``: refused before reading.

    A malformed one is left to the count while reading (servers refuse most of them).
    """
    declared = content_length or ""
    return declared.isdigit() and int(declared) > limit


#: How much a sync adapter reads of a body at a time.
_READ_CHUNK = 16 * 1024


class _Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


def read_counted(stream: _Readable, limit: int = MAX_BODY) -> bytes | None:
    """A sync body (a WSGI input, Django's request stream) read to its end, counted as it
    comes: ``None`` once past ``limit``, never more than ``limit + 1`` bytes read."""
    chunks: list[bytes] = []
    size = 0
    while chunk := stream.read(min(_READ_CHUNK, limit + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return None
    return b"".join(chunks)


def is_form(content_type: str | None) -> bool:
    """Whether ``Content-Type`` names :data:`FORM_TYPE` (parameters and case aside)."""
    return (content_type or "").split(";", 1)[0].strip().lower() == FORM_TYPE


def parse_form(
    body: bytes, content_type: str | None, max_fields: int = MAX_FIELDS
) -> dict[str, list[str]]:
    """A form's fields (each name with its values, in order) from a body read within the
    limit: :class:`UnsupportedMediaType` for a non-empty body of another type,
    :class:`RequestTooLarge` for more than ``max_fields`` fields."""
    if not is_form(content_type):
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


def optional_form(body: bytes, content_type: str | None) -> dict[str, list[str]]:
    """The fields of a body that only may hold a form (logout, revoke): a body of another
    type is ignored (no fields); a form with too many fields is still refused."""
    return parse_form(body, content_type) if is_form(content_type) else {}
