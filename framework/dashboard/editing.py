"""Dashboard actions that make or change jobs, act on a selection, or search beyond an exact id.

Like `framework.dashboard.data`, plain async functions over `Queue`s returning JSON-ready dicts; the
pages and the JSON API call them (behind CSRF and read-only checks, in `app.py`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from redis.exceptions import ResponseError

from framework.dashboard import data
from framework.dashboard.data import ActionError, QueueSource
from framework.errors import JobNotFoundError
from framework.queue import Queue
from framework.queue.keys import escape_glob
from framework.queue.options import RESERVED_JOB_IDS
from framework.queue.serialization import as_text

__all__ = [
    "BULK_ACTIONS",
    "DUPLICATED_OPTIONS",
    "bulk_action",
    "duplicate_job",
    "parse_ids",
    "parse_json_field",
    "search_jobs",
    "update_job_data",
]

# Options a duplicate keeps: how the job runs, not where it sits (no id, delay, schedule or parent).
DUPLICATED_OPTIONS = (
    "priority",
    "attempts",
    "backoff",
    "lifo",
    "timeout",
    "remove_on_complete",
    "remove_on_fail",
)
BULK_ACTIONS = ("retry", "remove")
MAX_BULK = 1000
SEARCH_LIMIT = 50
_PREFIX_SCAN_LIMIT = 5000
_JOB_SUBKEYS = (":lock", ":logs", ":dependencies", ":processed", ":failed", ":unsuccessful")


def parse_json_field(raw: str | None, field: str, *, default: Any = None) -> Any:
    """A form field holding JSON text, parsed.

    Raises:
        ValueError: naming the field, when it is not JSON (a 400 answer).
    """
    if raw is None or not raw.strip():
        return default
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"{field} is not valid JSON: {exc}") from None


def parse_ids(raw: str | None) -> list[str]:
    """Job ids from a form (one per line, or comma-separated) or a JSON list."""
    if raw is None:
        return []
    text = raw.strip()
    if text.startswith("["):
        value = parse_json_field(text, "ids")
        if not isinstance(value, list):
            raise ValueError("ids must be a list of job ids")
        items: Iterable[Any] = value
    else:
        items = text.replace(",", "\n").splitlines()
    ids = [str(x).strip() for x in items if str(x).strip()]
    return list(dict.fromkeys(ids))


async def duplicate_job(queue: Queue, job_id: str) -> dict[str, Any]:
    """Add a new job with the same name, data and run options as `job_id` (new id, runs now)."""
    detail = await data.job_detail(queue, job_id)
    if detail.get("corrupt"):
        raise ActionError(f"job {job_id} cannot be read, so it cannot be duplicated: {detail['corrupt']}")
    opts = detail.get("opts") or {}
    kept = {k: v for k, v in opts.items() if k in DUPLICATED_OPTIONS and v is not None}
    added = await data.add_job(queue, str(detail["name"]), detail.get("data"), kept)
    return data._done(
        f"Job {job_id} duplicated as job {added['job_id']}", job_id=added["job_id"], source=job_id
    )


async def update_job_data(queue: Queue, job_id: str, new_data: Any) -> dict[str, Any]:
    """Replace the data of a job that is not running (to fix it before a retry, say)."""
    job = await queue.get_job(job_id)
    if job is None:
        raise JobNotFoundError(f"no job {job_id!r} in queue {queue.name!r}")
    state = str(await queue.get_job_state(job_id))
    if state == "active":
        raise ActionError(f"job {job_id} is running; its data can be edited once it has finished")
    try:
        await job.update_data(new_data)
    except (TypeError, ValueError) as exc:
        raise ActionError(f"data not saved: {data.error_text(exc)}") from None
    return data._done(f"Data of job {job_id} saved", job_id=job_id)


async def bulk_action(queue: Queue, action: str, ids: Sequence[str]) -> dict[str, Any]:
    """Retry or remove each selected job; the ones that do not apply are skipped and named."""
    if action not in BULK_ACTIONS:
        raise ActionError(f"no bulk action {action!r} ({', '.join(BULK_ACTIONS)})")
    if not ids:
        raise ActionError("no job selected")
    if len(ids) > MAX_BULK:
        raise ActionError(f"at most {MAX_BULK} jobs at once, got {len(ids)}")
    done: list[str] = []
    skipped: list[str] = []
    for job_id in ids:
        try:
            if action == "retry":
                await data.retry_job(queue, job_id)
            else:
                await data.remove_job(queue, job_id)
            done.append(job_id)
        except (ActionError, JobNotFoundError) as exc:
            skipped.append(data.error_text(exc))
    verb = "Retried" if action == "retry" else "Removed"
    message = f"{verb} {len(done)} job{'' if len(done) == 1 else 's'}"
    if skipped:
        message += (
            f"; skipped {len(skipped)}: " + "; ".join(skipped[:3]) + ("; …" if len(skipped) > 3 else "")
        )
    return data._done(message, count=len(done), ids=done, skipped=skipped)


async def search_jobs(
    source: QueueSource, text: str, queue: str | None = None, *, limit: int = SEARCH_LIMIT
) -> list[dict[str, Any]]:
    """Jobs matching `text`: the exact id first, then ids starting with it, then names containing it.

    Returns:
        [{"queue", "id", "name", "state", "match": "id" | "prefix" | "name"}], at most `limit`.
    """
    text = text.strip()
    if not text:
        return []
    found = [hit | {"match": "id"} for hit in await data.find_job(source, text, queue)]
    seen = {(hit["queue"], hit["id"]) for hit in found}
    names = [queue] if queue else await source.names()
    for name in names:
        q = await source.get(name)
        for job_id in await _ids_with_prefix(q, text, limit):
            if len(found) >= limit:
                return found
            if (name, job_id) in seen:
                continue
            try:
                part = q.partition_for(job_id)
                raw = await part.client.hget(part.keys.job(job_id), "name")
            except ResponseError:  # not a job hash after all
                continue
            if raw is None:
                continue
            seen.add((name, job_id))
            state = str(await q.get_job_state(job_id))
            found.append(
                {"queue": name, "id": job_id, "name": as_text(raw), "state": state, "match": "prefix"}
            )
    for name in names:
        q = await source.get(name)
        for state in data.STATES:
            listing = await data.list_jobs(q, state, limit=limit, name=text)
            for job in listing["jobs"]:
                if len(found) >= limit:
                    return found
                if (name, job["id"]) in seen or job.get("corrupt"):
                    continue
                seen.add((name, job["id"]))
                found.append(
                    {"queue": name, "id": job["id"], "name": job["name"], "state": state, "match": "name"}
                )
    return found


async def _ids_with_prefix(queue: Queue, prefix: str, limit: int) -> list[str]:
    """Ids of the queue's jobs starting with `prefix` (a bounded SCAN of its keys, partition by partition)."""
    ids: list[str] = []
    for part in queue.parts:
        ids += await _part_ids_with_prefix(part, prefix, limit - len(ids))
        if len(ids) >= limit:
            break
    return ids


async def _part_ids_with_prefix(queue: Queue, prefix: str, limit: int) -> list[str]:
    base = queue.keys.job("")
    pattern = escape_glob(base + prefix) + "*"
    ids: list[str] = []
    scanned = 0
    async for raw in queue.client.scan_iter(match=pattern, count=1000):
        scanned += 1
        key = as_text(raw)
        job_id = key[len(base) :]
        # Job hashes only: not a lock, log list or dependency set of a job, nor one of the queue's keys.
        if job_id in RESERVED_JOB_IDS or job_id.endswith(_JOB_SUBKEYS):
            continue
        if job_id.startswith(("metrics:", "scheduler:", "workers:", "schedulers:")):
            continue
        ids.append(job_id)
        if len(ids) >= limit or scanned >= _PREFIX_SCAN_LIMIT:
            break
    return sorted(ids)
