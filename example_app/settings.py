"""The example app's settings, read once from the environment.

With nothing set, everything is local: the embedded sandbox provider at
``{APP_BASE_URL}/sandbox/op`` and the sandbox ORCA API at ``{APP_BASE_URL}/sandbox/orca/v1``.
Set ``OIDC_ISSUER`` (and the client's id and secret) to log in at a real provider, and
``ORCA_API_BASE`` to call the real ORCA API; either works without the other.

``OIDC_AUDIT_LOG`` names the file the kit's audit events go to as JSON lines (``-``: stderr),
for ``python -m example_app`` (``serve.log_config``).

With ``OIDC_ISSUER`` unset the embedded sandbox provider follows the kit's own settings, so
that each can be tried offline: ``OIDC_PROFILE=fapi2`` (PAR, private_key_jwt, DPoP),
``OIDC_TOKEN_AUTH_METHOD=client_secret_jwt`` (the client registered for it, with a secret of
32 bytes or more), and mutual TLS (RFC 8705) with ``OIDC_TOKEN_AUTH_METHOD=tls_client_auth`` or
``OIDC_MTLS_BOUND_TOKENS=1``: the sandboxes are then served over real TLS with a test CA made
at start-up (``sandbox_tls.py``).

``APP_NAME`` names the app on every page (the header, the titles, the home page), in
``--help`` and on the sandbox provider's login page; the look is in the CSS variables at the
top of ``static/style.css``.

Only the settings the app itself uses live here; the kit reads the rest of its own
(``SESSION_SECRET``, ``SESSION_STORE``, ``OIDC_REFRESH_LEEWAY``...) in ``OIDCConfig.from_env``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:  # the kit is imported lazily, when the app is created
    from oidc_kit import OIDCConfig
    from oidc_kit.testing import Issued

__all__ = [
    "DEFAULT_APP_NAME",
    "DEFAULT_SCOPES",
    "SANDBOX_CLIENT_ID",
    "SANDBOX_CLIENT_SECRET",
    "SANDBOX_JWT_CLIENT_SECRET",
    "SANDBOX_OP_PATH",
    "SANDBOX_ORCA_PATH",
    "Settings",
    "app_name",
    "audit_log",
]

#: The name in the header, the page titles and the home page; ``APP_NAME`` renames the app.
DEFAULT_APP_NAME = "Example Bank"
DEFAULT_SCOPES = (
    "openid profile email offline_access accounts:read transactions:read parties:read cards:read"
)
SANDBOX_OP_PATH = "/sandbox/op"
SANDBOX_ORCA_PATH = "/sandbox/orca/v1"
SANDBOX_CLIENT_ID = "example-app"
# Not a secret: the embedded sandbox provider only exists inside this process.
SANDBOX_CLIENT_SECRET = "sandbox-secret"
#: The sandbox client's secret under ``OIDC_TOKEN_AUTH_METHOD=client_secret_jwt``: an HS256
#: key needs 32 bytes or more (RFC 7518 3.2), which ``sandbox-secret`` is not. A constant of
#: its own, so that every other mode (and the docs naming ``sandbox-secret``) is unchanged.
SANDBOX_JWT_CLIENT_SECRET = "sandbox-secret-for-client-secret-jwt"
#: The client authentication methods by certificate (RFC 8705 2): with the sandbox provider,
#: ``tls_client_auth`` turns the mutual-TLS demo on; the self-signed one needs a real provider.
_MTLS_METHODS = ("tls_client_auth", "self_signed_tls_client_auth")
#: Sandbox access tokens live one minute, so that people can watch a refresh happen.
SANDBOX_ACCESS_TOKEN_TTL = 60
#: FAPI 2.0 with the sandbox: the app's own client key, made on first start (private: 0600;
#: every worker and restart uses the same file). Not a secret worth more than the sandbox.
SANDBOX_CLIENT_KEY_FILE = ".oidc_kit/sandbox-client-key.pem"
#: The demo's session secret when ``SESSION_SECRET`` is unset and the sandbox provider serves
#: the logins: made once, so that sessions survive a restart and every worker shares it.
DEMO_SESSION_SECRET_FILE = ".oidc_kit/demo-session-secret"


@dataclass(frozen=True)
class Settings:
    """Where the app is, who logs users in, and where ORCA is."""

    base_url: str
    issuer: str
    scopes: tuple[str, ...]
    orca_api_base: str
    orca_audience: str
    #: True when the issuer is the embedded sandbox provider (mounted at ``/sandbox/op``).
    sandbox_provider: bool
    #: True when ORCA is the embedded sandbox ORCA (mounted at ``/sandbox/orca/v1``).
    sandbox_orca: bool
    #: Lifetime of the embedded sandbox provider's access tokens (``SANDBOX_ACCESS_TOKEN_TTL``).
    sandbox_access_token_ttl: int = SANDBOX_ACCESS_TOKEN_TTL
    #: The app's name as the pages show it (``APP_NAME``).
    app_name: str = DEFAULT_APP_NAME
    #: ``OIDC_PROFILE=fapi2``: the FAPI 2.0 Security Profile, the sandbox too (PAR required,
    #: private_key_jwt, DPoP-bound tokens that the sandbox ORCA refuses without a proof).
    fapi2: bool = False
    #: Where the kit's routes are (``OIDC_ROUTE_PREFIX``): ``/auth/login``, ``/auth/callback``...
    route_prefix: str = "/auth"
    #: ``OIDC_TOKEN_AUTH_METHOD``, when set: the sandbox registers its client for it.
    token_auth_method: str | None = None
    #: The sandboxes over mutual TLS (RFC 8705): with the sandbox provider,
    #: ``OIDC_TOKEN_AUTH_METHOD=tls_client_auth`` or ``OIDC_MTLS_BOUND_TOKENS=1``.
    #: ``issuer`` and ``orca_api_base`` are then the TLS server's (:meth:`served_over_tls`).
    mtls: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, port: int = 8000) -> Settings:
        """Settings from ``APP_BASE_URL``, ``APP_NAME``, ``OIDC_*``, ``ORCA_*``, ``SANDBOX_*``."""
        env = os.environ if environ is None else environ
        base_url = _get(env, "APP_BASE_URL", f"http://127.0.0.1:{port}").rstrip("/")
        issuer = _get(env, "OIDC_ISSUER", "")  # compared exactly: keep any trailing slash
        orca_api_base = _get(env, "ORCA_API_BASE", "").rstrip("/")
        method = _get(env, "OIDC_TOKEN_AUTH_METHOD", "") or None
        bound = _get(env, "OIDC_MTLS_BOUND_TOKENS", "").lower() in ("1", "true", "yes", "on")
        return cls(
            base_url=base_url,
            issuer=issuer or base_url + SANDBOX_OP_PATH,
            scopes=tuple(_get(env, "OIDC_SCOPES", DEFAULT_SCOPES).split()),
            orca_api_base=orca_api_base or base_url + SANDBOX_ORCA_PATH,
            orca_audience=_get(env, "ORCA_AUDIENCE", "orca"),
            sandbox_provider=not issuer,
            sandbox_orca=not orca_api_base,
            sandbox_access_token_ttl=_positive_int(env, "SANDBOX_ACCESS_TOKEN_TTL"),
            app_name=app_name(env),
            fapi2=_get(env, "OIDC_PROFILE", "") == "fapi2",
            route_prefix=_get(env, "OIDC_ROUTE_PREFIX", "/auth").rstrip("/"),
            token_auth_method=method,
            mtls=not issuer and (bound or method in _MTLS_METHODS),
        )

    @property
    def sandbox_client_secret(self) -> str | None:
        """The sandbox client's secret: none under FAPI 2.0 (its key) or ``tls_client_auth``
        (its certificate), a long one for ``client_secret_jwt``."""
        if self.fapi2 or self.token_auth_method in _MTLS_METHODS:
            return None
        if self.token_auth_method == "client_secret_jwt":
            return SANDBOX_JWT_CLIENT_SECRET
        return SANDBOX_CLIENT_SECRET

    def served_over_tls(self, origin: str) -> Settings:
        """These settings with the sandboxes at ``origin`` (``https://127.0.0.1:{port}``, the
        mutual-TLS server) instead of under ``APP_BASE_URL``; a real ORCA stays as it is."""
        orca = origin + SANDBOX_ORCA_PATH if self.sandbox_orca else self.orca_api_base
        return replace(self, issuer=origin + SANDBOX_OP_PATH, orca_api_base=orca)

    @property
    def redirect_uri(self) -> str:
        return f"{self.base_url}{self.route_prefix}/callback"

    def kit_url(self, path: str) -> str:
        """The absolute URL of one of the kit's routes (``/jwks``, ``/backchannel-logout``)."""
        return f"{self.base_url}{self.route_prefix}{path}"

    def oidc_config(
        self, environ: Mapping[str, str] | None = None, *, client_cert: Issued | None = None
    ) -> OIDCConfig:
        """The kit's configuration: the environment, with this app's choices on top.

        With the embedded sandbox provider, its client and ``allow_insecure_http`` are forced:
        the sandbox knows no other client, and it is served over plain http on loopback. In
        the mutual-TLS demo, ``client_cert`` (issued by the sandbox's test CA) is the client's
        certificate, and access tokens are bound to it.
        """
        from oidc_kit import OIDCConfig

        overrides: dict[str, object] = {
            "issuer": self.issuer,
            "base_url": self.base_url,
            "scopes": self.scopes,
        }
        if self.sandbox_provider:
            _refuse_public_sandbox(self.base_url, environ)
            overrides.update(
                client_id=SANDBOX_CLIENT_ID,
                client_secret=self.sandbox_client_secret,
                allow_insecure_http=True,
            )
            if self.fapi2:
                # The sandbox registers this client with the public half of this key.
                env = os.environ if environ is None else environ
                key = _get(env, "OIDC_CLIENT_KEY", "") or str(sandbox_client_key())
                overrides.update(client_key=key)
            if self.mtls:
                if client_cert is None:
                    raise ValueError("the mutual-TLS demo needs the client's certificate")
                overrides.update(
                    client_cert=client_cert.cert_pem,
                    client_cert_key=client_cert.key_pem,
                    mtls_bound_tokens=True,
                )
            env = os.environ if environ is None else environ
            if not _get(env, "SESSION_SECRET", ""):
                # A demo on a laptop: no warning about a per-process secret, no logout on
                # every restart. A real provider keeps the kit's warning (set SESSION_SECRET).
                overrides["session_secrets"] = (demo_session_secret(),)
        return OIDCConfig.from_env(environ, **overrides)


def app_name(environ: Mapping[str, str] | None = None) -> str:
    """``APP_NAME``, or :data:`DEFAULT_APP_NAME`: the pages, ``--help`` and the sandbox
    provider's login page ("to continue to ...") all say it."""
    return _get(os.environ if environ is None else environ, "APP_NAME", DEFAULT_APP_NAME)


def audit_log(environ: Mapping[str, str] | None = None) -> str | None:
    """``OIDC_AUDIT_LOG``: the file the ``oidc_kit.audit`` events are appended to as JSON lines,
    ``-`` for stderr; ``None`` when unset (they are then plain lines in the app's log)."""
    env = os.environ if environ is None else environ
    return _get(env, "OIDC_AUDIT_LOG", "") or None


def sandbox_client_key(path: str = SANDBOX_CLIENT_KEY_FILE) -> Path:
    """The sandbox client's private key file, made (P-256, for ES256) if it does not exist.

    Written to a temporary file and linked into place, so that workers starting at once
    all end up with the one key and none reads a half-written file.
    """
    from joserfc.jwk import ECKey

    target = Path(path)
    if not target.exists():
        _write_once(target, ECKey.generate_key("P-256", private=True).as_pem(private=True))
    return target


def demo_session_secret(path: str = DEMO_SESSION_SECRET_FILE) -> str:
    """The demo's session secret (with the sandbox provider and no ``SESSION_SECRET``): a
    random one, made once in a file readable by this user only, as the client key is."""
    target = Path(path)
    if not target.exists():
        _write_once(target, secrets.token_urlsafe(32).encode())
    return target.read_text().strip()


def _write_once(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` (mode 0600) unless it exists: through a temporary file
    linked into place, so that workers starting at once all end up with the one file and
    none reads a half-written one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        with contextlib.suppress(FileExistsError):  # another worker won: use its file
            os.link(tmp, target)
    finally:
        os.unlink(tmp)


#: The hosts the sandbox provider may serve without ``SANDBOX_ALLOW_PUBLIC=1``.
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _refuse_public_sandbox(base_url: str, environ: Mapping[str, str] | None) -> None:
    """The sandbox provider logs anyone in as alice/alice: never on a public address by
    accident. ``SANDBOX_ALLOW_PUBLIC=1`` allows it (a workshop on a room's network)."""
    from oidc_kit import ConfigurationError

    env = os.environ if environ is None else environ
    loopback = (urlsplit(base_url).hostname or "") in _LOOPBACK_HOSTS
    if not loopback and env.get("SANDBOX_ALLOW_PUBLIC", "").strip() != "1":
        raise ConfigurationError(
            "OIDC_ISSUER is unset, so the sandbox provider (users alice/alice, bob/bob) would "
            f"serve {base_url}, which is not a loopback address. Set OIDC_ISSUER to your "
            "provider, or SANDBOX_ALLOW_PUBLIC=1 if a public sandbox is really what you want."
        )


def _positive_int(env: Mapping[str, str], name: str) -> int:
    raw = _get(env, name, str(SANDBOX_ACCESS_TOKEN_TTL))
    if not raw.isdigit() or int(raw) < 2:
        from oidc_kit import ConfigurationError

        raise ConfigurationError(f"{name} must be a whole number of seconds, at least 2")
    return int(raw)


def _get(env: Mapping[str, str], name: str, default: str) -> str:
    """The variable's value, or ``default`` when it is unset or blank."""
    return env.get(name, "").strip() or default
