"""Partitioned queues: which partition holds a job, and the names and layout of the partitions.

A queue made with `partitions=K` is K queues of one name each, `name#0` ... `name#K-1`, each with its own
hash tag (`{prefix:name#i}`), so on a Redis Cluster they spread over the shards. A job lives in the
partition its id picks (CRC-32 of the id, modulo K: the same in every process and every Python version,
unlike `hash()`); a scheduler's jobs live with their scheduler (by the scheduler's id), and a deduplicated
job with its deduplication id. The count K is kept in the meta hash of the queue's own name
(`{prefix:name}:meta`, field `partitions`), so a producer or worker given another count is refused.
"""

from __future__ import annotations

import secrets
import time
import zlib

import structlog
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from framework.errors import PartitionMismatchError
from framework.queue.keys import QueueKeys
from framework.queue.scheduler import parse_scheduler_job_id

log = structlog.get_logger("nestq.queue")

MAX_PARTITIONS = 1024
PARTITION_SEP = "#"
PARTITIONS_FIELD = "partitions"


def check_partitions(value: object) -> int:
    """`value` as a partition count; ValueError unless it is an int from 1 to MAX_PARTITIONS."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PARTITIONS:
        raise ValueError(f"partitions must be an int from 1 to {MAX_PARTITIONS}, got {value!r}")
    return value


def partition_name(name: str, index: int) -> str:
    """The queue name of partition `index` of `name`: `name#index`."""
    return f"{name}{PARTITION_SEP}{index}"


def split_partition_name(name: str) -> tuple[str, int] | None:
    """(logical name, index) of a partition's queue name, or None for any other name."""
    base, sep, index = name.rpartition(PARTITION_SEP)
    if not sep or not base or not index.isdigit() or str(int(index)) != index:
        return None
    return base, int(index)


def partition_of(key: str, count: int) -> int:
    """The partition of a routing key (a job id, scheduler id or deduplication id) among `count`."""
    return zlib.crc32(key.encode()) % count


def job_partition(job_id: str, count: int) -> int:
    """The partition that holds the job `job_id`: a scheduler's jobs live with their scheduler."""
    parsed = parse_scheduler_job_id(job_id)
    return partition_of(parsed[0] if parsed else job_id, count)


def new_job_id(count: int, partition: int | None = None) -> str:
    """A fresh job id (time in ms, then random, hex), in `partition` when given, else in a random one.

    Ids are made here rather than by a partition's counter: each partition counts on its own, so counted
    ids would repeat across partitions and could not say where their job is.
    """
    while True:
        job_id = f"{int(time.time() * 1000):x}-{secrets.token_hex(5)}"
        if partition is None or partition_of(job_id, count) == partition:
            return job_id


async def check_layout(client: Redis, prefix: str, name: str, partitions: int) -> None:
    """Record `partitions` as the queue's count if it has none; raise if it has another.

    A plain queue (partitions=1) records nothing, so its keys stay as they always were; a plain worker reads
    the field once at start (see `stored_partitions`) to refuse a partitioned queue.
    """
    keys = QueueKeys(prefix, name)
    async with client.pipeline(transaction=False) as pipe:
        if partitions > 1:
            pipe.hsetnx(keys.meta, PARTITIONS_FIELD, partitions)
            pipe.llen(keys.wait)
            pipe.zcard(keys.prioritized)
            pipe.zcard(keys.delayed)
        pipe.hget(keys.meta, PARTITIONS_FIELD)
        replies = await pipe.execute()
    stored_raw = replies[-1]
    stored = int(stored_raw) if stored_raw is not None else 1
    stray = sum(int(n) for n in replies[1:-1])
    if stray:
        # A plain Queue (partitions=1) is not checked when it adds (that would cost every plain add): its
        # jobs land in the unpartitioned keys, where no partitioned worker looks. Say so loudly.
        log.error(
            "jobs wait in the unpartitioned keys of a partitioned queue: they were added by a Queue without "
            f"partitions={partitions} and no worker of this queue will take them; add with "
            f"partitions={partitions} (a plain Queue({name!r}) lists these with get_jobs and removes them "
            "with drain)",
            queue=name,
            jobs=stray,
        )
    if stored != partitions:
        raise PartitionMismatchError(
            f"queue {name!r} is stored as {stored} partition(s), but this was given partitions={partitions}; "
            f"give partitions={stored} to every Queue, Worker and QueueEvents of it (to change the count, "
            "drain the queue and obliterate it first)"
        )


async def stored_partitions(client: Redis | RedisCluster, prefix: str, name: str) -> int:
    """The partition count recorded for queue `name` (1 when none is)."""
    raw = await client.hget(QueueKeys(prefix, name).meta, PARTITIONS_FIELD)
    return int(raw) if raw is not None else 1
