"""Redis Cluster: queues on several masters, a `RedisCluster` as connection, discovery, redirects.

Runs on `NESTQ_REDIS_URL` when it is a cluster, else on a cluster of the session's own (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from framework import FlowJob, FlowProducer, Queue, QueueEvents, Worker
from framework.cluster import ClusterTopology, is_cluster_url, parse_cluster_url, slot_client, topology_of
from framework.connection import BoundedRetry, create_client, create_redis
from framework.dashboard.sources import discover_queue_names
from framework.queue.keys import QueueKeys
from framework.settings import Settings
from framework.testing import capture_logs

NAMES = [f"q{i}" for i in range(8)]


def _masters(url: str, prefix: str, names: list[str]) -> set[tuple[str, int]]:
    topology = topology_of(url)
    return {topology.owner(key_slot(QueueKeys(prefix, n).base.encode())) for n in names}  # type: ignore[misc]


async def test_queues_on_every_master_add_and_work(cluster_url: str, prefix: str) -> None:
    """Jobs added to 8 queues spread over the masters are all processed, and run_until_drained returns."""
    done: dict[str, list[Any]] = {}
    for name in NAMES:
        async with Queue(name, connection=cluster_url, prefix=prefix) as queue:
            await queue.add_bulk([{"name": "job", "data": {"i": i}} for i in range(5)])
    for name in NAMES:
        seen = done.setdefault(name, [])
        worker = Worker(
            name, lambda job, seen=seen: seen.append(job.data["i"]), connection=cluster_url, prefix=prefix
        )
        await asyncio.wait_for(worker.run_until_drained(), 60)
        await worker.close()
    assert {name: sorted(v) for name, v in done.items()} == {name: [0, 1, 2, 3, 4] for name in NAMES}
    assert len(_masters(cluster_url, prefix, NAMES)) == 3  # the test did span the cluster


async def test_redis_cluster_client_as_connection(cluster_url: str, prefix: str) -> None:
    """A `RedisCluster` passed as connection= works for Queue, Worker and QueueEvents, and stays open."""
    seeds, _ = parse_cluster_url(cluster_url)
    client = RedisCluster(host=seeds[0][0], port=seeds[0][1])
    try:
        events = QueueEvents("mail", connection=client, prefix=prefix)
        await events.start()
        queue = Queue("mail", connection=client, prefix=prefix)
        job = await queue.add("send", {"to": "a"})
        worker = Worker("mail", lambda job: job.data["to"] * 2, connection=client, prefix=prefix)
        await asyncio.wait_for(worker.run_until_drained(), 60)
        await worker.close()
        assert await queue.get_job_state(job.id) == "completed"
        seen: list[str] = []
        for _ in range(20):
            seen += [e.event for e in await events.read()]
            if "completed" in seen:
                break
        assert "completed" in seen
        await events.close()
        await queue.close()
        assert await client.ping()  # not closed by nestq
    finally:
        await client.aclose()


async def test_discovery_scans_every_master(cluster_url: str, prefix: str) -> None:
    """`nestq queues` and the dashboard see the queues of every master."""
    for name in NAMES:
        async with Queue(name, connection=cluster_url, prefix=prefix) as queue:
            await queue.add("x", None)
    client, _ = create_client(cluster_url)
    assert isinstance(client, RedisCluster)
    try:
        assert await discover_queue_names(client, prefix) == NAMES
    finally:
        await client.aclose()


async def test_flow_in_one_slot(cluster_url: str, prefix: str) -> None:
    """A flow whose jobs stay in one queue works on a cluster through a FlowProducer on the cluster URL."""
    flow = FlowProducer(connection=cluster_url, prefix=prefix)
    node = await flow.add(FlowJob("parent", "jobs", children=[FlowJob("child", "jobs", data={"n": 1})]))
    assert await node.job.get_state() == "waiting-children"
    worker = Worker("jobs", lambda job: job.name, connection=cluster_url, prefix=prefix)
    await asyncio.wait_for(worker.run_until_drained(), 60)
    await worker.close()
    queue = Queue("jobs", connection=cluster_url, prefix=prefix)
    assert await queue.get_job_state(node.job.id) == "completed"
    await queue.close()
    await flow.close()


async def test_wrong_map_is_followed_and_logged_once(cluster_url: str, prefix: str) -> None:
    """A stale slot map (as after a failover) is corrected by the MOVED reply: the command succeeds, and the
    redirect is logged once, not once per command."""
    seeds, options = parse_cluster_url(cluster_url)
    topology = ClusterTopology(seeds, options, "test")
    await topology.refresh()
    key = QueueKeys(prefix, "moved").base
    slot = key_slot(key.encode())
    right = topology.owner(slot)
    wrong = next(p for p in topology.primaries() if p != right)
    topology._owners = [wrong] * len(topology._owners)  # every slot "served" by one master
    topology._refreshed_at = float("inf")  # no refresh: only the MOVED replies can teach it
    client = slot_client(topology, key, {"retry": BoundedRetry("test")})
    with capture_logs() as logs:
        for i in range(20):
            await client.set(f"{key}:k{i}", i)
    assert topology.owner(slot) == right
    assert [e["event"] for e in logs if "redirected" in e["event"]] != []
    assert len([e for e in logs if "redirected" in e["event"]]) == 1
    assert int(await client.get(f"{key}:k19")) == 19
    await client.delete(*[f"{key}:k{i}" for i in range(20)])
    await client.aclose()


async def test_cluster_url_in_settings() -> None:
    """NESTQ_REDIS_URL takes redis+cluster:// and rediss+cluster://, and says what is wrong otherwise."""
    assert Settings(redis_url="redis+cluster://a:7000,b:7001").redis_url == "redis+cluster://a:7000,b:7001"
    assert is_cluster_url("rediss+cluster://u:p@a:7000")
    with pytest.raises(ValueError, match="host:port"):
        Settings(redis_url="redis+cluster://a,b")
    with pytest.raises(ValueError, match="only database 0"):
        Settings(redis_url="redis+cluster://a:7000/3")
    seeds, options = parse_cluster_url("rediss+cluster://user:s3cret@h1:7000,h2:7001?ssl_cert_reqs=none")
    assert seeds == [("h1", 7000), ("h2", 7001)]
    assert options["password"] == "s3cret" and options["username"] == "user" and options["ssl"] is True


async def test_queue_client_for_other_queue(cluster_url: str, prefix: str) -> None:
    """`Queue(other, connection=queue.client)` on a cluster gets a client for the other queue's slot."""
    first = Queue("first", connection=cluster_url, prefix=prefix)
    names = [
        n for n in NAMES if key_slot(QueueKeys(prefix, n).base.encode()) != key_slot(first.keys.base.encode())
    ]
    other = Queue(names[0], connection=first.client, prefix=prefix)
    job = await other.add("x", {"a": 1})
    assert (await other.get_job(job.id)).data == {"a": 1}  # type: ignore[union-attr]
    client, owned = create_redis(first.client, key=first.keys.base)
    assert client is first.client and not owned
    await other.close()
    await first.close()


async def test_cancel_reaches_the_worker_on_its_master(cluster_url: str, prefix: str) -> None:
    """A cancel request (sharded pub/sub on the queue's master) stops the running handler."""
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def handler(job: Any) -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    worker = Worker("cx", handler, connection=cluster_url, prefix=prefix)
    running = asyncio.create_task(worker.run())
    queue = Queue("cx", connection=cluster_url, prefix=prefix)
    try:
        job = await queue.add("x", None)
        await asyncio.wait_for(started.wait(), 30)
        assert await queue.cancel(job.id)
        await asyncio.wait_for(cancelled.wait(), 30)
    finally:
        await worker.close()
        await running
        await queue.close()


async def test_application_on_a_redis_cluster_client(cluster_url: str, prefix: str) -> None:
    """`QueueModule.for_root(connection=RedisCluster(...))`: processors of its queues run,
    the injected queue adds through the cluster, and the client is left open for its owner."""
    from framework.di import Module, QueueModule, process, processor
    from framework.testing import create_testing_app

    seen: list[str] = []

    @processor("mail")
    class MailProcessor:
        @process("send")
        async def send(self, job: Any) -> None:
            seen.append(f"mail:{job.data}")

    @processor("sms")
    class SmsProcessor:
        @process("send")
        async def send(self, job: Any) -> None:
            seen.append(f"sms:{job.data}")

    seeds, _ = parse_cluster_url(cluster_url)
    client = RedisCluster(host=seeds[0][0], port=seeds[0][1])

    class AppModule(Module):
        imports = [
            QueueModule.for_root(client, prefix=prefix),
            QueueModule.register_queue("mail"),
            QueueModule.register_queue("sms"),
        ]
        providers = [MailProcessor, SmsProcessor]

    try:
        async with create_testing_app(AppModule) as app:
            await app.queue("mail").add("send", "a")
            await app.queue("sms").add("send", "b")
            await asyncio.wait_for(app.run_until_drained("mail"), 60)
            await asyncio.wait_for(app.run_until_drained("sms"), 60)
        assert sorted(seen) == ["mail:a", "sms:b"]
        assert await client.ping()
    finally:
        await client.aclose()
