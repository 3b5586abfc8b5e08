"""Fixtures for the per-script Lua tests: the queue "q" under the test's own prefix."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from tests.integration.lua._support import LuaQueue


@pytest.fixture
def q(redis: aioredis.Redis, prefix: str) -> LuaQueue:
    return LuaQueue(redis, prefix)
