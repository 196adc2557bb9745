"""Fixtures of the store tests: a real PostgreSQL (session-scoped; see tests/postgres_server.py).

The Redis fixture is in tests/conftest.py, which every test shares; the Redis Sentinel and
Cluster set-ups and the TLS-only server with ACL users (session-scoped, started on first use;
see tests/redis_server.py) are here.
"""

from __future__ import annotations

from tests.postgres_server import postgres_url as postgres_url
from tests.redis_server import redis_cluster as redis_cluster
from tests.redis_server import redis_sentinel as redis_sentinel
from tests.redis_server import redis_tls as redis_tls

__all__ = ["postgres_url", "redis_cluster", "redis_sentinel", "redis_tls"]
