"""Raw clients for tests' own assertions, from any URL the suite may run against (a plain server, a Redis
Cluster or a Sentinel-managed master)."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from framework.sentinel import create_sentinel_redis, is_sentinel_url


def raw_client(url: str, **kwargs: Any) -> aioredis.Redis:
    """`redis.asyncio.Redis.from_url(url, **kwargs)`, also for `redis+sentinel://` URLs."""
    if is_sentinel_url(url):
        return create_sentinel_redis(url, **kwargs)
    return aioredis.Redis.from_url(url, **kwargs)
