"""The offline demo over mutual TLS (RFC 8705): the embedded sandboxes served over real TLS.

Certificate-bound access tokens can only be shown over TLS: the sandbox provider binds a
token to the certificate the client presented in the TLS handshake at its ``/mtls``
endpoints, and the sandbox ORCA accepts it only over a connection presenting the same one.
The in-process shortcut of ``loopback.py`` has no handshake, so in this mode the sandbox
provider and sandbox ORCA are served by :class:`~oidc_kit.testing.MTLSServer` (uvicorn in a
thread of this process) at ``https://127.0.0.1:{port}``, a free port, loopback only.

At start-up a new test CA (its key in memory only, for this process's life) issues the
server's certificate and the app's client certificate. The kit presents the client
certificate to the provider, and the app's ORCA client presents it to ORCA
(``OrcaClient.for_config``). ``ca.pem``, ``client.pem`` and ``client.key`` are written to a
private directory (logged at start, removed at exit) for ``curl`` and the like.

Trust: the kit's TLS contexts trust what httpx trusts (``SSL_CERT_FILE``, else certifi's
bundle). This mode sets ``SSL_CERT_FILE`` for the process to a bundle of what it trusted
before plus the test CA, so every client of the app trusts the sandbox and still every
public CA. A browser does not: it warns about the sandbox's certificate on the login page.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import certifi
import httpx
from starlette.types import ASGIApp

from oidc_kit.testing import Issued, MTLSServer, TestCA

__all__ = ["SandboxTLS"]


@dataclass
class SandboxTLS:
    """The mutual-TLS server of the demo's sandboxes, its test CA's client certificate and
    the directory the certificates are written to."""

    server: MTLSServer
    #: What the server serves: the sandboxes' routes.
    app: ASGIApp
    client: Issued
    directory: Path
    #: The sandboxes' own HTTP clients (used in the server's thread), closed at :meth:`stop`.
    http_clients: list[httpx.AsyncClient] = field(default_factory=list)

    @classmethod
    def create(cls, app: ASGIApp) -> SandboxTLS:
        """A new test CA, the server bound to a free loopback port (serving ``app`` once
        started), the certificates written and trusted."""
        ca = TestCA("example_app sandbox CA")
        server_cert, client = ca.server(), ca.client("example_app")
        directory = Path(tempfile.mkdtemp(prefix="example_app_mtls_"))  # mode 0700
        ca_path = ca.write(str(directory))
        client.write(str(directory), "client")
        _trust(ca_path, directory / "trusted.pem")
        server = MTLSServer(
            app, cert_pem=server_cert.cert_pem, key_pem=server_cert.key_pem, trusted=ca.cert_pem
        )
        return cls(server, app, client, directory)

    @property
    def origin(self) -> str:
        """``https://127.0.0.1:{port}``: where the sandboxes are."""
        return self.server.url

    async def start(self) -> None:
        """Serve (the server's thread waits for uvicorn: not on the event loop)."""
        await asyncio.to_thread(self.server.start)

    async def stop(self) -> None:
        """Stop serving and remove the certificates."""
        await asyncio.to_thread(self.server.stop)
        for client in self.http_clients:
            await client.aclose()
        self.discard()

    def discard(self) -> None:
        """Remove the certificates (also when the server never started)."""
        shutil.rmtree(self.directory, ignore_errors=True)


def _trust(ca_path: str, bundle: Path) -> None:
    """``SSL_CERT_FILE`` for this process: what it trusted before, and the test CA."""
    before = os.environ.get("SSL_CERT_FILE", "").strip() or certifi.where()
    text = Path(before).read_text(encoding="ascii") + "\n" + Path(ca_path).read_text("ascii")
    bundle.write_text(text, encoding="ascii")
    os.environ["SSL_CERT_FILE"] = str(bundle)
