"""The conformance app's URLconf on Django (``tests/conformance/apps.py`` sets it): the kit's
routes, and the two API views as async views, as an ASGI project writes them."""

from __future__ import annotations

import httpx
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path

from oidc_kit.django import async_auth, atoken_status, login_required
from tests.conformance.apps import API, DJANGO_API


@login_required
async def accounts(request: HttpRequest) -> HttpResponse:
    transport = DJANGO_API["api"].transport()
    async with httpx.AsyncClient(transport=transport, auth=async_auth(request)) as client:
        upstream = await client.get(API)
    return HttpResponse(
        upstream.content, status=upstream.status_code, content_type="application/json"
    )


@login_required
async def status(request: HttpRequest) -> JsonResponse:
    return JsonResponse(await atoken_status(request))


urlpatterns = [
    path("auth/", include("oidc_kit.django.urls")),
    path("api/accounts", accounts),
    path("api/token-status", status),
]
