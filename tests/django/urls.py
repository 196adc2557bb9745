"""The test project's views: pages, JSON routes, API calls with the user's token, each sync
and async."""

from __future__ import annotations

import json
from typing import Any

import httpx
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path

from oidc_kit import LoginRequired, ProviderUnavailable
from oidc_kit.django import async_auth, httpx_auth, login_required
from tests.flask.conftest import PAYMENT

#: The API the views call (the test's ``httpx.MockTransport``), set by the ``api`` fixture.
API: dict[str, httpx.MockTransport] = {}


def _user(request: HttpRequest) -> Any:
    return request.user


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"hello {_user(request).display_name}")


def public(request: HttpRequest) -> JsonResponse:
    user = _user(request)
    return JsonResponse({"authenticated": user.is_authenticated, "sub": user.sub})


@login_required
def me(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"sub": _user(request).sub, "scopes": list(_user(request).scopes)})


@login_required(scopes="accounts:write")
def write(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


@login_required(acr_values="urn:example:mfa")
def mfa(request: HttpRequest) -> HttpResponse:
    return HttpResponse("mfa")


@login_required
def accounts(request: HttpRequest) -> HttpResponse:
    with httpx.Client(transport=API["api"], auth=httpx_auth(request)) as client:
        answer = client.get("https://orca.test/accounts")
    return HttpResponse(answer.content, status=answer.status_code, content_type="application/json")


@login_required
async def async_me(request: HttpRequest) -> JsonResponse:
    user = await request.auser()  # type: ignore[attr-defined]
    return JsonResponse({"sub": user.sub, "scopes": list(user.scopes), "async": True})


@login_required(scopes="accounts:write")
async def async_write(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


@login_required(acr_values="urn:example:mfa")
async def async_mfa(request: HttpRequest) -> HttpResponse:
    return HttpResponse("mfa")


@login_required(authorization_details=[PAYMENT])
def pay(request: HttpRequest) -> HttpResponse:
    return HttpResponse("pay")


@login_required(authorization_details=[PAYMENT])
async def async_pay(request: HttpRequest) -> HttpResponse:
    return HttpResponse("pay")


@login_required
async def async_accounts(request: HttpRequest) -> HttpResponse:
    async with httpx.AsyncClient(transport=API["api"], auth=async_auth(request)) as client:
        answer = await client.get("https://orca.test/accounts")
    return HttpResponse(answer.content, status=answer.status_code, content_type="application/json")


def raises(request: HttpRequest) -> HttpResponse:
    if request.GET.get("error") == "provider":
        raise ProviderUnavailable("the provider could not be reached")
    raise LoginRequired("log in to continue")


def django_user(request: HttpRequest) -> JsonResponse:
    user = request.user
    return JsonResponse(
        {
            "type": f"{user.__class__.__module__}.{user.__class__.__name__}",
            "pk": user.pk,
            "username": user.get_username(),
            "email": getattr(user, "email", None),
        }
    )


async def async_django_user(request: HttpRequest) -> HttpResponse:
    user = await request.auser()  # type: ignore[attr-defined]
    return HttpResponse(json.dumps({"username": user.get_username(), "pk": user.pk}))


urlpatterns = [
    path("auth/", include("oidc_kit.django.urls")),
    path("", home),
    path("public", public),
    path("api/me", me),
    path("api/write", write),
    path("mfa", mfa),
    path("pay", pay),
    path("api/accounts", accounts),
    path("api/async/me", async_me),
    path("api/async/write", async_write),
    path("async/mfa", async_mfa),
    path("async/pay", async_pay),
    path("api/async/accounts", async_accounts),
    path("raises", raises),
    path("api/raises", raises),
    path("django-user", django_user),
    path("async/django-user", async_django_user),
]
