"""addFlow: a whole tree in one step; the flow steps of moveToFinished and removeJob (flowParent)."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from framework.queue.keys import QueueKeys
from framework.queue.scripts import script
from tests.integration.lua._support import MAX_EVENTS, T0, Finish, LuaQueue, text

pytestmark = pytest.mark.single_node(
    "flows across queues (hash slots) are single-server for now, see docs/flows.md"
)


def node(qi: int, name: str, *, job_id: str = "", parent: int = 0, parent_key: str = "", policy: str = "",
         children: bool = False, delay: int = 0) -> list[Any]:  # fmt: skip
    return [qi, job_id, name, "{}", "{}", delay, 0, "0", parent, parent_key, policy, "1" if children else "0"]


async def add_flow(r: aioredis.Redis, queues: list[QueueKeys], nodes: list[list[Any]]) -> list[Any]:
    keys = [k for q in queues for k in q.flow_keys()]
    args: list[Any] = [T0, MAX_EVENTS, len(nodes)]
    for n in nodes:
        args += n
    return text(await script("addFlow")(r, keys, args))


async def deps(q: LuaQueue, job_id: str = "1") -> list[str]:
    return text(list(await q.r.smembers(q.k.dependencies(job_id))))


@pytest.fixture
def kids(redis: aioredis.Redis, prefix: str) -> LuaQueue:
    return LuaQueue(redis, prefix, "kids")


class TestAddFlow:
    async def test_parent_waits_children_ready_and_linked(self, q: LuaQueue, kids: LuaQueue) -> None:
        """The parent goes to waiting-children with its children's keys as dependencies; children are ready
        and name their parent."""
        reply = await add_flow(q.r, [q.k, kids.k], [node(1, "p", children=True), node(2, "c", parent=1),
                                                    node(2, "c", parent=1)])  # fmt: skip
        assert reply == ["1", "1", "2"]
        assert await q.zset(q.k.waiting_children) == [("1", float(T0))]
        assert await q.wait_list() == []
        assert sorted(await kids.wait_list()) == ["1", "2"]
        assert set(await deps(q)) == {kids.k.job("1"), kids.k.job("2")}
        assert (await kids.job("1"))["parentKey"] == q.k.job("1")
        assert await q.get_state("1") == "waiting-children"
        assert await kids.marker() == [("0", 0.0)]

    async def test_existing_root_id_writes_nothing(self, q: LuaQueue, kids: LuaQueue) -> None:
        """A root whose custom id exists: {0, id}, and no child is written."""
        await q.add(job_id="root")
        reply = await add_flow(
            q.r, [q.k, kids.k], [node(1, "p", job_id="root", children=True), node(2, "c", parent=1)]
        )
        assert reply == ["=root", ""]
        assert await kids.key_names() == set()

    async def test_existing_child_id_is_an_error_before_any_write(self, q: LuaQueue, kids: LuaQueue) -> None:
        """A child reusing an existing id fails the call and leaves no trace of the tree."""
        await kids.add(job_id="taken")
        before = await q.key_names()
        with pytest.raises(ResponseError, match="taken already exists"):
            await add_flow(
                q.r, [q.k, kids.k], [node(1, "p", children=True), node(2, "c", job_id="taken", parent=1)]
            )
        assert await q.key_names() == before

    async def test_missing_external_parent_is_an_error(self, q: LuaQueue) -> None:
        """A node naming a parent job key that does not exist is refused."""
        with pytest.raises(ResponseError, match="does not exist"):
            await add_flow(q.r, [q.k], [node(1, "c", parent_key=q.k.job("nope"))])
        assert await q.wait_list() == []

    async def test_two_trees_one_existing(self, q: LuaQueue, kids: LuaQueue) -> None:
        """Two trees in one call: the one whose root exists is skipped whole, the other is written."""
        await q.add(job_id="root")
        tree = [node(1, "p", job_id="root", children=True), node(2, "c", parent=1),
                node(1, "p", children=True), node(2, "c", parent=3)]  # fmt: skip
        assert await add_flow(q.r, [q.k, kids.k], tree) == ["=root", "", "1", "1"]
        assert await kids.wait_list() == ["1"]
        assert (await kids.job("1"))["parentKey"] == q.k.job("1")

    async def test_delayed_leaf(self, q: LuaQueue) -> None:
        """A leaf with a delay goes to delayed, due at timestamp + delay."""
        await add_flow(q.r, [q.k], [node(1, "p", children=True), node(1, "c", parent=1, delay=500)])
        assert await q.zset(q.k.delayed) == [("2", float(T0 + 500))]


class TestChildFinishing:
    async def _tree(self, q: LuaQueue, kids: LuaQueue, policy: str = "") -> None:
        tree = [node(1, "p", children=True), node(2, "a", parent=1, policy=policy), node(2, "b", parent=1)]
        await add_flow(q.r, [q.k, kids.k], tree)
        await q.clear_marker()

    async def test_last_child_moves_parent_to_wait_and_a_repeat_counts_nothing_twice(
        self, q: LuaQueue, kids: LuaQueue
    ) -> None:
        """Each completion records the value once; the last one moves the parent; a repeated report of the
        same finish (its reply lost) changes nothing."""
        await self._tree(q, kids)
        taken = await kids.move_to_active(count=2)
        a, b = taken.jobs
        await kids.move_to_finished([Finish(a.id, a.token, "completed", '"A"')])
        assert await q.get_state("1") == "waiting-children"
        done = [Finish(b.id, b.token, "completed", '"B"')]
        assert (await kids.move_to_finished(done)).results == [1]
        assert await q.get_state("1") == "waiting"
        assert (await kids.move_to_finished(done)).results == [1]
        assert await q.wait_list() == ["1"]
        processed = await q.r.hgetall(q.k.processed("1"))
        assert {text(k): text(v) for k, v in processed.items()} == {
            kids.k.job("1"): '"A"',
            kids.k.job("2"): '"B"',
        }
        assert "waiting" in await q.event_names()

    async def test_failed_child_with_fail_parent_policy(self, q: LuaQueue, kids: LuaQueue) -> None:
        """A final failure with policy "f" fails the waiting parent, naming the child."""
        await self._tree(q, kids, "f")
        a = (await kids.move_to_active()).jobs[0]
        await kids.move_to_finished([Finish(a.id, a.token, "failed", "boom", "[]")])
        assert await q.get_state("1") == "failed"
        assert (await q.job("1"))["failedReason"] == "child kids:1 failed: boom"

    async def test_retry_does_not_touch_the_parent(self, q: LuaQueue, kids: LuaQueue) -> None:
        """A failed attempt that will be retried leaves the parent's dependencies alone."""
        await self._tree(q, kids, "f")
        a = (await kids.move_to_active()).jobs[0]
        await kids.move_to_finished([Finish(a.id, a.token, "retry", "boom", "[]")])
        assert await q.get_state("1") == "waiting-children"
        assert len(await deps(q)) == 2

    async def test_waiting_children_kind_keeps_attempts(self, q: LuaQueue, kids: LuaQueue) -> None:
        """A job reported as "waiting-children" with pending children waits there; attemptsMade unchanged."""
        await add_flow(q.r, [q.k], [node(1, "p")])
        p = (await q.move_to_active()).jobs[0]
        await add_flow(q.r, [kids.k], [node(1, "c", parent_key=q.k.job(p.id))])
        await q.move_to_finished([Finish(p.id, p.token, "waiting-children", "")])
        assert await q.get_state(p.id) == "waiting-children"
        assert (await q.job(p.id))["attemptsMade"] == "0"
        assert await q.zset(q.k.active) == []


class TestRemoveFlow:
    async def test_remove_parent_removes_pending_children(self, q: LuaQueue, kids: LuaQueue) -> None:
        """removeJob on a parent deletes its pending children in the other queue."""
        await add_flow(q.r, [q.k, kids.k], [node(1, "p", children=True), node(2, "c", parent=1)])
        assert await q.remove("1") == 1
        assert await kids.wait_list() == []
        assert await kids.job("1") == {}
        assert await q.zset(q.k.waiting_children) == []
