"""Operations commands of `nestq`: look at queues and jobs, retry, clean, pause, and serve the dashboard.

    nestq queues                                  # counts per state of every queue
    nestq jobs email --state failed --limit 20
    nestq job email 42
    nestq retry email 42          |  nestq retry email --all
    nestq promote reports --all
    nestq clean email --state completed --grace 3600
    nestq pause email             |  nestq resume email
    nestq dashboard container:AppModule --port 8000

Which queues exist: with `--app container:AppModule`, the application's registered queues, plus any
other queue found on its server; without it, the queues found on the server of the settings
(`NESTQ_REDIS_URL`, prefix `NESTQ_PREFIX`) by their keys. `--json` prints machine-readable output.
Everything goes through `framework.dashboard.data`, the same functions the dashboard uses.
Plugged into `framework.cli` through its `EXTENSIONS` hook.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from redis.exceptions import RedisError
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from framework.cli import Subparsers, UsageError, load_module, run_async
from framework.dashboard import data
from framework.dashboard.data import ActionError, NotFoundError, QueueSource
from framework.dashboard.formatting import format_ago, format_duration, format_time

__all__ = ["register"]

Command = Callable[[argparse.Namespace, QueueSource], Awaitable[Any]]

_STATE_STYLES = {
    "active": "blue",
    "waiting": "white",
    "prioritized": "magenta",
    "delayed": "yellow",
    "paused": "bright_black",
    "completed": "green",
    "failed": "red",
}


def register(subparsers: Subparsers) -> None:
    """Add the ops commands to the `nestq` parser."""
    _add_dashboard(subparsers)

    p = _command(subparsers, "queues", "counts per state of every queue", _queues)

    p = _command(subparsers, "jobs", "list a queue's jobs, newest first", _jobs)
    p.add_argument("queue")
    p.add_argument("-s", "--state", choices=data.STATES, help="only this state (default: every state)")
    p.add_argument("-n", "--limit", type=_positive_int, default=20, help="at most N jobs (default 20)")
    p.add_argument("--name", help="only jobs whose name contains this text")

    p = _command(subparsers, "job", "show one job: data, state, result, error, logs", _job)
    p.add_argument("queue")
    p.add_argument("id")

    p = _command(subparsers, "retry", "retry a failed job, or every failed job with --all", _retry)
    p.add_argument("queue")
    p.add_argument("id", nargs="?")
    p.add_argument("--all", action="store_true", help="every job of --state")
    p.add_argument(
        "--state", choices=data.ACTION_STATES["retry"], default="failed", help="with --all (default failed)"
    )

    p = _command(subparsers, "promote", "run a delayed job now, or every delayed job with --all", _promote)
    p.add_argument("queue")
    p.add_argument("id", nargs="?")
    p.add_argument("--all", action="store_true", help="every delayed job")

    p = _command(subparsers, "clean", "remove old jobs of one state", _clean)
    p.add_argument("queue")
    p.add_argument("--state", required=True, choices=data.CLEANABLE_STATES)
    p.add_argument(
        "--grace", type=float, default=0, metavar="SECONDS", help="only jobs older than this (default 0)"
    )
    p.add_argument("--limit", type=_positive_int, default=1000, help="at most N jobs (default 1000)")

    p = _command(subparsers, "pause", "stop workers from taking the queue's jobs", _pause)
    p.add_argument("queue")

    p = _command(subparsers, "resume", "let workers take the queue's jobs again", _resume)
    p.add_argument("queue")


def _command(subparsers: Subparsers, name: str, help: str, command: Command) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".")
    parser.add_argument(
        "--app", metavar="MODULE:ATTR", help="the application's queues (e.g. container:AppModule)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=lambda args: _run(args, command))
    return parser


def _add_dashboard(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "dashboard",
        help="serve the web dashboard (queues, jobs, schedulers, actions)",
        description=(
            "Serve the dashboard until SIGINT/SIGTERM. Host, port, base path, read-only and auth come "
            "from NESTQ_DASHBOARD__*; a host other than loopback needs auth."
        ),
    )
    parser.add_argument(
        "app", nargs="?", metavar="MODULE:ATTR", help="the application (default: queues found on the server)"
    )
    parser.add_argument("--host", help="interface to bind (default NESTQ_DASHBOARD__HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="TCP port (default NESTQ_DASHBOARD__PORT or 8000)")
    parser.add_argument("--read-only", action="store_true", default=None, help="hide and refuse every action")
    parser.set_defaults(handler=_dashboard)


# --- running ---------------------------------------------------------------------------------------


@asynccontextmanager
async def _source(app_path: str | None) -> AsyncIterator[QueueSource]:
    """The queues to work on: the application's (and others on its server), or those found by key."""
    from framework.connection import create_redis
    from framework.settings import get_settings

    prefix = get_settings().prefix
    if app_path is None:
        client, owned = create_redis(None)
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


def _run(args: argparse.Namespace, command: Command) -> int:
    async def main() -> int:
        async with _source(args.app) as source:
            result = await command(args, source)
        if args.json:
            _print_json(result)
        return 0

    try:
        return run_async(main())
    except (NotFoundError, ActionError) as exc:
        _error(data.error_text(exc))
        return 1
    except RedisError as exc:
        _error(f"cannot reach Redis: {data.error_text(exc)}")
        return 1


def _dashboard(args: argparse.Namespace) -> int:
    from framework.dashboard import serve_dashboard

    async def main() -> int:
        async with _source(args.app) as source:
            await serve_dashboard(source, host=args.host, port=args.port, read_only=args.read_only)
        return 0

    return run_async(main())


# --- commands --------------------------------------------------------------------------------------


async def _queues(args: argparse.Namespace, source: QueueSource) -> Any:
    queues = await data.list_queues(source)
    if args.json:
        return queues
    if not queues:
        _console().print("No queues found.", style="dim")
        return None
    table = Table(header_style="bold", pad_edge=False, box=None, padding=(0, 1), collapse_padding=True)
    table.add_column("Queue", style="bold", no_wrap=True)
    for state in data.STATES:
        header = "Prio." if state == "prioritized" else state.capitalize()
        table.add_column(header, justify="right", no_wrap=True, min_width=len(header))
    table.add_column("Total", justify="right", style="bold", no_wrap=True, min_width=5)
    for q in queues:
        name = _text(q["name"], "bold")
        if q["paused"]:
            name.append(" (paused)", style="yellow")
        cells: list[Text] = [name]
        for state in data.STATES:
            n = q["counts"][state]
            cells.append(Text(str(n), _STATE_STYLES[state] if n else "dim"))
        cells.append(Text(str(q["total"])))
        table.add_row(*cells)
    _console().print(table)
    return None


async def _jobs(args: argparse.Namespace, source: QueueSource) -> Any:
    queue = await source.get(args.queue)
    states = [args.state] if args.state else list(data.STATES)
    jobs: list[dict[str, Any]] = []
    totals: dict[str, int] = {}
    for state in states:
        listing = await data.list_jobs(queue, state, limit=args.limit, name=args.name)
        totals[state] = listing["total"]
        jobs.extend(listing["jobs"])
    if len(states) > 1:
        jobs.sort(key=lambda j: j.get("finished_on") or j.get("timestamp") or 0, reverse=True)
    jobs = jobs[: args.limit]
    if args.json:
        return {"queue": queue.name, "states": states, "totals": totals, "jobs": jobs}
    if not jobs:
        what = f"{args.state} jobs" if args.state else "jobs"
        _console().print(f"No {what} in {queue.name}.", style="dim")
        return None
    table = Table(header_style="bold", pad_edge=False, box=None)
    for column in ("ID", "Name", "State", "Added", "Attempts", "Detail"):
        table.add_column(column, justify="right" if column == "Attempts" else "left", overflow="fold")
    for job in jobs:
        state = job["state"]
        if job.get("corrupt"):
            table.add_row(_text(job["id"]), Text("?"), Text(state), Text(""), Text(""), _text(job["corrupt"]))
            continue
        detail = (
            _text(job["failed_reason"], "red")
            if state == "failed"
            else _text(job["result_preview"])
            if state == "completed"
            else _text(data.preview(job["progress"]))
        )
        table.add_row(
            _text(job["id"]),
            _text(job["name"]),
            Text(state, _STATE_STYLES.get(state, "")),
            Text(format_ago(job["timestamp"])),
            Text(f"{job['attempts_made']}/{job['attempts']}"),
            detail,
        )
    _console().print(table)
    shown = ", ".join(f"{s} {n}" for s, n in totals.items() if n)
    _console().print(f"{len(jobs)} shown ({shown or 'none'})", style="dim")
    return None


async def _job(args: argparse.Namespace, source: QueueSource) -> Any:
    queue = await source.get(args.queue)
    job = await data.job_detail(queue, args.id)
    if args.json:
        return job
    console = _console()
    if job.get("corrupt"):
        console.print(_text(job["corrupt"], "red"))
        return None
    state = job["state"]
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="dim")
    fields.add_column()
    rows: list[tuple[str, Text]] = [
        ("Queue", _text(queue.name)),
        ("Name", _text(job["name"], "bold")),
        ("State", Text(state, _STATE_STYLES.get(state, ""))),
        ("Attempts", Text(f"{job['attempts_made']} of {job['attempts']}")),
        ("Progress", _text(data.preview(job["progress"]) or "—")),
        ("Priority", Text(str(job["priority"] or "—"))),
        ("Worker", _text(job["worker"] or "—")),
        ("Added", Text(f"{format_time(job['timestamp'])}  ({format_ago(job['timestamp'])})")),
    ]
    if job.get("due_on"):
        rows.append(("Due", Text(f"{format_time(job['due_on'])}  ({format_ago(job['due_on'])})")))
    rows.append(("Started", Text(format_time(job["processed_on"]))))
    rows.append(("Finished", Text(format_time(job["finished_on"]))))
    if job["finished_on"] and job["processed_on"]:
        rows.append(("Ran for", Text(format_duration(job["finished_on"] - job["processed_on"]))))
    for label, value in rows:
        fields.add_row(label, value)
    console.print(Panel(fields, title=_text(f"Job {job['id']}"), title_align="left", expand=False))
    console.print(Panel(_text(data.pretty_json(job["data"])), title="Data", title_align="left"))
    if job["opts"]:
        console.print(Panel(_text(data.pretty_json(job["opts"])), title="Options", title_align="left"))
    if job["return_value"] is not None:
        console.print(
            Panel(_text(data.pretty_json(job["return_value"])), title="Return value", title_align="left")
        )
    if job["failed_reason"]:
        body = _text(job["failed_reason"], "bold red")
        if job["stacktrace"]:
            body.append("\n\n")
            body.append_text(_text(job["stacktrace"][-1]))
        console.print(Panel(body, title="Failed", title_align="left", border_style="red"))
    if job["logs"]:
        console.print(Panel(_text("\n".join(job["logs"])), title="Logs", title_align="left"))
    return None


async def _retry(args: argparse.Namespace, source: QueueSource) -> Any:
    _one_or_all(args, "retry")
    queue = await source.get(args.queue)
    if args.all:
        result = await data.retry_all(queue, args.state)
    else:
        result = await data.retry_job(queue, args.id)
    return _report(args, result)


async def _promote(args: argparse.Namespace, source: QueueSource) -> Any:
    _one_or_all(args, "promote")
    queue = await source.get(args.queue)
    result = await data.promote_all(queue) if args.all else await data.promote_job(queue, args.id)
    return _report(args, result)


async def _clean(args: argparse.Namespace, source: QueueSource) -> Any:
    queue = await source.get(args.queue)
    return _report(args, await data.clean_queue(queue, args.state, args.grace, args.limit))


async def _pause(args: argparse.Namespace, source: QueueSource) -> Any:
    return _report(args, await data.pause_queue(await source.get(args.queue)))


async def _resume(args: argparse.Namespace, source: QueueSource) -> Any:
    return _report(args, await data.resume_queue(await source.get(args.queue)))


def _one_or_all(args: argparse.Namespace, verb: str) -> None:
    if bool(args.id) == bool(args.all):
        raise UsageError(f"{verb}: give a job ID or --all (not both)")


def _report(args: argparse.Namespace, result: dict[str, Any]) -> Any:
    if args.json:
        return result
    _console().print(_text(result["message"]), style="green")
    return None


# --- output ----------------------------------------------------------------------------------------


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def _clean_text(value: str) -> str:
    """Job values are untrusted: control characters (terminal escapes) are shown, not sent."""
    return "".join(
        ch
        if ch in "\n\t" or (ord(ch) >= 32 and ord(ch) != 127 and not 0x80 <= ord(ch) < 0xA0)
        else ch.encode("unicode_escape").decode()
        for ch in value
    )


def _text(value: Any, style: str = "") -> Text:
    """A plain `Text` (never parsed as rich markup) with control characters escaped."""
    return Text(_clean_text("" if value is None else str(value)), style=style)


def _print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str, ensure_ascii=False) + "\n")


def _error(message: str) -> None:
    sys.stderr.write(f"nestq: {_clean_text(message)}\n")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value
