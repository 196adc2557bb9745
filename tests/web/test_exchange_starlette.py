"""The Starlette adapter's translation to and from the framework-neutral exchange: what the
neutral layer writes is byte for byte what Starlette's own responses would, and a Starlette
request reads as the session middleware reads it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from oidc_kit._cookies import CookieWriter
from oidc_kit._exchange import WebResponse, json_response, parse_cookies, redirect_response
from oidc_kit._middleware import read_cookies
from oidc_kit._outcome import CookieChange
from oidc_kit._routes import web_request
from oidc_kit._web import starlette_response
from tests.conftest import make_config


def _same_second(line: str) -> str:
    """A cookie line without its ``expires`` date (Starlette's clearing line has the time of day,
    the kit's a fixed date in the past)."""
    return re.sub(r"expires=[^;]+", "expires=X", line)


@pytest.mark.parametrize(
    ("overrides", "change"),
    [
        ({}, CookieChange("oidc_session", "v.1", max_age=3600)),
        ({}, CookieChange("oidc_session", None)),
        ({}, CookieChange("oidc_login", "l", max_age=600)),
        ({}, CookieChange("oidc_login", "l", max_age=600, cross_site=True)),
        ({}, CookieChange("oidc_login", None, cross_site=True)),
        (
            {"cookie_domain": "app.test", "cookie_path": "/bank", "cookie_samesite": "strict"},
            CookieChange("oidc_session", "a b;c", max_age=60),
        ),
        ({"base_url": "http://127.0.0.1:8000"}, CookieChange("oidc_session", "v", max_age=5)),
    ],
)
def test_a_cookie_line_is_the_one_starlette_writes(
    overrides: dict[str, Any], change: CookieChange
) -> None:
    config = make_config(**overrides)
    writer = CookieWriter(config, "oidc_session")
    secure = config.secure_cookies or change.cross_site
    if change.name == "oidc_session":
        attributes: dict[str, Any] = {
            "path": config.cookie_path,
            "domain": config.cookie_domain,
            "samesite": config.cookie_samesite,
        }
    else:
        attributes = {"path": "/", "samesite": "none" if change.cross_site else "lax"}
    response = Response()
    if change.value is None:
        response.delete_cookie(change.name, secure=secure, httponly=True, **attributes)
    else:
        response.set_cookie(
            change.name,
            change.value,
            max_age=change.max_age,
            secure=secure,
            httponly=True,
            **attributes,
        )
    assert _same_second(writer.header(change)) == _same_second(response.headers["set-cookie"])


def test_a_clearing_line_names_a_fixed_date_long_past() -> None:
    # Written at any time, the line is the same, and no browser clock reads it as a future date.
    writer = CookieWriter(make_config(), "oidc_session")
    line = writer.header(CookieChange("oidc_session", None))
    assert "; expires=Thu, 01 Jan 1970 00:00:00 GMT;" in line
    assert "Max-Age=0" in line


def test_json_and_redirects_are_encoded_as_starlette_encodes_them() -> None:
    content = {"name": "Zoë ✓", "n": [1, 2.5, None, True]}
    assert json_response(content).body == JSONResponse(content).body
    url = "/auth/login?next=/a b&x=é#frag"
    neutral = redirect_response(url, 303).header("location")
    assert neutral == RedirectResponse(url, 303).headers["location"]


def test_a_web_response_becomes_a_starlette_response_with_its_headers_in_order() -> None:
    answer = WebResponse(
        201, (("Cache-Control", "no-store"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")), b"hi"
    )
    response = starlette_response(answer)
    assert response.status_code == 201 and response.body == b"hi"
    assert response.raw_headers == [
        (b"content-length", b"2"),
        (b"cache-control", b"no-store"),
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
    ]


def test_a_starlette_request_reads_as_the_middleware_reads_it() -> None:
    raw = [
        (b"cookie", b"a=1; b=2"),
        (b"cookie", b"a=9; c=3"),
        (b"accept", b"text/html"),
        (b"x-many", b"1"),
        (b"x-many", b"2"),
    ]
    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": "/auth/callback/partner",
        "root_path": "",
        "query_string": b"next=/x&next=/y&empty=",
        "headers": raw,
        "path_params": {"provider": "partner"},
        "server": ("app.test", 443),
        "scheme": "https",
    }
    web = web_request(Request(scope))
    assert web.method == "POST" and web.path == "/auth/callback/partner"
    assert web.query == {"next": ["/x", "/y"], "empty": [""]}
    assert web.cookies == read_cookies(scope) == {"a": "1", "b": "2", "c": "3"}
    assert web.cookies == parse_cookies(["a=1; b=2", "a=9; c=3"])
    assert web.headers.get("Accept") == "text/html"
    assert web.headers.getlist("X-Many") == ["1", "2"]
    assert web.route_params == {"provider": "partner"}
    assert web.session is None
