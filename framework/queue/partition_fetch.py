"""How a worker of a partitioned queue takes jobs from its K partitions, fairly.

Taking: each fetch asks the partitions in turn, starting one further each time, for all the free slots;
a partition with fewer jobs leaves the rest to the next one. So every partition is asked first once in K
fetches and a deep partition cannot starve a shallow one, while a lone deep partition still fills every
slot; and the jobs of one fetch mostly come from one partition, so they are reported in one call.

Refilling: as on a plain queue, reporting finished jobs takes new ones in the same call, from the partition
of the finished ones; but every K-th report takes none and leaves its slots to a fetch, which keeps the
turn: a partition whose jobs are not running is asked within K reports and K fetches.

Waiting: when no partition had enough, the worker blocks on every partition's marker at once, one blocking
connection each (on a cluster the markers live on different shards, so one BZPOPMIN cannot name them all).
The first to wake ends the others (`CLIENT UNBLOCK`), and the next fetch asks the woken partitions first.
Unlike a plain queue's wait, no fetch is queued behind the wait: a job added to an idle worker costs it one
more round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from framework.connection import clone_redis
from framework.queue.idle_fetch import IdleFetch
from framework.queue.queue import Queue
from framework.queue.scripts import script

# (jobs, next due ms or -1, rate-limited for ms): moveToActive's reply, over all partitions. Each job
# entry is [id, token, fields, partition queue].
Taken = tuple[list[Any], int, int]
ArgsFor = Callable[[Queue, int], list[Any]]


class PartitionFetch:
    """Takes jobs from the partitions of one queue for one worker (see the module's doc)."""

    def __init__(self, parts: Sequence[Queue], *, name: str, margin: float) -> None:
        self.parts = list(parts)
        self._keys = [[key.encode() for key in part.keys.fetch_keys()] for part in self.parts]
        self._markers = [part.keys.marker.encode() for part in self.parts]
        # A client for blocking calls per partition (its cancel listener's too), on its shard on a cluster.
        self.blocking = [clone_redis(part.client, name=name) for part in self.parts]
        self._waits = [
            IdleFetch(blocking, part.client, margin=margin)
            for blocking, part in zip(self.blocking, self.parts, strict=True)
        ]
        self._cursor = 0
        self._first: list[int] = []  # partitions whose marker woke the last wait: asked first next time
        self.more = False  # the last take left jobs behind (a partition filled its whole share)
        self._reports = 0

    def refill_turn(self) -> bool:
        """Whether this report leaves its slots to the fetcher (every K-th report)."""
        self._reports = (self._reports + 1) % len(self.parts)
        return self._reports == 0

    def _order(self) -> list[int]:
        k = len(self.parts)
        order = [(self._cursor + i) % k for i in range(k)]
        self._cursor = (self._cursor + 1) % k
        if self._first:
            order = self._first + [i for i in order if i not in self._first]
            self._first = []
        return order

    async def take(self, want: int, args_for: ArgsFor) -> Taken:
        """Take up to `want` jobs; sets `more` when some partition may hold more."""
        lua = script("moveToActive")
        woken = self._first
        order = self._order()
        jobs: list[Any] = []
        next_due, limited, asked, full = -1, 0, 0, False
        # One partition at a time, for all the slots left: a batch from one partition is reported in one
        # call (reports go per partition), and the turn moves on at every fetch.
        while len(jobs) < want and asked < len(order):
            i = order[asked]
            asked += 1
            share = want - len(jobs)
            got, due, lim = await lua(self.parts[i].client, self._keys[i], args_for(self.parts[i], share))
            jobs.extend([*entry, self.parts[i]] for entry in got)
            full = full or len(got) >= share
            if due >= 0 and (next_due < 0 or due < next_due):
                next_due = int(due)
            if lim > 0 and not got:
                limited = int(lim) if limited <= 0 else min(limited, int(lim))
        self.more = full
        unasked = [i for i in woken if i in order[asked:]]
        if unasked:
            # Their markers were spent on this wait but no slot was left for them: set them again, so this
            # or another worker wakes for their jobs.
            await asyncio.gather(
                *(self.parts[i].client.zadd(self.parts[i].keys.marker, {"0": 0}) for i in unasked)
            )
        if jobs:
            limited = 0
        return jobs, next_due, limited

    async def wait(self, timeout: float) -> None:
        """Block until any partition's marker is set (or `timeout` s); the woken ones are asked first."""
        tasks = [
            asyncio.ensure_future(w.wait(marker, timeout))
            for w, marker in zip(self._waits, self._markers, strict=True)
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if any(not t.done() for t in tasks) and not await self.interrupt():
                for t in tasks:
                    t.cancel()  # CLIENT UNBLOCK refused: drop those connections instead
            await asyncio.wait(tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        ended = [t for t in tasks if not t.cancelled()]
        errors = [exc for t in ended if (exc := t.exception()) is not None]
        self._first = [i for i, t in enumerate(tasks) if t in ended and t.exception() is None and t.result()]
        if errors and len(errors) == len(tasks):
            raise errors[0]

    async def interrupt(self) -> bool:
        """End the waits in progress (False if some could not be ended: the caller cancels the wait)."""
        results = await asyncio.gather(*(w.interrupt() for w in self._waits))
        return all(results)

    async def close(self) -> None:
        for w in self._waits:
            with contextlib.suppress(Exception):
                await w.close()
        for client in self.blocking:
            with contextlib.suppress(Exception):
                await client.aclose()
