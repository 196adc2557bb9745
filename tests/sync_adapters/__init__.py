"""The sync adapters, Flask (``oidc_kit.flask``) and Django (``oidc_kit.django``, under WSGI
and under ASGI), held to the same behaviour by one copy of each test; what only one of them
has stays in tests/flask and tests/django."""
