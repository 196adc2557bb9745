"""Serve an ASGI app over real TLS on loopback, client certificates and all (RFC 8705).

uvicorn (0.55) terminates TLS but does not tell the app which certificate the client
presented. :class:`MTLSServer` runs uvicorn with an HTTP protocol of its own that reads the
peer certificate from the TLS socket once the handshake is done and hands it to the app the
standard way, the ASGI TLS extension (``scope["extensions"]["tls"]["client_cert_chain"]``).
The certificate thus comes from the handshake itself, never from a request header, so there is
no header to trust and no front to keep apart from the clients: a client cannot claim a
certificate it did not present.

The server asks every client for a certificate (``CERT_OPTIONAL``) and verifies one that is
presented against ``trusted`` (a PEM bundle: the test CA, and the self-signed certificates
registered for ``self_signed_tls_client_auth``, which no CA vouches for); a certificate it
cannot verify ends the handshake. A client without one is served too: the plain endpoints
need none.

Serving needs uvicorn, the ``oidc_kit[server]`` extra.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import ssl
import tempfile
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from types import TracebackType
from typing import Any, Self

__all__ = ["MTLSServer", "serve_tls", "server_tls_context"]

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


def server_tls_context(cert_pem: str, key_pem: str, trusted: str) -> ssl.SSLContext:
    """A server TLS context for ``cert_pem``/``key_pem`` that asks clients for a certificate
    and verifies one against the PEM bundle ``trusted``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.verify_mode = ssl.CERT_OPTIONAL
    context.load_verify_locations(cadata=trusted)
    with tempfile.TemporaryDirectory(prefix="oidc_kit_tls_") as directory:
        cert_path, key_path = os.path.join(directory, "c.pem"), os.path.join(directory, "k.pem")
        for path, text in ((cert_path, cert_pem), (key_path, key_pem)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(text)
        context.load_cert_chain(cert_path, key_path)
    return context


def _with_peer_certificate(app: ASGIApp, der: bytes | None) -> ASGIApp:
    """``app`` told, in each scope, the certificate this connection's client presented."""
    chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
    tls = {"client_cert_chain": chain, "client_cert_name": None, "client_cert_error": None}

    async def wrapped(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, "extensions": {**(scope.get("extensions") or {}), "tls": tls}}
        await app(scope, receive, send)

    return wrapped


@functools.cache
def _protocol() -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 protocol, its app given the connection's client certificate (made
    on first use: uvicorn is an optional dependency, imported only to serve)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class PeerCertificateProtocol(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            # asyncio leaves Nagle on under TLS here: an answer written as two TLS records
            # then waits for the client's delayed ACK, ~40 ms a request on loopback.
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            ssl_object = transport.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
            self.app = _with_peer_certificate(self.app, der)

    return PeerCertificateProtocol


def serve_tls(
    app: ASGIApp, *, host: str, port: int, cert_pem: str, key_pem: str, trusted: str
) -> None:
    """Serve ``app`` over TLS until interrupted (``python -m oidc_kit.testing --mtls``), its
    requests told the client's certificate as :class:`MTLSServer`'s are."""
    import uvicorn

    context = server_tls_context(cert_pem, key_pem, trusted)
    uvicorn.run(
        app,
        host=host,
        port=port,
        http=_protocol(),
        log_config=None,
        ssl_context_factory=lambda _config, _default: context,
    )


class MTLSServer:
    """``app`` served at ``https://127.0.0.1:{port}`` in a thread of its own (its own event
    loop), asking clients for a certificate; a context manager.

    ``cert_pem``/``key_pem``: the server's certificate (for 127.0.0.1) and key; ``trusted``:
    the PEM bundle client certificates are verified against.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        cert_pem: str,
        key_pem: str,
        trusted: str,
        port: int = 0,
    ) -> None:
        import uvicorn

        self._context = server_tls_context(cert_pem, key_pem, trusted)
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", port))
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            app,
            http=_protocol(),
            lifespan="off",
            log_config=None,
            # Our own context (no key file left on disk): uvicorn's hook for passing one.
            ssl_context_factory=lambda _config, _default: self._context,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="oidc_kit-mtls", daemon=True)

    @property
    def url(self) -> str:
        """The server's origin, ``https://127.0.0.1:{port}``."""
        return f"https://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._socket]))

    def start(self, timeout: float = 10.0) -> None:
        """Start serving; return once the server accepts connections."""
        self._thread.start()
        pause = threading.Event()
        for _ in range(int(timeout / 0.01)):
            if self._server.started:
                return
            pause.wait(0.01)
        raise RuntimeError("the mTLS server did not start")

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
