"""Tests of the Flask adapter (``oidc_kit.flask``) and the sync kit under it."""
