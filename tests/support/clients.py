"""Raw clients for tests' own assertions, from any URL the suite may run against (a plain server, a Redis
Cluster or a Sentinel-managed master)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel

from framework.cluster import create_cluster, is_cluster_url
from framework.sentinel import is_sentinel_url, parse_sentinel_url


def raw_client(url: str, **kwargs: Any) -> aioredis.Redis:
    """`redis.asyncio.Redis.from_url(url, **kwargs)`, also for `redis+sentinel://` URLs (then a plain
    redis-py `Sentinel(...).master_for(...)` client: a non-blocking pool, as `from_url` makes) and
    `redis+cluster://` URLs (then a `RedisCluster`: the same commands, routed by key)."""
    if is_cluster_url(url):
        return create_cluster(url, **kwargs)  # type: ignore[return-value]
    if not is_sentinel_url(url):
        return aioredis.Redis.from_url(url, **kwargs)
    spec = parse_sentinel_url(url)
    options = {**spec.options, **spec.master_auth(), "db": spec.db, **kwargs}
    manager = Sentinel(spec.sentinels)  # type: ignore[no-untyped-call]
    return manager.master_for(spec.service, **options)  # type: ignore[no-any-return,no-untyped-call]


def other_db(url: str, db: int = 1) -> str:
    """The same server (or Sentinel service), database `db`."""
    parts = urlsplit(url)
    if is_sentinel_url(url):
        service = parts.path.strip("/").split("/")[0]
        return urlunsplit(parts._replace(path=f"/{service}/{db}"))
    return urlunsplit(parts._replace(path=f"/{db}"))
