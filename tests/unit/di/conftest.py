"""Fixtures of the module-system unit tests: no Redis server is ever contacted."""

from __future__ import annotations

import pytest

# A URL nothing listens on: clients are created lazily, so building an application never connects.
UNUSED_URL = "redis://127.0.0.1:1/0"


@pytest.fixture
def unused_url() -> str:
    """A Redis URL for applications that are built but never talk to Redis."""
    return UNUSED_URL
