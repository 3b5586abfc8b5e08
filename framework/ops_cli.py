"""Operations commands of `nestq`: look at queues, jobs and schedulers, act on them, serve the dashboard.

    nestq queues                                  # counts per state of every queue
    nestq jobs email --state failed --limit 20
    nestq job email 42
    nestq retry email 42          |  nestq retry email --all
    nestq promote reports --all
    nestq clean email --state completed --grace 3600
    nestq pause email             |  nestq resume email
    nestq add email send --data '{"to": "a@example.com"}'
    nestq cancel email 42         |  nestq remove email 42
    nestq drain email             |  nestq obliterate email      # ask first, unless --yes
    nestq schedulers email        |  nestq schedulers remove email tick
    nestq limits email                            # queue-wide limits and fair groups
    nestq dashboard container:AppModule --port 8000

Which queues exist: with `--app container:AppModule`, the application's registered queues, plus any
other queue found on its server; without it, the queues found on the server of the settings
(`NESTQ_REDIS_URL`, prefix `NESTQ_PREFIX`) by their keys. `--json` prints machine-readable output.
Everything goes through `framework.dashboard.data`, the same functions the dashboard uses.
Plugged into `framework.cli` through its `EXTENSIONS` hook.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import rich_click as click
from redis.exceptions import RedisError

from framework.cli import (
    NestqCommand,
    UsageError,
    confirm,
    examples,
    json_requested,
    load_module,
    run_async,
)
from framework.dashboard import data
from framework.dashboard.control import queue_limits
from framework.dashboard.data import ActionError, QueueSource
from framework.errors import JobNotFoundError
from framework.ops_output import (
    console,
    error,
    print_job,
    print_jobs,
    print_json,
    print_limits,
    print_queues,
    text,
)
from framework.queue import Queue

__all__ = ["register"]

Command = Callable[[QueueSource], Awaitable[Any]]


_QUEUE = "The queue's name."
_JOB_ID = "The job's id (as `nestq jobs QUEUE` shows it)."
_OPS = {"json_output": True, "quiet_logs": True}


def _app_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--app",
        metavar="MODULE:ATTR",
        help="Use the application's queues (like container:AppModule) besides those found on the server.",
    )(f)


def _yes_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")(f)


def register(cli: click.Group) -> None:
    """Add the ops commands to the `nestq` command group."""
    from framework.ops_schedulers import schedulers_group  # it builds on the helpers of this module

    for command in (
        dashboard_command,
        queues_command,
        jobs_command,
        job_command,
        retry_command,
        promote_command,
        clean_command,
        pause_command,
        resume_command,
        add_command,
        cancel_command,
        remove_command,
        drain_command,
        obliterate_command,
        schedulers_group,
        limits_command,
    ):
        cli.add_command(command)


# --- running ---------------------------------------------------------------------------------------


@asynccontextmanager
async def _source(app_path: str | None) -> AsyncIterator[QueueSource]:
    """The queues to work on: the application's (and others on its server), or those found by key."""
    from framework.connection import create_client
    from framework.settings import get_settings

    prefix = get_settings().prefix
    if app_path is None:
        client, owned = create_client(None)
        source = data.DiscoveredQueues(client, prefix)
        try:
            yield source
        finally:
            await source.close()
            if owned:
                await client.aclose()
        return

    from framework.di.application import Application
    from framework.di.queue_module import QueueRegistry

    app = await Application.create(load_module(app_path))
    try:
        sources: list[QueueSource] = [data.AppQueues(app)]
        try:
            registry = app.get(QueueRegistry)
        except LookupError:
            registry = None
        if registry is not None:
            sources.append(data.DiscoveredQueues(registry.redis, registry.prefix or prefix))
        combined = data.CombinedQueues(*sources)
        try:
            yield combined
        finally:
            await combined.close()
    finally:
        await app.close()


def _run(app_path: str | None, command: Command) -> int:
    as_json = json_requested()

    async def main() -> int:
        async with _source(app_path) as source:
            result = await command(source)
        if as_json:
            print_json(result)
        return 0

    try:
        return run_async(main())
    except (JobNotFoundError, ActionError) as exc:
        error(data.error_text(exc))
        return 1
    except RedisError as exc:
        error(f"cannot reach Redis: {data.error_text(exc)}")
        return 1


def _ops_command(name: str, epilog: str) -> Callable[[Callable[..., Any]], click.Command]:
    def decorator(f: Callable[..., Any]) -> click.Command:
        return click.command(name, cls=NestqCommand, epilog=epilog, **_OPS)(f)

    return decorator


# --- the dashboard ---------------------------------------------------------------------------------


@click.command(
    "dashboard",
    cls=NestqCommand,
    epilog=examples(
        "nestq dashboard",
        "nestq dashboard container:AppModule --port 8001",
        "nestq dashboard --read-only --host 127.0.0.1",
    ),
)
@click.argument(
    "app",
    required=False,
    metavar="[MODULE:ATTR]",
    help="The application (default: the queues found on the server).",
)
@click.option("--host", help="Interface to bind (default: NESTQ_DASHBOARD__HOST or 127.0.0.1).")
@click.option(
    "--port", type=click.IntRange(0, 65535), help="TCP port (default: NESTQ_DASHBOARD__PORT or 8000)."
)
@click.option("--read-only", is_flag=True, default=None, help="Hide and refuse every action.")
def dashboard_command(app: str | None, host: str | None, port: int | None, read_only: bool | None) -> int:
    """Serve the web dashboard (queues, jobs, schedulers, actions) until SIGINT/SIGTERM.

    Host, port, base path, read-only and auth come from NESTQ_DASHBOARD__*; a host other than
    loopback needs auth (NESTQ_DASHBOARD__USERNAME and __PASSWORD, or __TOKEN).
    """
    from framework.dashboard import serve_dashboard

    async def main() -> int:
        async with _source(app) as source:
            await serve_dashboard(source, host=host, port=port, read_only=read_only)
        return 0

    return run_async(main())


# --- reading ---------------------------------------------------------------------------------------


@_ops_command(
    "queues", examples("nestq queues", "nestq queues --json", "nestq queues --app container:AppModule")
)
@_app_option
def queues_command(app: str | None) -> int:
    """Show every queue with its count of jobs per state."""
    return _run(app, _queues)


async def _queues(source: QueueSource) -> Any:
    queues = await data.list_queues(source)
    if json_requested():
        return queues
    print_queues(queues)
    return None


@_ops_command(
    "jobs",
    examples(
        "nestq jobs email",
        "nestq jobs email --state failed --limit 50",
        "nestq jobs email --name send --json",
    ),
)
@click.argument("queue", help=_QUEUE)
@click.option("-s", "--state", type=click.Choice(data.STATES), help="Only this state (default: every state).")
@click.option(
    "-n", "--limit", type=click.IntRange(min=1), default=20, show_default=True, help="At most N jobs."
)
@click.option("--name", help="Only jobs whose name contains this text.")
@_app_option
def jobs_command(queue: str, state: str | None, limit: int, name: str | None, app: str | None) -> int:
    """List a queue's jobs, newest first."""

    async def command(source: QueueSource) -> Any:
        return await _jobs(source, queue, state, limit, name)

    return _run(app, command)


async def _jobs(source: QueueSource, queue_name: str, state: str | None, limit: int, name: str | None) -> Any:
    queue = await source.get(queue_name)
    states = [state] if state else list(data.STATES)
    jobs: list[dict[str, Any]] = []
    totals: dict[str, int] = {}
    for one in states:
        listing = await data.list_jobs(queue, one, limit=limit, name=name)
        totals[one] = listing["total"]
        jobs.extend(listing["jobs"])
    if len(states) > 1:
        jobs.sort(key=lambda j: j.get("finished_on") or j.get("timestamp") or 0, reverse=True)
    jobs = jobs[:limit]
    if json_requested():
        return {"queue": queue.name, "states": states, "totals": totals, "jobs": jobs}
    print_jobs(queue.name, state, jobs, totals)
    return None


@_ops_command("job", examples("nestq job email 42", "nestq job email 42 --json"))
@click.argument("queue", help=_QUEUE)
@click.argument("id", help=_JOB_ID)
@_app_option
def job_command(queue: str, id: str, app: str | None) -> int:
    """Show one job: data, state, options, result, error, logs."""

    async def command(source: QueueSource) -> Any:
        return await _job(source, queue, id)

    return _run(app, command)


async def _job(source: QueueSource, queue_name: str, job_id: str) -> Any:
    queue = await source.get(queue_name)
    job = await data.job_detail(queue, job_id)
    if json_requested():
        return job
    print_job(queue.name, job)
    return None


# --- acting on jobs --------------------------------------------------------------------------------


@_ops_command(
    "retry",
    examples(
        "nestq retry email 42",
        "nestq retry email --all",
        "nestq retry email --all --state completed --yes",
    ),
)
@click.argument("queue", help=_QUEUE)
@click.argument("id", required=False, help="The job to retry (or --all).")
@click.option("--all", "every", is_flag=True, help="Every job of --state.")
@click.option(
    "--state",
    type=click.Choice(data.ACTION_STATES["retry"]),
    default="failed",
    show_default=True,
    help="With --all: which finished jobs.",
)
@_yes_option
@_app_option
def retry_command(queue: str, id: str | None, every: bool, state: str, yes: bool, app: str | None) -> int:
    """Run a failed job again (or every failed job with --all), with a fresh set of attempts.

    A completed job runs again only after a confirmation (its side effects happen twice).
    """
    _one_or_all(id, every, "retry")

    async def command(source: QueueSource) -> Any:
        q = await source.get(queue)
        if every:
            if state == "completed":
                n = (await q.get_job_counts("completed"))["completed"]
                if n:
                    confirm(f"Run all {n} completed jobs of {q.name} again?", yes=yes)
            result = await data.retry_all(q, state)
        else:
            assert id is not None
            if str(await q.get_job_state(id)) == "completed":
                confirm(f"Job {id} of {q.name} completed already; run it again?", yes=yes)
            result = await data.retry_job(q, id)
        return _report(result)

    return _run(app, command)


@_ops_command("promote", examples("nestq promote reports 42", "nestq promote reports --all"))
@click.argument("queue", help=_QUEUE)
@click.argument("id", required=False, help="The delayed job to run now (or --all).")
@click.option("--all", "every", is_flag=True, help="Every delayed job.")
@_app_option
def promote_command(queue: str, id: str | None, every: bool, app: str | None) -> int:
    """Run a delayed job now, or every delayed job with --all."""
    _one_or_all(id, every, "promote")

    async def command(source: QueueSource) -> Any:
        q = await source.get(queue)
        assert every or id is not None
        return _report(await data.promote_all(q) if every else await data.promote_job(q, id or ""))

    return _run(app, command)


@_ops_command(
    "add",
    examples(
        'nestq add email send --data \'{"to": "a@example.com"}\'',
        "nestq add reports daily --delay 60 --priority 1",
    ),
)
@click.argument("queue", help=_QUEUE)
@click.argument("name", help="The job's name (which handler runs it).")
@click.option("-d", "--data", "payload", default="null", metavar="JSON", help="The job's data, as JSON.")
@click.option("--delay", type=click.FloatRange(min=0), metavar="SECONDS", help="Run no sooner than this.")
@click.option("--priority", type=click.IntRange(min=0), help="0 (none, the default) or 1 (highest) and up.")
@click.option("--attempts", type=click.IntRange(min=1), help="Tries before the job fails for good.")
@click.option("--job-id", help="A custom id (a second add with the same id adds nothing).")
@_app_option
def add_command(
    queue: str,
    name: str,
    payload: str,
    delay: float | None,
    priority: int | None,
    attempts: int | None,
    job_id: str | None,
    app: str | None,
) -> int:
    """Add a job to a queue (a queue not seen before is created, with a note)."""
    try:
        job_data = json.loads(payload)
    except ValueError as exc:
        raise UsageError(
            f'--data is not valid JSON ({exc}); quote it, like --data \'{{"to": "a"}}\''
        ) from None
    opts = {
        key: value
        for key, value in (
            ("delay", delay),
            ("priority", priority),
            ("attempts", attempts),
            ("job_id", job_id),
        )
        if value is not None
    }

    async def command(source: QueueSource) -> Any:
        q = await _queue_or_new(source, queue)
        return _report(await data.add_job(q, name, job_data, opts))

    return _run(app, command)


@_ops_command("cancel", examples("nestq cancel email 42"))
@click.argument("queue", help=_QUEUE)
@click.argument("id", help=_JOB_ID)
@_app_option
def cancel_command(queue: str, id: str, app: str | None) -> int:
    """Cancel a job: a pending one fails at once ("cancelled", no retry); an active one is stopped."""

    async def command(source: QueueSource) -> Any:
        return _report(await data.cancel_job(await source.get(queue), id))

    return _run(app, command)


@_ops_command("remove", examples("nestq remove email 42"))
@click.argument("queue", help=_QUEUE)
@click.argument("id", help=_JOB_ID)
@_app_option
def remove_command(queue: str, id: str, app: str | None) -> int:
    """Delete a job that is not running (cancel an active one first)."""

    async def command(source: QueueSource) -> Any:
        return _report(await data.remove_job(await source.get(queue), id))

    return _run(app, command)


@_ops_command(
    "clean", examples("nestq clean email --state completed --grace 3600", "nestq clean email --state failed")
)
@click.argument("queue", help=_QUEUE)
@click.option("--state", required=True, type=click.Choice(data.CLEANABLE_STATES), help="Which jobs.")
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=0,
    show_default=True,
    metavar="SECONDS",
    help="Only jobs older than this.",
)
@click.option("--limit", type=click.IntRange(min=1), default=1000, show_default=True, help="At most N jobs.")
@_app_option
def clean_command(queue: str, state: str, grace: float, limit: int, app: str | None) -> int:
    """Remove old jobs of one state (never active ones)."""

    async def command(source: QueueSource) -> Any:
        return _report(await data.clean_queue(await source.get(queue), state, grace, limit))

    return _run(app, command)


# --- acting on queues ------------------------------------------------------------------------------


@_ops_command("pause", examples("nestq pause email"))
@click.argument("queue", help=_QUEUE)
@_app_option
def pause_command(queue: str, app: str | None) -> int:
    """Stop workers from taking the queue's jobs (active ones finish; adding still works)."""

    async def command(source: QueueSource) -> Any:
        return _report(await data.pause_queue(await source.get(queue)))

    return _run(app, command)


@_ops_command("resume", examples("nestq resume email"))
@click.argument("queue", help=_QUEUE)
@_app_option
def resume_command(queue: str, app: str | None) -> int:
    """Let workers take the queue's jobs again."""

    async def command(source: QueueSource) -> Any:
        return _report(await data.resume_queue(await source.get(queue)))

    return _run(app, command)


@_ops_command("drain", examples("nestq drain email", "nestq drain email --delayed --yes"))
@click.argument("queue", help=_QUEUE)
@click.option("--delayed", is_flag=True, help="Delayed jobs too.")
@_yes_option
@_app_option
def drain_command(queue: str, delayed: bool, yes: bool, app: str | None) -> int:
    """Remove every job waiting to run (asks first); active, finished and delayed jobs stay."""

    async def command(source: QueueSource) -> Any:
        q = await source.get(queue)
        states = ["waiting", "prioritized", "paused", *(["delayed"] if delayed else [])]
        n = sum((await q.get_job_counts(*states)).values())
        if n:
            confirm(f"Remove the {n} jobs waiting in {q.name}?", yes=yes)
        return _report(await data.drain_queue(q, delayed=delayed))

    return _run(app, command)


@_ops_command("obliterate", examples("nestq obliterate email", "nestq obliterate email --force --yes"))
@click.argument("queue", help=_QUEUE)
@click.option("--force", is_flag=True, help="Even while jobs are active.")
@_yes_option
@_app_option
def obliterate_command(queue: str, force: bool, yes: bool, app: str | None) -> int:
    """Delete a queue with every job, scheduler and count of it (asks first)."""

    async def command(source: QueueSource) -> Any:
        q = await source.get(queue)
        n = await q.count() + sum((await q.get_job_counts("active", "completed", "failed")).values())
        confirm(f"Delete queue {q.name} and its {n} jobs for good?", yes=yes)
        return _report(await data.obliterate_queue(q, force=force))

    return _run(app, command)


# --- job control ---------------------------------------------------------------------------------


@_ops_command("limits", examples("nestq limits email", "nestq limits email --json"))
@click.argument("queue", help=_QUEUE)
@_app_option
def limits_command(queue: str, app: str | None) -> int:
    """Show a queue's queue-wide limits (concurrency, rate limit, manual rate limit) and its fair groups."""

    async def command(source: QueueSource) -> Any:
        limits = await queue_limits(await source.get(queue))
        if json_requested():
            return limits
        print_limits(queue, limits)
        return None

    return _run(app, command)


# --- helpers ---------------------------------------------------------------------------------------


async def _queue_or_new(source: QueueSource, name: str) -> Queue:
    """The queue called `name`; one not on the server yet is created (with a note) unless --app knows
    the queues."""
    try:
        return await source.get(name)
    except JobNotFoundError as exc:
        if not isinstance(source, data.DiscoveredQueues):
            raise
        error(f"note: {data.error_text(exc)}; adding to a new queue {name!r}")
        queue = Queue(name, connection=source.client, prefix=source.prefix)
        source._queues[name] = queue  # closed with the source
        return queue


def _one_or_all(job_id: str | None, every: bool, verb: str) -> None:
    if bool(job_id) == bool(every):
        raise UsageError(f"{verb}: give a job ID or --all (not both)")


def _report(result: dict[str, Any]) -> Any:
    if json_requested():
        return result
    console().print(text(result["message"]), style="green")
    return None
