"""Flows: jobs that wait for their children (BullMQ's FlowProducer), across queues.

A flow is a tree of `FlowJob`s. `FlowProducer.add` writes the whole tree in one atomic `addFlow` script:
each parent waits in the `waiting-children` state with its pending children's keys in
`<parent>:dependencies`; leaves are ready at once. When a child finishes for good, the script that finishes
it (moveToFinished, see lua/includes/flowParent.lua) records the result in the parent and moves the parent to
waiting once its last pending child is gone. A running job may add children itself (`job.add_child`, or the
`parent=` option of `Queue.add`) and then raise `WaitingChildrenError`.

This module owns the flow's Python side (writing trees, reading a parent's bookkeeping, the flow tree of a
job); it does not touch how single jobs are added or run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload

from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import ResponseError

from framework.cluster import is_slot_client
from framework.connection import AnyRedis, Connection, create_client
from framework.errors import JobNotFoundError
from framework.observability import tracing
from framework.queue import serialization
from framework.queue.job import Job
from framework.queue.keys import QueueKeys
from framework.queue.options import JobOptions, ParentRef
from framework.queue.producer import Entry
from framework.queue.queue import Queue, now_ms
from framework.queue.scripts import script
from framework.queue.serialization import as_text

if TYPE_CHECKING:
    from framework.queue.canvas import Chain, Chord, Group, Signature

_JOB_KEY = re.compile(r"^\{(?P<prefix>.*):(?P<queue>[^:{}]+)\}:(?P<id>[^:]+)$")
_NODE_ARGS = 12  # ARGV per node in addFlow


@dataclass
class FlowJob:
    """One job of a flow: `name` in `queue`, with `data`, job `opts`, and `children` that must finish first.

    `opts` are the options of `Queue.add` (job_id, priority, delay, attempts, backoff, ...) plus, for a
    child, its failure policy: `fail_parent_on_failure`, `continue_parent_on_failure`,
    `ignore_dependency_on_failure` or `remove_dependency_on_failure` (applied when the child fails its last
    attempt). A root may name an existing job as its parent: `opts={"parent": job.parent_ref()}`.
    """

    name: str
    queue: str
    data: Any = None
    opts: dict[str, Any] | JobOptions | None = None
    children: list[FlowJob] = field(default_factory=list)


@dataclass
class JobNode:
    """A written flow job (`job`) and the nodes of its children (`children`, empty for a leaf)."""

    job: Job[Any]
    children: list[JobNode] = field(default_factory=list)


@dataclass
class Dependencies:
    """A parent's children by outcome, each keyed `"queue:id"`.

    Attributes:
        processed: completed children and their results.
        unprocessed: children not finished yet (or failed without a failure policy).
        failed: children that failed the parent (`fail_parent_on_failure`).
        ignored: children whose failure was ignored (`ignore_dependency_on_failure`,
            `continue_parent_on_failure`) and their failed reasons.
    """

    processed: dict[str, Any] = field(default_factory=dict)
    unprocessed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    ignored: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        """`deps["processed"]` as well as `deps.processed` (BullMQ returns a plain object)."""
        if key not in ("processed", "unprocessed", "failed", "ignored"):
            raise KeyError(key)
        return getattr(self, key)


# -- keys --------------------------------------------------------------------------------------------------


def job_key(prefix: str, queue: str, job_id: str) -> str:
    return f"{QueueKeys(prefix, queue).base}:{job_id}"


def parse_job_key(key: str) -> ParentRef:
    """`{prefix:queue}:id` -> ParentRef(id, queue, prefix)."""
    m = _JOB_KEY.match(key)
    if m is None:
        raise ValueError(f"not a nestq job key: {key!r}")
    return ParentRef(id=m["id"], queue=m["queue"], prefix=m["prefix"])


def short_key(key: str) -> str:
    """`{prefix:queue}:id` -> `queue:id`, the public name of a child."""
    ref = parse_job_key(key)
    return f"{ref.queue}:{ref.id}"


# -- writing trees ----------------------------------------------------------------------------------------


@dataclass
class _Node:
    queue: Queue
    entry: Entry
    data: Any
    parent_index: int  # 1-based index of the parent node in the tree, 0 = none
    parent_key: str  # an existing parent's job key, or ""
    policy: str
    children: list[int] = field(default_factory=list)  # 0-based indexes


class _Tree:
    """One flow tree, flattened parent first, validated and encoded for addFlow."""

    def __init__(self, producer: _QueueSource, root: FlowJob) -> None:
        self.nodes: list[_Node] = []
        self.queues: list[Queue] = []
        self._qindex: dict[str, int] = {}
        self._producer = producer
        self._add(root, 0, "", "root")

    def _add(self, fj: FlowJob, parent_index: int, parent_key: str, where: str) -> None:
        if not isinstance(fj, FlowJob):
            raise TypeError(f"{where}: expected a FlowJob, got {type(fj).__name__}")
        queue = self._producer.queue(fj.queue)
        raw = fj.opts
        opts = raw.model_dump(exclude_unset=True) if isinstance(raw, JobOptions) else dict(raw or {})
        ref = opts.pop("parent", None)
        if ref is not None:
            if parent_index:
                raise ValueError(f"{where}: a child of a flow gets its parent from the tree; drop 'parent'")
            ref = ref if isinstance(ref, ParentRef) else ParentRef.model_validate(ref)
            parent_key = job_key(ref.prefix or queue.prefix, ref.queue, ref.id)
        try:
            options, entry = queue._prepare(fj.name, fj.data, opts)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{where} ({fj.queue}/{fj.name}): {exc}") from None
        node = _Node(queue, entry, fj.data, parent_index, parent_key, options.failure_policy)
        self.nodes.append(node)
        index = len(self.nodes)
        for i, child in enumerate(fj.children or []):
            node.children.append(len(self.nodes))
            self._add(child, index, "", f"{where}.children[{i}]")

    def build(self, ids: Sequence[str], timestamp: int) -> JobNode:
        """The written tree's nodes from its job ids (addFlow's reply for this tree)."""
        if ids[0].startswith("="):
            raise _Exists(ids[0][1:])
        jobs: list[Job[Any]] = []
        for node, job_id in zip(self.nodes, ids, strict=True):
            job = node.queue._new_job(job_id, node.entry, node.data, timestamp)
            if node.parent_index:
                parent = self.nodes[node.parent_index - 1].queue
                job.parent_key = parent.keys.job(ids[node.parent_index - 1])
            elif node.parent_key:
                job.parent_key = node.parent_key
            jobs.append(job)
        return self._node(0, jobs)

    def _node(self, index: int, jobs: list[Job[Any]]) -> JobNode:
        return JobNode(jobs[index], [self._node(c, jobs) for c in self.nodes[index].children])


class _Exists(Exception):
    def __init__(self, job_id: str) -> None:
        self.job_id = job_id


class _QueueSource:
    """Queue objects on one client, one per queue name (a FlowProducer, or a queue adding a child)."""

    def __init__(
        self,
        client: AnyRedis | None,
        connection: Connection,
        prefix: str | None,
        lender: Callable[[str], Queue | None] | None = None,
    ) -> None:
        self._client = client
        self._connection = connection
        self._prefix = prefix
        self._lender = lender
        self._queues: dict[str, Queue] = {}
        self._borrowed: dict[str, Queue] = {}

    def queue(self, name: str) -> Queue:
        q = self._queues.get(name) or self._borrowed.get(name)
        if q is None:
            lent = self._lender(name) if self._lender is not None else None
            if lent is not None:
                self._borrowed[name] = q = lent  # not ours to close
            else:
                connection = self._client or self._connection
                q = self._queues[name] = Queue(name, connection=connection, prefix=self._prefix)
        return q

    async def close(self) -> None:
        for q in self._queues.values():
            await q.close()
        self._queues.clear()


def _translate(exc: ResponseError) -> Exception:
    text = str(exc)
    if "parent job" in text and "does not exist" in text:
        return JobNotFoundError(f"{text}: add children to an existing job (check its id and queue)")
    if "already exists" in text:
        return ValueError(text)
    return exc


def _keys_and_args(trees: list[_Tree], timestamp: int) -> tuple[list[str], list[Any]]:
    """addFlow's KEYS (one group per queue) and ARGV (every node of every tree, parent first)."""
    keys: list[str] = []
    qindex: dict[tuple[str, str], int] = {}
    total = sum(len(tree.nodes) for tree in trees)
    args: list[Any] = [timestamp, trees[0].nodes[0].queue.max_events, total]
    offset = 0
    for tree in trees:
        for node in tree.nodes:
            q = node.queue
            qi = qindex.get((q.prefix, q.name))
            if qi is None and q.partitions != 1:
                raise ValueError(
                    f"queue {q.name!r} is partitioned: a flow cannot add jobs to it (a running job of it "
                    "may still add children elsewhere with job.add_child)"
                )
            if qi is None:
                qi = qindex[(q.prefix, q.name)] = len(qindex) + 1
                keys.extend(q.keys.flow_keys())
            custom, name, data, opts, delay, priority, lifo = node.entry
            parent_index = node.parent_index + offset if node.parent_index else 0
            args += [qi, custom, name, data, opts, delay, priority, lifo, parent_index, node.parent_key,
                     node.policy, "1" if node.children else "0"]  # fmt: skip
        offset += len(tree.nodes)
    return keys, args


def check_one_slot(keys: Iterable[str]) -> None:
    """On a Redis Cluster a flow must live in one hash slot (see docs/flows.md): raise ValueError naming the
    queues when it does not."""
    slots: dict[int, str] = {}
    for key in keys:
        slots.setdefault(key_slot(key.encode()), key)
    if len(slots) > 1:
        names = sorted({_queue_of(k) for k in slots.values()})
        raise ValueError(
            f"this flow spans queues in different hash slots ({', '.join(names)}); on a Redis Cluster a flow "
            "must stay in one queue for now (dispatch by job name). Cross-slot flows work on a single "
            "server or Sentinel; see docs/flows.md"
        )


def _queue_of(key: str) -> str:
    m = re.match(r"^\{(?:.*):([^:{}]+)\}", key)
    return m.group(1) if m else key


async def _write(client: AnyRedis, trees: list[_Tree], source: _QueueSource) -> list[JobNode]:
    """Write every tree in ONE addFlow call: all of them or none, and no other command in between."""
    if tracing.is_active():  # OpenTelemetry: a span per node, context in its job (observability/tracing.py)
        return await tracing.traced_flow(trees, lambda: _write_trees(client, trees, source))
    return await _write_trees(client, trees, source)


async def _write_trees(client: AnyRedis, trees: list[_Tree], source: _QueueSource) -> list[JobNode]:
    timestamp = now_ms()
    keys, args = _keys_and_args(trees, timestamp)
    if isinstance(client, RedisCluster) or is_slot_client(client):
        check_one_slot([*keys, *(n.parent_key for t in trees for n in t.nodes if n.parent_key)])
        client = trees[0].nodes[0].queue.client  # one slot: its queues' master
    try:
        reply = await script("addFlow")(client, keys, args)
    except ResponseError as exc:
        raise _translate(exc) from None
    ids = [as_text(x) for x in reply]
    out = []
    offset = 0
    for tree in trees:
        try:
            out.append(tree.build(ids[offset : offset + len(tree.nodes)], timestamp))
        except _Exists as exists:
            out.append(await _existing_node(tree.nodes[0].queue, exists.job_id))
        offset += len(tree.nodes)
    return out


async def _existing_node(queue: Queue, job_id: str) -> JobNode:
    node = await get_flow(queue, job_id)
    if node is None:  # removed between the script and this read
        raise JobNotFoundError(f"job {job_id} of queue {queue.name!r} existed but is gone")
    return node


class FlowProducer:
    """Adds flows: trees of jobs where a parent runs once its children have finished.

    Args:
        connection: a `redis://` URL, a `redis.asyncio.Redis` client (shared, not closed here), or None for
            `NESTQ_REDIS_URL`, else the embedded server.
        prefix: key prefix of every queue of the flows (default `NESTQ_PREFIX`, else "nestq").
        queues: where to get the `Queue` of a name (None: build one); a queue it lends (with its default job
            options, e.g. the application's registered queues) is used as is and not closed here.

    Example:
        async with FlowProducer() as flow:
            node = await flow.add(FlowJob("assemble", "reports", children=[
                FlowJob("section", "sections", {"n": 1}), FlowJob("section", "sections", {"n": 2})]))
    """

    def __init__(
        self,
        *,
        connection: Connection = None,
        prefix: str | None = None,
        queues: Callable[[str], Queue | None] | None = None,
    ) -> None:
        self._connection = connection
        self._client: AnyRedis | None = None
        self._owns_client = False
        self._prefix = prefix
        self._lender = queues
        self._source: _QueueSource | None = None

    @property
    def client(self) -> AnyRedis:
        if self._client is None:
            self._client, self._owns_client = create_client(self._connection)
        return self._client

    def _queues(self) -> _QueueSource:
        if self._source is None:
            self._source = _QueueSource(self.client, None, self._prefix, self._lender)
        return self._source

    def queue(self, name: str) -> Queue:
        """The `Queue` named `name` on this producer's connection and prefix."""
        return self._queues().queue(name)

    @overload
    async def add(self, flow: FlowJob | Signature | Chain | Chord) -> JobNode: ...

    @overload
    async def add(self, flow: Group) -> list[JobNode]: ...

    async def add(self, flow: FlowJob | Signature | Chain | Chord | Group) -> JobNode | list[JobNode]:
        """Write a flow tree atomically and return its root node (a list of nodes for a `group`).

        Adding a tree whose root has a `job_id` that already exists writes nothing and returns the
        existing job's tree (adding the same flow twice is harmless).

        Raises:
            ValueError / InvalidJobDataError: an invalid name, option or payload (the message names the node);
                nothing is written.
            JobNotFoundError: the root names a `parent` that does not exist.
        """
        from framework.queue.canvas import Group, to_flow_jobs

        roots = to_flow_jobs(flow)
        nodes = await _write(self.client, [_Tree(self._queues(), r) for r in roots], self._queues())
        return nodes if isinstance(flow, Group) else nodes[0]

    async def add_bulk(self, flows: Iterable[FlowJob]) -> list[JobNode]:
        """Write many flow trees in one atomic step (all of them or none); returns their root nodes.

        One script call writes them all: add trees in chunks (a few hundred) to keep each call short."""
        trees = [_Tree(self._queues(), f) for f in flows]
        if not trees:
            return []
        return await _write(self.client, trees, self._queues())

    async def get_flow(
        self, queue: str, job_id: str, *, depth: int = 10, max_children: int = 1000
    ) -> JobNode | None:
        """The tree under job `job_id` of `queue` (children read from its bookkeeping), or None."""
        return await get_flow(self.queue(queue), job_id, depth=depth, max_children=max_children)

    async def close(self) -> None:
        """Release the connection (a client passed in by the caller stays open)."""
        if self._source is not None:
            await self._source.close()
            self._source = None
        if self._client is not None and self._owns_client:
            await self._client.aclose()
        self._client = None

    async def __aenter__(self) -> FlowProducer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


# -- dynamic children -------------------------------------------------------------------------------------


async def add_child_job(queue: Queue, name: str, data: Any, opts: dict[str, Any]) -> Job[Any]:
    """`queue.add(name, data, parent=ref, ...)`: add one job as a child of an existing job."""
    source = _QueueSource(queue.client, None, queue.prefix)
    source._queues[queue.name] = queue
    tree = _Tree(source, FlowJob(name, queue.name, data, opts))
    return (await _write(queue.client, [tree], source))[0].job


# -- reading a parent's bookkeeping -----------------------------------------------------------------------


def _values(raw: dict[Any, Any]) -> dict[str, Any]:
    return {short_key(as_text(k)): serialization.loads(v) for k, v in raw.items()}


async def children_values(job: Job[Any]) -> dict[str, Any]:
    q = job._queue()
    raw: dict[Any, Any] = await q.client.hgetall(q.keys.processed(job.id))
    return _values(raw)


async def failed_children_values(job: Job[Any]) -> dict[str, str]:
    q = job._queue()
    raw: dict[Any, Any] = await q.client.hgetall(q.keys.failed_children(job.id))
    return {short_key(as_text(k)): as_text(v) for k, v in raw.items()}


async def dependencies(job: Job[Any]) -> Dependencies:
    q = job._queue()
    k = q.keys
    pipe = q.client.pipeline(transaction=True)  # one consistent view (one slot)
    pipe.hgetall(k.processed(job.id))
    pipe.smembers(k.dependencies(job.id))
    pipe.zrange(k.unsuccessful(job.id), 0, -1)
    pipe.hgetall(k.failed_children(job.id))
    processed, pending, failed, ignored = await pipe.execute()
    return Dependencies(
        processed=_values(processed),
        unprocessed=sorted(short_key(as_text(x)) for x in pending),
        failed=[short_key(as_text(x)) for x in failed],
        ignored={short_key(as_text(k)): as_text(v) for k, v in ignored.items()},
    )


async def add_child(job: Job[Any], queue: str, name: str, data: Any, opts: dict[str, Any]) -> Job[Any]:
    parent = job._queue()
    target = parent if queue == parent.name else Queue(queue, connection=parent.client, prefix=parent.prefix)
    try:
        return await add_child_job(target, name, data, {**opts, "parent": job.parent_ref()})
    finally:
        if target is not parent:
            await target.close()


async def get_flow(queue: Queue, job_id: str, *, depth: int = 10, max_children: int = 1000) -> JobNode | None:
    """The tree under one job: its children (pending, completed, failed, ignored), `depth` levels down."""
    queue = queue.partition_for(job_id)
    job = await queue.get_job(job_id)
    if job is None:
        return None
    node = JobNode(job)
    if depth <= 0:
        return node
    k = queue.keys
    pipe = queue.client.pipeline(transaction=True)
    pipe.sscan(k.dependencies(job_id), 0, count=max_children)
    pipe.hkeys(k.processed(job_id))
    pipe.zrange(k.unsuccessful(job_id), 0, max_children - 1)
    pipe.hkeys(k.failed_children(job_id))
    pending, processed, failed, ignored = await pipe.execute()
    keys: list[str] = []
    for group in (pending[1], processed, failed, ignored):
        for key in group:
            text = as_text(key)
            if text not in keys:
                keys.append(text)
    source = _QueueSource(queue.client, None, queue.prefix)
    source._queues[queue.name] = queue
    try:
        for key in keys[:max_children]:
            ref = parse_job_key(key)
            child_queue = (
                source.queue(ref.queue)
                if ref.prefix == queue.prefix
                else Queue(ref.queue, connection=queue.client, prefix=ref.prefix)
            )
            child = await get_flow(child_queue, ref.id, depth=depth - 1, max_children=max_children)
            if child is not None:
                node.children.append(child)
    finally:
        source._queues.pop(queue.name, None)
        await source.close()
    return node


async def flow_summary(queue: Queue, job: Job[Any], limit: int = 200) -> dict[str, Any] | None:
    """A job's place in a flow, for the dashboard and the CLI: its parent and its children with states
    (at most `limit` children), or None when the job is in no flow."""
    k = queue.keys
    pipe = queue.client.pipeline(transaction=True)
    pipe.sscan(k.dependencies(job.id), 0, count=limit)
    pipe.hgetall(k.processed(job.id))
    pipe.zrange(k.unsuccessful(job.id), 0, limit - 1)
    pipe.hgetall(k.failed_children(job.id))
    pending, processed, failed, ignored = await pipe.execute()
    groups: list[tuple[str, list[Any]]] = [
        ("pending", list(pending[1])),
        ("processed", list(processed)),
        ("failed", list(failed)),
        ("ignored", list(ignored)),
    ]
    if job.parent_key is None and not any(keys for _, keys in groups):
        return None
    parent = None
    if job.parent_key is not None:
        parent = await _describe(queue, job.parent_key)
    children: list[dict[str, Any]] = []
    seen: set[str] = set()
    for outcome, keys in groups:
        for raw in keys:
            key = as_text(raw)
            if key in seen or len(children) >= limit:
                continue
            seen.add(key)
            child = await _describe(queue, key)
            child["outcome"] = outcome
            if outcome == "ignored":
                child["failed_reason"] = as_text(ignored[raw])
            children.append(child)
    counts = {outcome: len(keys) for outcome, keys in groups}
    return {"parent": parent, "children": children, "counts": counts}


async def _describe(queue: Queue, key: str) -> dict[str, Any]:
    """{queue, id, name, state} of the job at `key` (state "unknown" when it is gone)."""
    ref = parse_job_key(key)
    other = queue if (ref.queue, ref.prefix) == (queue.name, queue.prefix) else None
    q = other or Queue(ref.queue, connection=queue.client, prefix=ref.prefix)
    try:
        name = await q.client.hget(key, "name")
        state = await q.get_job_state(ref.id)
    finally:
        if other is None:
            await q.close()
    return {
        "queue": ref.queue,
        "id": ref.id,
        "name": None if name is None else as_text(name),
        "state": str(state),
        "same_prefix": ref.prefix == queue.prefix,
    }
