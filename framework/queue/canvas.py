"""Canvas on top of flows (Celery's signature / chain / group / chord).

- `signature(queue, name, data, **opts)`: one job, not yet added.
- `chain(a, b, c)`: a, then b, then c. Written as the flow c <- b <- a (each step the only child of the
  next), so a step reads the previous step's result with `await job.get_children_values()`.
- `group(a, b)`: jobs that run in parallel (added together, atomically).
- `chord(group(a, b), callback)`: the callback runs once every member has finished, with their results in
  `await job.get_children_values()`.

`await flow_producer.add(chain(...))` returns the node of the last step (its children lead back to the
first); a group returns one node per member.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from framework.queue.flow import FlowJob


@dataclass(frozen=True)
class Signature:
    """One job to add later: `name` in `queue` with `data` and job options."""

    queue: str
    name: str
    data: Any = None
    opts: dict[str, Any] = field(default_factory=dict)

    def flow_job(self, children: list[FlowJob] | None = None) -> FlowJob:
        return FlowJob(self.name, self.queue, self.data, dict(self.opts), list(children or []))


@dataclass(frozen=True)
class Group:
    """Jobs that run in parallel."""

    members: tuple[Step, ...]


@dataclass(frozen=True)
class Chord:
    """`callback` runs after every member of `header` has finished."""

    header: Group
    callback: Signature | Chain | Chord


@dataclass(frozen=True)
class Chain:
    """Steps that run one after the other."""

    steps: tuple[Step, ...]


Step = Signature | Chain | Group | Chord


def signature(queue: str, name: str, data: Any = None, **opts: Any) -> Signature:
    """One job of `name` in `queue` with `data` and job options (not added until the canvas is)."""
    return Signature(queue, name, data, opts)


def chain(*steps: Step) -> Chain:
    """Run `steps` one after the other; each step reads the previous one's result from its children."""
    if not steps:
        raise ValueError("chain() needs at least one step")
    return Chain(tuple(_check(s, f"chain step {i}") for i, s in enumerate(steps)))


def group(*members: Step) -> Group:
    """Run `members` in parallel."""
    if not members:
        raise ValueError("group() needs at least one member")
    return Group(tuple(_check(m, f"group member {i}") for i, m in enumerate(members)))


def chord(header: Group | list[Step] | tuple[Step, ...], callback: Signature | Chain | Chord) -> Chord:
    """Run `callback` once every member of `header` has finished (their results are its children's values)."""
    if not isinstance(header, Group):
        header = group(*header)
    return Chord(header, _check(callback, "chord callback"))


def _check(step: Any, where: str) -> Any:
    if not isinstance(step, Signature | Chain | Group | Chord):
        raise TypeError(f"{where}: expected signature(...), chain(...), group(...) or chord(...), "
                        f"got {type(step).__name__}")  # fmt: skip
    return step


def _trees(step: Step, before: list[FlowJob]) -> list[FlowJob]:
    """The flow roots of `step`, run after the trees `before` (which become children of its first jobs)."""
    if isinstance(step, Signature):
        return [step.flow_job(before)]
    if isinstance(step, Group):
        if before:
            raise ValueError(
                "a group inside a chain must come first or right before the step that collects it: "
                "write chain(a, chord(group(b, c), d)) instead of chain(a, group(b, c), d)"
            )
        roots: list[FlowJob] = []
        for member in step.members:
            roots.extend(_trees(member, []))
        return roots
    if isinstance(step, Chord):
        if before:
            raise ValueError(
                "a chord cannot follow another step in a chain: its members would all have to wait for that "
                "one step, and a job has a single parent. Start the chain with the group instead"
            )
        return _trees(step.callback, _trees(step.header, []))
    # Chain: fold left, a group followed by a step is a chord.
    trees = before
    steps = list(step.steps)
    i = 0
    while i < len(steps):
        current = steps[i]
        if isinstance(current, Group) and i + 1 < len(steps):
            nxt = steps[i + 1]
            if isinstance(nxt, Group):
                raise ValueError("two groups in a row in a chain: put a collecting step between them")
            trees = _trees(Chord(current, nxt), trees)
            i += 2
            continue
        trees = _trees(current, trees)
        i += 1
    return trees


def to_flow_jobs(flow: Any) -> list[FlowJob]:
    """The flow roots of a FlowJob or a canvas."""
    if isinstance(flow, FlowJob):
        return [flow]
    if isinstance(flow, Signature | Chain | Group | Chord):
        roots = _trees(flow, [])
        if not isinstance(flow, Group) and len(roots) != 1:
            raise ValueError("this canvas has no single last step; end it with a step that collects the rest")
        return roots
    raise TypeError(
        f"expected a FlowJob or a canvas (chain/group/chord/signature), got {type(flow).__name__}"
    )
