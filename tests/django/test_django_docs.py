"""docs/django.md: its quick start is under ten lines of integration, counted as the Starlette
and Flask quick starts' are, and it makes a project that answers as the page says. (Every
block of the page also runs in tests/test_docs.py.)"""

from __future__ import annotations

import re
import types

from django.test import Client, override_settings

from oidc_kit.django._kit import SETTING
from tests.flask.conftest import make_config
from tests.servers import ROOT
from tests.sync_adapters.quick_start import integration_lines, quick_start

PAGE = ROOT / "docs" / "django.md"
#: A line of integration: it names the kit, what it gives a view, or its settings.
KIT_LINE = re.compile(r"oidc_kit|login_required|request\.user|OIDC_KIT")


def test_the_quick_start_needs_under_ten_lines_of_integration() -> None:
    kit_lines, marked = integration_lines(PAGE, KIT_LINE)
    assert 0 < len(kit_lines) < 10, kit_lines
    # The page marks them "# kit" for the reader: the marks must tell the truth.
    assert kit_lines == marked


def test_the_quick_start_project_sends_a_browser_to_log_in() -> None:
    namespace: dict[str, object] = {"__name__": "docs_django"}
    exec(compile(quick_start(PAGE), str(PAGE), "exec"), namespace)  # noqa: S102 - our own docs
    urlconf = types.ModuleType("docs_django_urls")
    urlconf.urlpatterns = namespace["urlpatterns"]  # type: ignore[attr-defined]
    assert namespace["INSTALLED_APPS"] == ["oidc_kit.django"]
    options = {SETTING: {"CONFIG": make_config(), "STORE": "memory://"}}
    with override_settings(ROOT_URLCONF=urlconf, MIDDLEWARE=namespace["MIDDLEWARE"], **options):
        answer = Client().get("/")
        assert answer.status_code == 303
        assert answer["Location"] == "/auth/login?next=%2F"
        assert Client().get("/auth/session").json() == {"authenticated": False}
