"""Flows: parents that wait in waiting-children for their children, across queues, at any depth."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from framework import FlowJob, FlowProducer, JobNotFoundError, JobOptions, JobState, WaitingChildrenError
from framework.queue import Queue, Worker

from .conftest import take_job, wait_for

pytestmark = pytest.mark.single_node(
    "flows across queues (hash slots) are single-server for now, see docs/flows.md"
)


@pytest.fixture
async def flow(redis_url: str, prefix: str) -> AsyncIterator[FlowProducer]:
    producer = FlowProducer(connection=redis_url, prefix=prefix)
    yield producer
    await producer.close()


async def drain(make_worker: Callable[..., Worker], handler: Any, *queues: str) -> None:
    """Run each queue's jobs until none is left anywhere (a parent runs after its children)."""
    for _ in range(10):
        for name in queues:
            await make_worker(handler, name=name, start=False).run_until_drained()


def values(results: dict[str, Any]) -> list[Any]:
    return sorted(results.values(), key=repr)


class TestAdd:
    async def test_parent_waits_in_waiting_children_until_its_children_finish(
        self, flow: FlowProducer, make_worker
    ) -> None:
        """The parent is in waiting-children (counts, get_jobs, get_state) and runs after both children."""
        node = await flow.add(
            FlowJob(
                "assemble",
                "parents",
                {"p": 1},
                children=[FlowJob("part", "kids", 1), FlowJob("part", "kids", 2)],
            )
        )
        parents, kids = flow.queue("parents"), flow.queue("kids")
        assert await node.job.get_state() == JobState.WAITING_CHILDREN
        assert (await parents.get_job_counts("waiting-children", "waiting")) == {
            "waiting-children": 1,
            "waiting": 0,
        }
        assert [j.id for j in await parents.get_jobs("waiting-children")] == [node.job.id]
        assert (await kids.get_job_counts("waiting"))["waiting"] == 2
        assert [c.job.parent.id for c in node.children] == [node.job.id, node.job.id]

        order: list[str] = []

        async def run(job):
            order.append(job.name)
            if job.name == "assemble":
                return values(await job.get_children_values())
            return job.data * 10

        await make_worker(run, name="parents", start=False).run_until_drained()
        assert order == []  # the parent is not ready yet
        await make_worker(run, name="kids", start=False).run_until_drained()
        assert await node.job.get_state() == JobState.WAITING
        await make_worker(run, name="parents", start=False).run_until_drained()
        assert order == ["part", "part", "assemble"]
        parent = await parents.get_job(node.job.id)
        assert parent is not None and parent.return_value == [10, 20]

    async def test_children_values_are_keyed_by_queue_and_id(self, flow: FlowProducer, make_worker) -> None:
        """get_children_values() maps "queue:id" of each completed child to its result."""
        node = await flow.add(
            FlowJob("p", "parents", children=[FlowJob("c", "kids", "x", JobOptions(job_id="kid-1"))])
        )
        await make_worker(lambda job: job.data.upper(), name="kids", start=False).run_until_drained()
        assert await node.job.get_children_values() == {"kids:kid-1": "X"}
        deps = await node.job.get_dependencies()
        assert deps.processed == {"kids:kid-1": "X"} and deps.unprocessed == []

    async def test_three_level_tree_across_three_queues(self, flow: FlowProducer, make_worker) -> None:
        """A root in one queue, a middle level in another, leaves in a third: runs bottom-up."""
        tree = FlowJob(
            "root", "q1", children=[
                FlowJob("mid", "q2", i, children=[FlowJob("leaf", "q3", i * 10 + j) for j in range(3)])
                for i in range(2)
            ],
        )  # fmt: skip
        node = await flow.add(tree)
        assert len(node.children) == 2 and all(len(c.children) == 3 for c in node.children)
        assert await node.children[0].job.get_state() == JobState.WAITING_CHILDREN
        finished: list[str] = []

        async def run(job):
            finished.append(job.name)
            if job.name == "leaf":
                return job.data
            return sum(v for v in (await job.get_children_values()).values())

        await drain(make_worker, run, "q1", "q2", "q3")
        assert finished.index("root") == len(finished) - 1
        assert finished.count("mid") == 2 and finished.count("leaf") == 6
        root = await flow.queue("q1").get_job(node.job.id)
        assert root is not None and root.return_value == sum([0, 1, 2, 10, 11, 12])

    async def test_a_thousand_children_under_one_parent(self, flow: FlowProducer, make_worker) -> None:
        """One parent with 1,000 children runs once, after the last of them, and sees all their values."""
        node = await flow.add(
            FlowJob("sum", "parents", children=[FlowJob("n", "kids", i) for i in range(1000)])
        )
        assert (await flow.queue("kids").get_job_counts("waiting"))["waiting"] == 1000
        runs: list[int] = []

        async def run(job):
            if job.name == "sum":
                got = await job.get_children_values()
                runs.append(len(got))
                return sum(got.values())
            return job.data

        await make_worker(run, name="kids", start=False, concurrency=50).run_until_drained()
        await make_worker(run, name="parents", start=False).run_until_drained()
        parent = await flow.queue("parents").get_job(node.job.id)
        assert runs == [1000] and parent is not None and parent.return_value == sum(range(1000))

    async def test_add_bulk_writes_many_trees(self, flow: FlowProducer) -> None:
        """add_bulk returns one node per tree, every parent waiting for its own children."""
        nodes = await flow.add_bulk(
            [FlowJob("p", "parents", i, children=[FlowJob("c", "kids", i)]) for i in range(5)]
        )
        assert [n.job.data for n in nodes] == list(range(5))
        assert (await flow.queue("parents").get_job_counts("waiting-children"))["waiting-children"] == 5
        assert (await flow.queue("kids").get_job_counts("waiting"))["waiting"] == 5

    async def test_add_bulk_is_all_or_nothing(self, flow: FlowProducer) -> None:
        """A tree refused by the server (a child id that exists) leaves the other trees unwritten too."""
        await flow.queue("kids").add("c", None, job_id="taken")
        taken = FlowJob("c", "kids", opts={"job_id": "taken"})
        trees = [
            FlowJob("p", "parents", children=[FlowJob("c", "kids")]),
            FlowJob("p", "parents", children=[taken]),
        ]
        with pytest.raises(ValueError, match="taken already exists"):
            await flow.add_bulk(trees)
        assert sum((await flow.queue("parents").get_job_counts()).values()) == 0
        assert await flow.queue("kids").count() == 1

    async def test_same_root_job_id_twice_writes_nothing_new(self, flow: FlowProducer) -> None:
        """A second add of a tree whose root id exists returns the existing tree and adds no child."""
        tree = FlowJob("p", "parents", opts={"job_id": "report-1"}, children=[FlowJob("c", "kids")])
        first = await flow.add(tree)
        again = await flow.add(tree)
        assert again.job.id == first.job.id == "report-1"
        assert [c.job.id for c in again.children] == [first.children[0].job.id]
        assert (await flow.queue("kids").get_job_counts("waiting"))["waiting"] == 1

    async def test_invalid_child_writes_nothing(self, flow: FlowProducer) -> None:
        """A bad option deep in the tree is refused, naming the node, before anything is written."""
        tree = FlowJob("p", "parents", children=[FlowJob("c", "kids", opts={"attempts": 0})])
        with pytest.raises(ValueError, match=r"root.children\[0\] \(kids/c\).*attempts"):
            await flow.add(tree)
        assert sum((await flow.queue("parents").get_job_counts()).values()) == 0

    async def test_existing_child_id_refused_nothing_written(self, flow: FlowProducer) -> None:
        """A child reusing an existing job id is refused and no job of the tree is written."""
        await flow.queue("kids").add("c", None, job_id="taken")
        with pytest.raises(ValueError, match="taken already exists"):
            await flow.add(FlowJob("p", "parents", children=[FlowJob("c", "kids", opts={"job_id": "taken"})]))
        assert sum((await flow.queue("parents").get_job_counts()).values()) == 0

    async def test_parent_of_a_missing_job_is_refused(self, flow: FlowProducer) -> None:
        """A child naming a parent that does not exist raises JobNotFoundError and writes nothing."""
        q = flow.queue("kids")
        with pytest.raises(JobNotFoundError, match="does not exist"):
            await q.add("c", parent={"id": "nope", "queue": "parents"})
        assert await q.count() == 0


class TestFailurePolicies:
    async def _run(self, flow, make_worker, child_opts: dict[str, Any], *, fail_all: bool = True):
        node = await flow.add(
            FlowJob("p", "parents", children=[
                FlowJob("bad", "kids", opts=child_opts), FlowJob("good", "kids", opts={"job_id": "good"})
            ])
        )  # fmt: skip

        async def run(job):
            if job.name == "bad":
                raise RuntimeError("boom")
            return "ok"

        await make_worker(run, name="kids", start=False).run_until_drained()
        return node, node.children[0].job

    async def test_no_policy_parent_keeps_waiting(self, flow: FlowProducer, make_worker) -> None:
        """Without a policy a failed child stays pending and the parent stays in waiting-children."""
        node, bad = await self._run(flow, make_worker, {})
        assert await node.job.get_state() == JobState.WAITING_CHILDREN
        deps = await node.job.get_dependencies()
        assert deps.unprocessed == [f"kids:{bad.id}"] and deps.processed == {"kids:good": "ok"}

    async def test_fail_parent_on_failure(self, flow: FlowProducer, make_worker) -> None:
        """fail_parent_on_failure: the parent fails at once, naming the child; the child is listed failed."""
        node, bad = await self._run(flow, make_worker, {"fail_parent_on_failure": True})
        parent = await flow.queue("parents").get_job(node.job.id)
        assert parent is not None and await parent.get_state() == JobState.FAILED
        assert parent.failed_reason == f"child kids:{bad.id} failed: RuntimeError: boom"
        assert (await parent.get_dependencies()).failed == [f"kids:{bad.id}"]

    async def test_fail_parent_on_failure_goes_up_the_tree(self, flow: FlowProducer, make_worker) -> None:
        """A parent failed by its child fails its own parent too when it has the same policy."""
        node = await flow.add(
            FlowJob("root", "q1", children=[
                FlowJob("mid", "q2", opts={"fail_parent_on_failure": True}, children=[
                    FlowJob("leaf", "q3", opts={"fail_parent_on_failure": True})
                ])
            ])
        )  # fmt: skip

        def run(job):
            raise RuntimeError("deep")

        await make_worker(run, name="q3", start=False).run_until_drained()
        assert await node.children[0].job.get_state() == JobState.FAILED
        root = await flow.queue("q1").get_job(node.job.id)
        assert root is not None and await root.get_state() == JobState.FAILED
        assert root.failed_reason is not None and root.failed_reason.startswith("child q2:")

    async def test_continue_parent_on_failure(self, flow: FlowProducer, make_worker) -> None:
        """continue_parent_on_failure: the parent moves to waiting as soon as the child fails."""
        node = await flow.add(
            FlowJob("p", "parents", children=[
                FlowJob("bad", "kids", opts={"continue_parent_on_failure": True}),
                FlowJob("slow", "other"),
            ])
        )  # fmt: skip

        def run(job):
            raise RuntimeError("boom")

        await make_worker(run, name="kids", start=False).run_until_drained()
        assert await node.job.get_state() == JobState.WAITING
        bad = node.children[0].job
        assert await node.job.get_failed_children_values() == {f"kids:{bad.id}": "RuntimeError: boom"}
        assert (await node.job.get_dependencies()).unprocessed == [f"other:{node.children[1].job.id}"]

    async def test_ignore_dependency_on_failure(self, flow: FlowProducer, make_worker) -> None:
        """ignore_dependency_on_failure: the parent runs once the rest is done; the failure is listed."""
        node, bad = await self._run(flow, make_worker, {"ignore_dependency_on_failure": True})
        assert await node.job.get_state() == JobState.WAITING
        deps = await node.job.get_dependencies()
        assert deps.ignored == {f"kids:{bad.id}": "RuntimeError: boom"} and deps.unprocessed == []
        assert await node.job.get_failed_children_values() == {f"kids:{bad.id}": "RuntimeError: boom"}

    async def test_remove_dependency_on_failure(self, flow: FlowProducer, make_worker) -> None:
        """remove_dependency_on_failure: the parent runs once the rest is done; no trace of the child."""
        node, _ = await self._run(flow, make_worker, {"remove_dependency_on_failure": True})
        assert await node.job.get_state() == JobState.WAITING
        deps = await node.job.get_dependencies()
        assert deps.ignored == {} and deps.failed == [] and deps.unprocessed == []
        assert deps.processed == {"kids:good": "ok"}

    async def test_policy_applies_only_after_the_last_attempt(self, flow: FlowProducer, make_worker) -> None:
        """A child with attempts left is retried first; the parent fails only when the last attempt fails."""
        node = await flow.add(
            FlowJob(
                "p",
                "parents",
                children=[FlowJob("bad", "kids", opts={"attempts": 3, "fail_parent_on_failure": True})],
            )
        )
        tries: list[int] = []

        def run(job):
            tries.append(job.attempts_made)
            raise RuntimeError("boom")

        states: list[JobState] = []
        while len(tries) < 3:  # a burst may end before the retried job is back: run again until it ran
            await make_worker(run, name="kids", start=False).run_until_drained()
            states.append(await node.job.get_state())
        assert tries == [0, 1, 2] and states[-1] == JobState.FAILED
        assert all(s == JobState.WAITING_CHILDREN for s in states[:-1])

    async def test_retrying_a_failed_child_lets_the_parent_finish(
        self, flow: FlowProducer, make_worker
    ) -> None:
        """With no policy, retrying the failed child and completing it releases the parent."""
        node = await flow.add(FlowJob("p", "parents", children=[FlowJob("c", "kids")]))
        calls: list[int] = []

        def run(job):
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("first time")
            return "fine"

        await make_worker(run, name="kids", start=False).run_until_drained()
        assert await node.job.get_state() == JobState.WAITING_CHILDREN
        assert await node.children[0].job.retry()
        await make_worker(run, name="kids", start=False).run_until_drained()
        assert await node.job.get_state() == JobState.WAITING

    async def test_two_policies_at_once_are_refused(self, flow: FlowProducer) -> None:
        """Two failure policies on one child is a clear error."""
        with pytest.raises(ValueError, match="choose one of"):
            both = {"fail_parent_on_failure": True, "ignore_dependency_on_failure": True}
            await flow.add(FlowJob("p", "parents", children=[FlowJob("c", "kids", opts=both)]))


class TestRemoval:
    async def test_removing_a_parent_removes_its_pending_children(self, flow: FlowProducer) -> None:
        """queue.remove(parent) also removes the children that have not run, in every queue and level."""
        node = await flow.add(
            FlowJob(
                "root",
                "q1",
                children=[FlowJob("mid", "q2", children=[FlowJob("leaf", "q3")]), FlowJob("c", "q3")],
            )
        )
        assert await flow.queue("q1").remove(node.job.id)
        for name in ("q1", "q2", "q3"):
            assert sum((await flow.queue(name).get_job_counts()).values()) == 0, name
        assert await flow.queue("q3").get_job(node.children[0].children[0].job.id) is None

    async def test_removing_the_last_pending_child_releases_the_parent(
        self, flow: FlowProducer, make_worker
    ) -> None:
        """Removing a child takes it out of its parent's dependencies; the parent moves on after the last."""
        node = await flow.add(FlowJob("p", "parents", children=[FlowJob("a", "kids"), FlowJob("b", "kids")]))
        assert await flow.queue("kids").remove(node.children[0].job.id)
        assert await node.job.get_state() == JobState.WAITING_CHILDREN
        assert await flow.queue("kids").remove(node.children[1].job.id)
        assert await node.job.get_state() == JobState.WAITING


class TestDynamicChildren:
    async def test_running_job_adds_children_and_waits(self, flow: FlowProducer, make_worker) -> None:
        """A job adds children, raises WaitingChildrenError, and runs again once they are done, without
        using an attempt."""
        q = flow.queue("parents")
        job = await q.add("fan-out", 3)
        runs: list[tuple[int, int]] = []

        async def parent(job):
            runs.append((job.attempts_made, job.attempts_started))
            if not await job.get_children_values():
                for i in range(job.data):
                    await job.add_child("kids", "square", i)
                raise WaitingChildrenError()
            return sum((await job.get_children_values()).values())

        await make_worker(parent, name="parents", start=False).run_until_drained()
        assert await job.get_state() == JobState.WAITING_CHILDREN
        kids = await flow.queue("kids").get_jobs("waiting")
        assert {k.parent.id for k in kids if k.parent} == {job.id}
        await make_worker(lambda j: j.data * j.data, name="kids", start=False).run_until_drained()
        await make_worker(parent, name="parents", start=False).run_until_drained()
        done = await q.get_job(job.id)
        assert done is not None and done.return_value == 0 + 1 + 4
        assert runs == [(0, 1), (0, 2)] and done.attempts_made == 1

    async def test_parent_option_of_queue_add(self, flow: FlowProducer, make_worker) -> None:
        """queue.add(..., parent=job.parent_ref()) links the new job as a child."""
        parents, kids = flow.queue("parents"), flow.queue("kids")
        job = await parents.add("p")
        child = await kids.add("c", 1, parent=job.parent_ref())
        assert child.parent is not None and (child.parent.queue, child.parent.id) == ("parents", job.id)
        assert (child.parent["queue"], child.parent["id"]) == ("parents", job.id)  # BullMQ-style reads too
        assert (await job.get_dependencies())["unprocessed"] == [f"kids:{child.id}"]
        assert (await job.get_dependencies()).unprocessed == [f"kids:{child.id}"]

    async def test_children_done_before_the_raise_release_at_once(
        self, flow: FlowProducer, make_worker
    ) -> None:
        """Children that finished before the parent raised WaitingChildrenError: the parent goes straight
        back to waiting and completes on its next run."""
        q = flow.queue("parents")
        job = await q.add("p")
        kid_worker = make_worker(lambda j: "done", name="kids", start=False)

        async def parent(job):
            if not await job.get_children_values():
                await job.add_child("kids", "c")
                await kid_worker.run_until_drained()
                raise WaitingChildrenError()
            return "finished"

        await make_worker(parent, name="parents", start=False).run_until_drained()
        assert await job.wait_until_finished(timeout=5) == "finished"


class TestGetFlow:
    async def test_get_flow_returns_the_tree_with_states(self, flow: FlowProducer, make_worker) -> None:
        """get_flow reads a job's tree back: pending and finished children, across queues."""
        node = await flow.add(FlowJob("p", "parents", children=[FlowJob("a", "kids"), FlowJob("b", "other")]))
        await make_worker(lambda j: 1, name="kids", start=False).run_until_drained()
        tree = await flow.get_flow("parents", node.job.id)
        assert tree is not None
        assert sorted(c.job.name for c in tree.children) == ["a", "b"]
        assert await flow.get_flow("parents", "missing") is None


def test_queue_type_is_shared(flow: FlowProducer) -> None:
    """flow.queue(name) returns one Queue per name."""
    assert isinstance(flow.queue("a"), Queue) and flow.queue("a") is flow.queue("a")


class TestOtherEndings:
    async def test_cancelled_child_applies_its_policy(self, flow: FlowProducer) -> None:
        """A waiting child cancelled with fail_parent_on_failure fails its parent, as a last failure does."""
        node = await flow.add(
            FlowJob("p", "parents", children=[FlowJob("c", "kids", opts={"fail_parent_on_failure": True})])
        )
        assert await node.children[0].job.cancel()
        assert await node.job.get_state() == JobState.FAILED

    async def test_child_failed_by_the_stall_check_applies_its_policy(
        self, flow: FlowProducer, make_worker
    ) -> None:
        """A child whose worker died too often is failed by the stall check and its parent moves on."""
        node = await flow.add(
            FlowJob(
                "p", "parents", children=[FlowJob("c", "kids", opts={"ignore_dependency_on_failure": True})]
            )
        )
        await take_job(flow.queue("kids"), lock_ms=1)
        worker = make_worker(lambda j: None, name="kids", stalled_interval=0.05, max_stalled_count=0)

        async def parent_ready() -> bool:
            return await node.job.get_state() == JobState.WAITING

        await wait_for(parent_ready, timeout=10)
        assert worker.is_running
        [reason] = (await node.job.get_failed_children_values()).values()
        assert reason.startswith("job stalled")


class TestParentPlacement:
    async def test_parent_with_a_delay_waits_it_out_after_its_children(
        self, flow: FlowProducer, make_worker
    ) -> None:
        """A parent added with delay= goes to delayed (not waiting) when its last child completes."""
        node = await flow.add(FlowJob("p", "parents", opts={"delay": 3600}, children=[FlowJob("c", "kids")]))
        await make_worker(lambda j: 1, name="kids", start=False).run_until_drained()
        assert await node.job.get_state() == JobState.DELAYED

    async def test_parent_priority_is_kept(self, flow: FlowProducer, make_worker) -> None:
        """A parent with a priority is prioritized once released."""
        node = await flow.add(FlowJob("p", "parents", opts={"priority": 3}, children=[FlowJob("c", "kids")]))
        await make_worker(lambda j: 1, name="kids", start=False).run_until_drained()
        assert await node.job.get_state() == JobState.PRIORITIZED

    async def test_parent_in_a_paused_queue_is_released_as_paused(
        self, flow: FlowProducer, make_worker
    ) -> None:
        """Released into a paused queue, the parent waits there (state paused) until resume."""
        await flow.queue("parents").pause()
        node = await flow.add(FlowJob("p", "parents", children=[FlowJob("c", "kids")]))
        await make_worker(lambda j: 1, name="kids", start=False).run_until_drained()
        assert await node.job.get_state() == JobState.PAUSED
        await flow.queue("parents").resume()
        await make_worker(lambda j: "ran", name="parents", start=False).run_until_drained()
        assert await node.job.wait_until_finished(timeout=5) == "ran"

    async def test_a_completed_child_with_remove_on_complete_still_counts(
        self, flow: FlowProducer, make_worker
    ) -> None:
        """A child removed on completion still gives the parent its value."""
        node = await flow.add(
            FlowJob("p", "parents", children=[FlowJob("c", "kids", opts={"remove_on_complete": True})])
        )
        await make_worker(lambda j: "v", name="kids", start=False).run_until_drained()
        assert await node.job.get_state() == JobState.WAITING
        assert list((await node.job.get_children_values()).values()) == ["v"]
