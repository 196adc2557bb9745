"""What every web adapter builds from its configuration, built once here (framework-neutral):
the HTTP client, the store, the :class:`~oidc_kit.RelyingParty`, its
:class:`~oidc_kit._answers.WebAnswers` and the :class:`~oidc_kit._handlers.KitHandlers` of
the kit's routes.

The Starlette adapter (``OIDCAuth``) builds its parts with :func:`build_parts` in its
constructor; a sync adapter (``_sync_kit.SyncKit``, for Flask and Django) builds them the same
way, but on the bridge's event loop (``_bridge.CoreLoop``), where everything bound to a loop
must be made. One function, so that the adapters cannot drift apart in what they build.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from typing import Generic, TypeVar

import httpx
import jinja2

from ._answers import WebAnswers
from ._clients import named_configs
from ._config import OIDCConfig
from ._cookies import CookieWriter
from ._dpop import DPoPNonces
from ._errors import ConfigurationError
from ._handlers import KitHandlers
from ._hooks import Hooks
from ._pages import KitPages
from ._provider_config import ProviderConfig
from ._relying_party import RelyingParty
from ._urls import origin_of
from .stores import SessionStore, open_store

__all__ = [
    "KitParts",
    "build_parts",
    "check_http_client_choice",
    "check_store_choice",
    "provider_http_client",
]

A = TypeVar("A", bound=WebAnswers)


@dataclass(frozen=True, slots=True)
class KitParts(Generic[A]):
    """One app's kit, as an adapter drives it."""

    #: The default (first) provider's settings, which hold the app-wide ones.
    config: OIDCConfig
    http: httpx.AsyncClient
    store: SessionStore
    rp: RelyingParty
    #: How the answers look on the web (an adapter's subclass of ``WebAnswers``).
    web: A
    #: The kit's routes, written once.
    handlers: KitHandlers
    #: The APIs' DPoP nonces, apart from the providers': an API on a provider's host has
    #: nonces of its own, and sharing one slot would cost a retry per call.
    api_nonces: DPoPNonces
    #: Whether these parts made the HTTP client and the store (and so close them).
    owns_http: bool
    owns_store: bool

    async def aclose(self) -> None:
        """Close the store and the HTTP client, if these parts made them."""
        if self.owns_store:
            await self.store.close()
        if self.owns_http:
            await self.http.aclose()


def check_store_choice(
    config: OIDCConfig, store: SessionStore | None, owner: str = "OIDCAuth"
) -> None:
    """Refuse two answers to "where do sessions live": a store object and ``session_store``
    (``SESSION_STORE=redis://...`` silently ignored would split sessions between instances).
    The URL is not shown: a Redis URL may hold a password."""
    if store is not None and config.session_store is not None:
        raise ConfigurationError(
            f"{owner}(store=...) and session_store (SESSION_STORE) both say where "
            "sessions live: pass the store object or set session_store, not both"
        )


def provider_http_client(
    configs: Iterable[ProviderConfig], timeout: float, owner: str = "OIDCAuth"
) -> httpx.AsyncClient:
    """The HTTP client the kit makes for its calls to the providers: one presenting the client
    certificate when a provider's settings have one (mutual TLS, RFC 8705; the only place
    it is made). A TLS client presents one certificate, so the providers must share it."""
    certs = {c.thumbprint: c for c in (each._certificate for each in configs) if c}
    if len(certs) > 1:
        raise ConfigurationError(
            "providers with different client certificates (OIDC_CLIENT_CERT): the kit's HTTP "
            f"client presents one; give {owner} one client_cert"
        )
    for cert in certs.values():
        return httpx.AsyncClient(timeout=timeout, verify=cert.tls_context())
    return httpx.AsyncClient(timeout=timeout)


def check_http_client_choice(
    configs: Iterable[ProviderConfig],
    http_client: object | None,
    owner: str = "OIDCAuth",
) -> None:
    """Refuse an app's HTTP client with a client certificate: the kit's calls to the provider
    must present the certificate, which only a client made for it can (``verify=`` an SSL
    context with the chain loaded), and the kit cannot see what the app's was made with."""
    if http_client is not None and any(c.uses_mtls for c in configs):
        raise ConfigurationError(
            f"{owner}(http_client=...) with client_cert (OIDC_CLIENT_CERT): the kit makes its "
            "own HTTP client to present the certificate; leave http_client out"
        )


def build_parts(
    config: OIDCConfig | Mapping[str, OIDCConfig],
    answers: type[A],
    *,
    http_client: httpx.AsyncClient | None = None,
    store: SessionStore | None = None,
    json_paths: Sequence[str] = ("/api/",),
    hooks: Hooks | None = None,
    template_dirs: Sequence[str | PathLike[str]] = (),
    templates: jinja2.Environment | None = None,
    clock: Callable[[], float],
    owner: str = "OIDCAuth",
) -> KitParts[A]:
    """The parts of one app's kit: ``http_client`` and ``store`` when the app made them (it
    closes them), else made here (closed by :meth:`KitParts.aclose`); ``answers`` is the
    adapter's ``WebAnswers`` class; ``owner`` names the adapter's class in a refusal."""
    configs = named_configs(config)
    default = next(iter(configs.values()))
    check_store_choice(default, store, owner)  # before anything is made
    check_http_client_choice(configs.values(), http_client, owner)
    http = http_client or provider_http_client(configs.values(), default.http_timeout, owner)
    owned_store = store if store is not None else open_store(default.session_store_url)
    rp = RelyingParty(configs, store=owned_store, http=http, hooks=hooks, clock=clock)
    web = answers(
        rp=rp,
        cookies=CookieWriter(default, rp.session_cookie),
        pages=KitPages(template_dirs, prefix=default.route_prefix, env=templates),
        json_paths=tuple(json_paths),
        prefix=default.route_prefix,
        origin=origin_of(default.base_url),
        post_logout_path=default.post_logout_path,
    )
    clients = rp._clients
    handlers = KitHandlers(
        rp=rp,
        web=web,
        clients=clients,
        sessions=clients.default.sessions,
        store=owned_store,
        clock=clock,
    )
    return KitParts(
        config=default,
        http=http,
        store=owned_store,
        rp=rp,
        web=web,
        handlers=handlers,
        api_nonces=DPoPNonces(),
        owns_http=http_client is None,
        owns_store=store is None,
    )
