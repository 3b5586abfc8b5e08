"""Metrics kept in Redis by moveToFinished (lua/includes/collectMetrics.lua), and how they are read.

Per-minute counts follow BullMQ: a hash `{count, prevTS, prevCount}` per kind and a list of past minutes,
newest first. Reading anchors the minutes to the server's clock, so `data[0]` is the current minute so far,
`data[1]` the minute before, and so on (minutes without a finished job are 0). Must not write anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from framework.queue.serialization import as_text

if TYPE_CHECKING:
    from framework.queue.queue import Queue

MetricKind = Literal["completed", "failed"]
METRIC_KINDS: tuple[str, ...] = ("completed", "failed")
DEFAULT_MAX_DATA_POINTS = 60 * 24  # one day of minutes
# Upper bounds (seconds) of the run-time and wait-time histogram buckets; mirrored in collectMetrics.lua.
BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                              300.0, 900.0, 3600.0)  # fmt: skip


@dataclass(frozen=True, slots=True)
class MetricsOptions:
    """What a worker keeps: `max_data_points` minutes of per-minute counts (one day by default).

    Pass `Worker(..., metrics=False)` to keep no metrics at all (no per-minute counts, no Prometheus totals).
    """

    max_data_points: int = DEFAULT_MAX_DATA_POINTS

    def __post_init__(self) -> None:
        if not isinstance(self.max_data_points, int) or self.max_data_points < 1:
            raise ValueError(
                f"max_data_points must be a whole number of minutes >= 1, got {self.max_data_points!r}"
            )


def metrics_window(option: MetricsOptions | bool | None) -> int:
    """The window a worker passes to moveToFinished: minutes to keep, 0 for no metrics."""
    if option is False:
        return 0
    if option is None or option is True:
        return DEFAULT_MAX_DATA_POINTS
    if isinstance(option, MetricsOptions):
        return option.max_data_points
    raise TypeError(f"metrics must be a MetricsOptions, True or False, got {option!r}")


@dataclass(frozen=True, slots=True)
class MetricsMeta:
    """Totals behind the data points: `count` jobs ever counted, and the last minute boundary written."""

    count: int = 0
    prev_ts: int = 0
    prev_count: int = 0

    def __getitem__(self, key: str) -> int:
        # BullMQ's meta is an object: meta["count"] and meta["prevTS"] read the same as attributes.
        names = {"count": "count", "prev_ts": "prev_ts", "prevTS": "prev_ts", "prev_count": "prev_count",
                 "prevCount": "prev_count"}  # fmt: skip
        if key not in names:
            raise KeyError(key)
        value: int = getattr(self, names[key])
        return value


@dataclass(frozen=True, slots=True)
class Metrics:
    """Per-minute counts of finished jobs.

    Attributes:
        count: number of data points in the whole window (as BullMQ: `len` of all minutes, not of `data`
            when sliced).
        data: jobs finished per minute, newest first: `data[0]` is the current minute so far.
        meta: totals (`meta.count`: jobs counted since metrics began, also `meta["count"]`).
    """

    count: int
    data: list[int]
    meta: MetricsMeta = field(default_factory=MetricsMeta)


def _int(value: Any) -> int:
    try:
        return int(float(as_text(value)))
    except (TypeError, ValueError):
        return 0


def build_metrics(meta_flat: list[Any], points: list[Any], server_ms: int, start: int, end: int) -> Metrics:
    """Anchor the stored minutes to `server_ms` and slice them like LRANGE(start, end)."""
    count, prev_ts, prev_count, max_points = (_int(v) for v in meta_flat)
    meta = MetricsMeta(count=count, prev_ts=prev_ts, prev_count=prev_count)
    if not prev_ts:
        return Metrics(count=0, data=[], meta=meta)
    gap = max(server_ms // 60_000 - prev_ts // 60_000, 0)
    timeline = [0] * gap + [count - prev_count] + [_int(p) for p in points]
    if max_points > 0:
        timeline = timeline[:max_points]
    n = len(timeline)
    lo = start if start >= 0 else max(n + start, 0)
    hi = end if end >= 0 else n + end
    return Metrics(count=n, data=timeline[lo : hi + 1], meta=meta)


async def get_metrics(queue: Queue, kind: str, start: int = 0, end: int = -1) -> Metrics:
    """See `Queue.get_metrics`."""
    if kind not in METRIC_KINDS:
        raise ValueError(f"metrics kind must be 'completed' or 'failed', got {kind!r}")
    if not isinstance(start, int) or not isinstance(end, int):
        raise TypeError("start and end must be whole numbers (minutes back, like LRANGE)")
    k = queue.keys
    async with queue.client.pipeline(transaction=False) as pipe:
        pipe.hmget(k.metrics(kind), ["count", "prevTS", "prevCount", "maxDataPoints"])
        pipe.lrange(k.metrics_data(kind), 0, -1)
        pipe.time()
        meta_flat, points, (secs, micros) = await pipe.execute()
    return build_metrics(list(meta_flat), list(points), int(secs) * 1000 + int(micros) // 1000, start, end)


@dataclass(frozen=True, slots=True)
class Histogram:
    """One job name's observations: counts per bucket (not cumulative; the last is +Inf), sum (s), count."""

    buckets: list[int]
    sum: float
    count: int


@dataclass(slots=True)
class Totals:
    """A queue's Prometheus numbers, read from its totals hash."""

    jobs: dict[tuple[str, str], int] = field(default_factory=dict)  # (name, state) -> count
    duration: dict[str, Histogram] = field(default_factory=dict)
    wait: dict[str, Histogram] = field(default_factory=dict)


def parse_totals(flat: dict[Any, Any]) -> Totals:
    """The totals hash (see collectMetrics.lua) as counters and histograms by job name."""
    totals = Totals()
    raw: dict[str, dict[str, Any]] = {"d": {}, "w": {}}
    for key, value in flat.items():
        kind, _, rest = as_text(key).partition("|")
        n = _int(value)
        if kind == "c":
            state, _, name = rest.partition("|")
            totals.jobs[(name, state)] = n
        elif kind in ("d", "w"):
            name, _, index = rest.rpartition("|")
            entry = raw[kind].setdefault(name, {"b": [0] * (len(BUCKETS) + 1), "s": 0, "n": 0})
            i = _int(index) - 1
            if 0 <= i <= len(BUCKETS):
                entry["b"][i] += n
        elif kind in ("ds", "ws", "dn", "wn"):
            entry = raw[kind[0]].setdefault(rest, {"b": [0] * (len(BUCKETS) + 1), "s": 0, "n": 0})
            entry["s" if kind[1] == "s" else "n"] = n
    for kind, target in (("d", totals.duration), ("w", totals.wait)):
        for name, entry in raw[kind].items():
            target[name] = Histogram(buckets=entry["b"], sum=entry["s"] / 1000, count=entry["n"])
    return totals


async def get_totals(queue: Queue) -> Totals:
    """Counters and histograms of a queue, summed over every worker that ever reported to it (and over its
    partitions: every field is a count or a sum)."""
    if len(queue.parts) == 1:
        return parse_totals(await queue.client.hgetall(queue.keys.metrics_totals))
    summed: dict[str, int] = {}
    for part in queue.parts:
        for key, value in (await part.client.hgetall(part.keys.metrics_totals)).items():
            summed[as_text(key)] = summed.get(as_text(key), 0) + _int(value)
    return parse_totals(summed)


def percentile(hist: Histogram, q: float) -> float | None:
    """Estimate the q-quantile (0..1) from bucket counts, interpolating inside the bucket (as PromQL)."""
    total = sum(hist.buckets)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    lower = 0.0
    for i, n in enumerate(hist.buckets):
        upper = BUCKETS[i] if i < len(BUCKETS) else BUCKETS[-1]
        if seen + n >= rank and n > 0:
            if i >= len(BUCKETS):
                return BUCKETS[-1]
            return lower + (upper - lower) * (rank - seen) / n
        seen += n
        lower = upper
    return BUCKETS[-1]
