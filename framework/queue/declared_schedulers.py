"""Schedulers declared in code (`@cron`, `@every`), kept in step with the code at every start.

A queue remembers which of its scheduler ids were declared in code (a set beside its schedulers). At
start, `sync_declared_schedulers` records the ids the code declares now, upserts them, and removes the
ones that an earlier start declared and the code no longer does, with one log line each: delete
`@every(10, id="tick")`, restart, and `tick` stops. Schedulers created at run time through
`Queue.upsert_job_scheduler` are never in that set, so they are never touched.

Every instance of an application syncs the queues whose processors it runs; during a rolling deploy an
instance still on the old code may put a removed scheduler back until it restarts on the new code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from framework.queue.options import Repeat
from framework.queue.routing import partition_of
from framework.queue.scheduler import OptionsLike
from framework.queue.scripts import script
from framework.queue.serialization import as_text

if TYPE_CHECKING:
    from framework.queue.queue import Queue

__all__ = ["DeclaredScheduler", "declared_scheduler_ids", "sync_declared_schedulers"]

log = structlog.get_logger("nestq.scheduler")


@dataclass(frozen=True)
class DeclaredScheduler:
    """One scheduler as the code declares it."""

    id: str
    repeat: Repeat
    name: str
    data: Any = None
    opts: OptionsLike = None
    declared_by: str = ""  # where, for the logs: "Maintenance.cleanup()"


async def declared_scheduler_ids(queue: Queue) -> set[str]:
    """The ids of `queue`'s schedulers that code has declared (as of the last start)."""
    ids: set[str] = set()
    for part in queue.parts:
        ids |= {as_text(x) for x in await part.client.smembers(part.keys.declared_schedulers)}
    return ids


async def sync_declared_schedulers(queue: Queue, schedulers: Sequence[DeclaredScheduler]) -> list[str]:
    """Make `queue`'s code-declared schedulers exactly `schedulers`: upsert each, remove the others.

    An empty `schedulers` removes every scheduler that code declared earlier on this queue.

    Returns:
        The ids removed because the code no longer declares them.
    """
    if len(queue.parts) > 1:
        # A partitioned queue: each partition keeps the declared schedulers that live in it (by their id).
        removed: list[str] = []
        for index, part in enumerate(queue.parts):
            mine = [s for s in schedulers if partition_of(s.id, len(queue.parts)) == index]
            removed += await sync_declared_schedulers(part, mine)
        return sorted(removed)
    k = queue.keys
    wanted = [s.id for s in schedulers]
    before = await declared_scheduler_ids(queue)
    if wanted:
        # Recorded before the upserts: a crash in between leaves an id to forget, never one to leak.
        await script("declareSchedulers")(queue.client, [k.declared_schedulers], wanted)
    for declared in schedulers:
        await queue.upsert_job_scheduler(
            declared.id, declared.repeat, name=declared.name, data=declared.data, opts=declared.opts
        )
    removed = []
    for sid in sorted(before - set(wanted)):
        status = int(
            await script("removeDeclaredScheduler")(
                queue.client, k.remove_declared_scheduler_keys(sid), [queue.base, sid, queue.max_events]
            )
        )
        if status == 1:
            removed.append(sid)
            log.info(
                "job scheduler removed: no longer declared in code",
                queue=queue.name,
                scheduler=sid,
            )
    return removed
