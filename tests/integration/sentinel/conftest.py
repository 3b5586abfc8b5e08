"""Sentinel setups of the tests' own (1 master, 1 replica, 3 sentinels on ports 7400-7479), stopped by pid."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from framework.sentinel import is_sentinel_url
from tests.support.sentinel_setup import SentinelSetup

_url = os.environ.get("NESTQ_REDIS_URL") or ""
needs_redis_server = [
    pytest.mark.skipif(
        shutil.which("redis-server") is None, reason="a Sentinel setup needs the redis-server binary"
    ),
    # These tests start setups of their own whatever the suite's server is: once per CI run is enough.
    pytest.mark.skipif(
        bool(_url) and not is_sentinel_url(_url), reason="run in the embedded and Sentinel passes only"
    ),
]


@pytest.fixture(scope="module")
def sentinel_setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelSetup]:
    """One setup for the tests of a module that do not fail it over."""
    setup = SentinelSetup(tmp_path_factory.mktemp("sentinel")).start()
    yield setup
    setup.stop()


@pytest.fixture
def failover_setup(tmp_path: Path) -> Iterator[SentinelSetup]:
    """A setup of this test's own, to fail over."""
    setup = SentinelSetup(tmp_path / "sentinel").start()
    yield setup
    setup.stop()
