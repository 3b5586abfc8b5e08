"""The chaos suite runs only when asked for: `-m chaos`, or NESTQ_CHAOS_SECONDS set (see test_chaos.py)."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = "chaos" in (config.getoption("-m") or "") or os.environ.get("NESTQ_CHAOS_SECONDS")
    if wanted:
        return
    skip = pytest.mark.skip(reason="the chaos suite runs with -m chaos (or NESTQ_CHAOS_SECONDS set)")
    for item in items:
        if item.get_closest_marker("chaos"):
            item.add_marker(skip)
