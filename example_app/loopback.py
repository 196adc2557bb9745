"""An httpx transport that answers the app's own sandbox URLs in process.

The kit talks to the embedded sandbox provider (token, userinfo, JWKS) and the example app
talks to the sandbox ORCA API with ordinary HTTP calls to ``{APP_BASE_URL}/sandbox/...``. This
transport hands those calls straight to the sandbox ASGI apps instead of the network, so that:

- the app works the same under any server, and in tests driven by ``httpx.ASGITransport``
  where no port is listening at all;
- no request to ourselves ever waits on a server worker that is busy waiting for it.

Every other URL (a real provider, the real ORCA) goes over the network as usual.
"""

from __future__ import annotations

import httpx
from starlette.types import ASGIApp

__all__ = ["LoopbackTransport"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


class LoopbackTransport(httpx.AsyncBaseTransport):
    """Sends ``{base_url}{prefix}...`` to ``app`` in process, the rest to the network."""

    def __init__(self, base_url: str, app: ASGIApp, *, prefix: str = "/sandbox/") -> None:
        base = httpx.URL(base_url)
        self._origin = _origin(base)
        self._prefix = base.path.rstrip("/") + prefix
        self._local = httpx.ASGITransport(app=app)
        self._network = httpx.AsyncHTTPTransport()

    def is_local(self, url: httpx.URL) -> bool:
        """Whether ``url`` is one of the embedded sandboxes."""
        return _origin(url) == self._origin and url.path.startswith(self._prefix)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.is_local(request.url):
            return await self._local.handle_async_request(request)
        return await self._network.handle_async_request(request)

    async def aclose(self) -> None:
        await self._network.aclose()
        await self._local.aclose()


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme)
