"""The kit's routes at a path that is not its route_prefix (the checks say so)."""

from django.urls import include, path

urlpatterns = [path("sso/", include("oidc_kit.django.urls"))]
