"""Job-control facts for the dashboard and the CLI: queue-wide limits, the manual rate limit, fair groups.

Read-only; it must not change any state (the queue's own methods do that).
"""

from __future__ import annotations

import asyncio
from typing import Any

from framework.queue import Queue

MAX_GROUPS_SHOWN = 50


async def queue_limits(queue: Queue, *, max_groups: int = MAX_GROUPS_SHOWN) -> dict[str, Any]:
    """{"global_concurrency", "global_rate_limit" ({"max", "duration"} or None), "rate_limited_for" (s),
    "groups": [{"id", "waiting", "paused", "active"}, ...] (at most `max_groups`), "groups_total"}."""
    concurrency, rate, ttl, group_ids = await asyncio.gather(
        queue.get_global_concurrency(),
        queue.get_global_rate_limit(),
        queue.get_rate_limit_ttl(),
        queue.get_groups(),
    )
    counts = await asyncio.gather(*(queue.get_group_counts(g) for g in group_ids[:max_groups]))
    return {
        "global_concurrency": concurrency,
        "global_rate_limit": None if rate is None else {"max": rate[0], "duration": rate[1]},
        "rate_limited_for": ttl,
        "groups": [{"id": g, **c} for g, c in zip(group_ids, counts, strict=False)],
        "groups_total": len(group_ids),
    }
