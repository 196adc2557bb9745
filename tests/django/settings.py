"""The test project's settings: the kit's app and middleware, nothing of django.contrib (the
kit needs neither sessions nor auth), an SQLite file for the one test of the user backend."""

from __future__ import annotations

import tempfile
from pathlib import Path

SECRET_KEY = "django-test-secret-key-0123456789"
DEBUG = False
ALLOWED_HOSTS = ["app.test", "testserver"]
ROOT_URLCONF = "tests.django.urls"
INSTALLED_APPS = ["oidc_kit.django"]
MIDDLEWARE = ["oidc_kit.django.middleware.OIDCMiddleware"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(Path(tempfile.mkdtemp(prefix="oidc-kit-django-")) / "db.sqlite3"),
    }
}
USE_TZ = True
# Leave the test run's logging alone (Django's default configuration adds console handlers).
LOGGING_CONFIG = None
