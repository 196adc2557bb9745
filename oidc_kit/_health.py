"""Health: can this instance serve logins and sessions? For load balancers and monitors.

Two checks, each ``"ok"`` or ``"unavailable"``:

- ``store``: the session store answers one cheap round trip (:meth:`SessionStore.ping`)
  within ``deadline`` (one second by default: a probe must answer before the load balancer
  gives up on it);
- ``provider``: judged from what this process already knows, never by calling the provider
  (a probe every few seconds from every instance must cost it nothing): each provider's
  :class:`~oidc_kit._provider.ProviderHealth`, the outcomes of its latest discovery, JWKS
  and token-endpoint calls. A provider is unavailable when its latest fetch failed within the last
  :data:`RECENT` seconds and either discovery has never succeeded here or the last
  :data:`FAILURES_TO_FAIL` fetches all failed. A kit that has not talked to the provider
  yet (discovery waits for the first login) is ``ok``: nothing is known to be wrong. With
  several providers the check is ``unavailable`` when any of them is.

Failures older than :data:`RECENT` say nothing any more: an instance a load balancer took out
of rotation gets no logins, so makes no calls that could show the provider back; it returns,
and the next calls judge again.

What the check found is logged (``oidc_kit`` logger, WARNING); the report itself names no
host, URL, version or error, so the route answering it is safe to expose.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from ._errors import StoreUnavailable
from ._provider import Provider, ProviderHealth
from .stores import SessionStore

__all__ = [
    "DEFAULT_DEADLINE",
    "FAILURES_TO_FAIL",
    "RECENT",
    "CheckStatus",
    "HealthReport",
    "health",
    "provider_status",
    "store_status",
]

log = logging.getLogger("oidc_kit")

CheckStatus = Literal["ok", "unavailable"]

#: Seconds the store has to answer a health check's ping.
DEFAULT_DEADLINE = 1.0
#: Failed fetches in a row that make a provider whose metadata the kit holds unavailable
#: (one failed JWKS refetch while the cached keys still verify is not an outage).
FAILURES_TO_FAIL = 3
#: Seconds for which a failed fetch counts.
RECENT = 60.0

#: The key a store without ``ping`` is probed with (a ``get``; nothing is written).
_PROBE_KEY = "health:probe"


@dataclass(frozen=True)
class HealthReport:
    """What a health check found: plain data, for any adapter to render."""

    store: CheckStatus
    #: Every provider together: ``unavailable`` when any is.
    provider: CheckStatus
    #: Each provider by name (for the app's own use; the route shows only the aggregate).
    providers: Mapping[str, CheckStatus]

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return self.store == "ok" and self.provider == "ok"

    @property
    def status_code(self) -> int:
        """200 when every check passed, else 503."""
        return 200 if self.ok else 503

    def body(self) -> dict[str, object]:
        """The route's JSON: ``{"status": "ok"|"unavailable", "checks": {"store", "provider"}}``."""
        return {
            "status": "ok" if self.ok else "unavailable",
            "checks": {"store": self.store, "provider": self.provider},
        }


async def health(
    store: SessionStore,
    providers: Mapping[str, Provider],
    *,
    deadline: float = DEFAULT_DEADLINE,
    clock: Callable[[], float] = time.time,
) -> HealthReport:
    """Ping ``store`` within ``deadline`` seconds and judge ``providers`` (by name) from their
    recent calls; ``clock`` must be the providers' own (``OIDCAuth(clock=...)``)."""
    now = clock()
    by_name = {
        name: provider_status(p.health, has_metadata=p.has_metadata, now=now)
        for name, p in providers.items()
    }
    for name, status in by_name.items():
        if status != "ok":
            log.warning("health check: provider %r unavailable (its recent calls failed)", name)
    aggregate: CheckStatus = "ok" if all(s == "ok" for s in by_name.values()) else "unavailable"
    return HealthReport(await store_status(store, deadline), aggregate, by_name)


async def store_status(store: SessionStore, deadline: float) -> CheckStatus:
    """``ok`` when ``store`` answers a ping within ``deadline`` seconds."""
    try:
        async with asyncio.timeout(deadline):
            ping = getattr(store, "ping", None)
            if ping is None:  # a store written against the Protocol before ping()
                await store.get(_PROBE_KEY)
            else:
                await ping()
    except TimeoutError:
        log.warning("health check: the session store did not answer within %g s", deadline)
        return "unavailable"
    except StoreUnavailable:
        log.warning("health check: the session store is unavailable")
        return "unavailable"
    except Exception as exc:
        # An app's own store may raise anything; only the type is logged (messages of
        # client libraries can hold a URL with its password).
        log.warning("health check: the session store failed (%s)", type(exc).__name__)
        return "unavailable"
    return "ok"


def provider_status(record: ProviderHealth, *, has_metadata: bool, now: float) -> CheckStatus:
    """One provider's check, from its calls' ``record`` (see the module docstring)."""
    if record.consecutive_failures == 0 or record.last_failure is None:
        return "ok"  # nothing tried yet, or the latest call succeeded
    if now - record.last_failure > RECENT:
        return "ok"  # too old to tell; the next call will
    if not has_metadata or record.consecutive_failures >= FAILURES_TO_FAIL:
        return "unavailable"
    return "ok"
