"""URL rules the relying party applies to what browsers send: origins and safe redirects.

Framework-neutral: the adapters pass header values and parameters in as plain strings.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

__all__ = ["is_same_origin", "origin_of", "safe_next_path"]


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, lower-cased as browsers send ``Origin``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def is_same_origin(sec_fetch_site: str | None, origin: str | None, app_origin: str) -> bool:
    """False when ``Sec-Fetch-Site`` or ``Origin`` shows a cross-site request.

    ``Sec-Fetch-Site``, set by the browser and unforgeable by pages, decides when present:
    ``Origin`` can be ``null`` on a genuine same-origin form post (a ``no-referrer`` policy
    does that), so it is only the fallback for browsers that do not send fetch metadata.
    Requests without either header (curl, scripts) pass: CSRF needs a browser, and every
    browser in use sends at least one of them on a POST.
    """
    if sec_fetch_site is not None:
        return sec_fetch_site in ("same-origin", "none")
    if origin is not None:
        return origin.lower() == app_origin
    return True


def safe_next_path(value: str | None) -> str:
    """``value`` if it is a same-origin relative path, else ``/`` (no open redirects).

    Refused: absolute URLs, scheme-relative ``//host``, backslashes (browsers read ``/\\host``
    as ``//host``), control characters, and the same tricks percent-encoded.
    """
    if not value or len(value) > 2048:
        return "/"
    decoded = unquote(value)
    for candidate in (value, decoded):
        if not candidate.startswith("/") or candidate.startswith("//"):
            return "/"
        if "\\" in candidate or any(ord(c) < 0x20 or ord(c) == 0x7F for c in candidate):
            return "/"
    # Nothing that passes the checks above has a scheme or a host: a single leading "/"
    # followed by no backslash or control character is a path on this origin.
    return value
