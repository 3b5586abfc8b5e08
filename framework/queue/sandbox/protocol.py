"""The messages between a worker and its sandbox processes: one JSON object per line, over pipes.

The child is started with `{"preload": [[ref, main], ...]}` as its argument (handlers to import before it
answers `{"t": "ready"}`).
Parent -> child: `{"t": "run", "ref": "module:qualname", "main": path | null, "job": {...}}`, then
`{"t": "ack", "v": value}` or `{"t": "ack", "error": {...}}` for each progress/log request.
Child -> parent: `{"t": "progress", "v": value}`, `{"t": "log", "v": line}` (each awaits its ack), and
one of `{"t": "done", "v": result}` / `{"t": "error", "error": {"type", "module", "message", "traceback",
"unrecoverable"}}` per job.
"""

from __future__ import annotations

from typing import Any

import orjson

# The longest line either side accepts (the job's data, a result).
MAX_LINE = 256 * 1024 * 1024

# Fields of a Job that travel to the child (the rest stays with the parent).
JOB_FIELDS = (
    "id",
    "name",
    "timestamp",
    "delay",
    "priority",
    "progress",
    "attempts_made",
    "attempts_started",
    "stalled_count",
    "processed_on",
)


def encode(message: dict[str, Any]) -> bytes:
    """One message as a line of JSON."""
    return orjson.dumps(message) + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """A line back into its message."""
    value = orjson.loads(line)
    if not isinstance(value, dict):
        raise ValueError(f"not a sandbox message: {line[:200]!r}")
    return value
