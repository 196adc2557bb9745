"""The Django example's URLconf and views: the kit's routes, a page, ORCA's accounts as JSON."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.utils.html import escape

from example_app.orca import OrcaClient, OrcaError
from example_app.settings import Settings
from oidc_kit.django import async_auth, call, login_required

__all__ = ["configure", "handler404", "urlpatterns"]

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{name}</title></head>
<body><h1>{name}</h1>{body}</body></html>"""

#: What the views use, set once by ``create_app``.
_project: dict[str, Any] = {}


def configure(settings: Settings, orca: OrcaClient, prefix: str) -> None:
    """Give the views the example's settings, its ORCA client and the kit's route prefix."""
    _project.update(settings=settings, orca=orca, prefix=prefix)


def home(request: HttpRequest) -> HttpResponse:
    """A small page: who is logged in, or a link to log in."""
    settings: Settings = _project["settings"]
    prefix: str = _project["prefix"]
    user: Any = request.user
    if not user.is_authenticated:
        body = f'<p><a href="{prefix}/login">Log in</a></p>'
    else:
        body = (
            f"<p>Hello {escape(user.display_name)}</p>"
            '<p><a href="/api/accounts">Your accounts (JSON)</a></p>'
            f'<form method="post" action="{prefix}/logout"><button>Log out</button></form>'
        )
    return HttpResponse(_PAGE.format(name=escape(settings.app_name), body=body))


@login_required
def accounts(request: HttpRequest) -> JsonResponse:
    """ORCA's ``GET /accounts``, with the user's token (refreshed when due); ORCA's own
    refusals passed through."""
    orca: OrcaClient = _project["orca"]
    try:
        answer: Any = call(orca.list_accounts, async_auth(request))
        response = JsonResponse(answer)
    except OrcaError as exc:
        response = JsonResponse(exc.body, status=exc.status)
    response["Cache-Control"] = "no-store"
    return response


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404: JSON under ``/api/``, a page elsewhere."""
    if request.path_info.startswith("/api/"):
        response: HttpResponse = JsonResponse({"error": "not_found"}, status=404)
        response["Cache-Control"] = "no-store"
        return response
    page = _PAGE.format(name="Not found", body="<p>No such page.</p>")
    return HttpResponse(page, status=404)


handler404 = not_found

urlpatterns = [
    path("auth/", include("oidc_kit.django.urls")),
    path("", home),
    path("api/accounts", accounts),
]
