"""``sandbox_login``: a user logging in through the sandbox provider, for your app's tests."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

import httpx

from ._op_provider import SandboxProvider

__all__ = ["sandbox_login"]

_FORM = re.compile(r'<form[^>]*action="([^"]*)"')
_INTERACTION = re.compile(r'name="interaction" value="([^"]*)"')


async def sandbox_login(
    browser: httpx.AsyncClient,
    op: SandboxProvider,
    username: str,
    password: str | None = None,
    *,
    next_path: str = "/",
    provider: str | None = None,
    login_params: Mapping[str, str] | None = None,
) -> httpx.Response:
    """Log ``username`` in to the app behind ``browser``, the way a browser would.

    ``browser`` talks to your app (``base_url`` its origin, a cookie jar, no redirect
    following); ``op`` is the sandbox provider your app's kit was configured with, served
    in process. The login starts at ``/auth/login``, the provider's form is filled in (the
    password defaults to the username, as for the sandbox's ``alice`` and ``bob``) and the
    provider's answer is handed back to the app's callback. Returns the callback's response:
    a 303 to ``next_path`` on success, the app's 4xx otherwise. Apps configured with
    ``response_mode=form_post`` are not supported (an ``AssertionError`` says so). With
    several providers configured, ``provider`` names the one ``op`` serves. ``login_params``
    adds parameters to ``/auth/login`` (a step-up's ``acr_values``, ``max_age`` or RFC 9396
    ``authorization_details``, as a route's redirect carries them).
    """
    params = {"next": next_path} | ({"provider": provider} if provider else {})
    params |= login_params or {}
    start = await browser.get("/auth/login", params=params)
    if start.status_code not in (302, 303):
        raise AssertionError(f"/auth/login answered {start.status_code}, not a redirect")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=op.app)) as at_op:
        page = await at_op.get(start.headers["location"])
        form, interaction = _FORM.search(page.text), _INTERACTION.search(page.text)
        if page.status_code != 200 or form is None or interaction is None:
            raise AssertionError(f"the provider did not show its login form ({page.status_code})")
        answer = await at_op.post(
            page.url.join(html.unescape(form.group(1))),
            data={
                "interaction": html.unescape(interaction.group(1)),
                "username": username,
                "password": username if password is None else password,
                "action": "login",
            },
        )
    if answer.status_code == 200 and "<form" in answer.text:
        # form_post: a page that POSTs the answer; this helper follows redirects only.
        raise AssertionError("sandbox_login supports response_mode=query (the default) only")
    if answer.status_code not in (302, 303):
        raise AssertionError(f"the provider refused the login ({answer.status_code})")
    return await browser.get(answer.headers["location"])
