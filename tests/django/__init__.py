"""The Django adapter (oidc_kit.django), under WSGI and under ASGI."""
