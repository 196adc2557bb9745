"""A sandbox OpenID Provider for development, demos and relying-party tests.

    from oidc_kit.testing import SandboxClient, SandboxProvider

    op = SandboxProvider(
        "http://op.test",
        [SandboxClient("app", "secret", ("http://app.test/auth/callback",))],
    )
    transport = httpx.ASGITransport(app=op.app)  # or Mount("/sandbox/op", app=op.app)

Users ``alice``/``alice`` and ``bob``/``bob`` exist by default (``SANDBOX_USERS``);
:func:`sandbox_login` logs one in to your app from a test.
"""

from ._browser import sandbox_login
from ._op_models import SANDBOX_USERS, SandboxClient, SandboxUser
from ._op_provider import DEFAULT_SCOPES, SandboxProvider

__all__ = [
    "DEFAULT_SCOPES",
    "SANDBOX_USERS",
    "SandboxClient",
    "SandboxProvider",
    "SandboxUser",
    "sandbox_login",
]
