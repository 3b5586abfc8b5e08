"""`nestq workers` and `nestq metrics QUEUE` (both with `--json`), plugged into `framework.cli` through its
`EXTENSIONS` hook, on the same queue sources and options as the other ops commands (`--app`, `--json`).

    nestq workers                      # every live worker of every queue
    nestq metrics email --minutes 60   # completed / failed per minute as sparklines, timing percentiles
"""

from __future__ import annotations

from typing import Any

import rich_click as click
from rich.table import Table
from rich.text import Text

from framework.cli import examples, json_requested
from framework.dashboard.data import QueueSource
from framework.dashboard.formatting import format_ago, format_duration
from framework.observability.report import queue_metrics, sparkline, workers_of
from framework.ops_cli import _app_option, _ops_command, _run
from framework.ops_output import console as _console
from framework.ops_output import text as _text

__all__ = ["register"]


def register(cli: click.Group) -> None:
    """Add `workers` and `metrics` to the `nestq` command group."""
    cli.add_command(workers_command)
    cli.add_command(metrics_command)


@_ops_command("workers", examples("nestq workers", "nestq workers email --json"))
@click.argument("queue", required=False, help="Only this queue's workers.")
@_app_option
def workers_command(queue: str | None, app: str | None) -> int:
    """List the live workers (heartbeat not lapsed) of every queue, or of one."""

    async def command(source: QueueSource) -> Any:
        return await _workers(source, queue)

    return _run(app, command)


async def _workers(source: QueueSource, queue: str | None) -> Any:
    names = [queue] if queue else await source.names()
    workers = await workers_of([await source.get(name) for name in names])
    if json_requested():
        return workers
    if not workers:
        _console().print("No live workers.", style="dim")
        return None
    table = Table(header_style="bold", pad_edge=False, box=None, padding=(0, 1))
    for column in ("Queue", "Worker", "Host", "PID", "Active", "Started", "Last seen"):
        table.add_column(column, justify="right" if column in ("PID", "Active") else "left", no_wrap=True)
    for w in workers:
        table.add_row(
            _text(w["queue"], "bold"),
            _text(w["id"]),
            _text(w["hostname"]),
            Text(str(w["pid"])),
            Text(f"{w['active']}/{w['concurrency']}", "blue" if w["active"] else "dim"),
            Text(format_ago(w["started_at"])),
            Text(format_ago(w["last_seen"])),
        )
    _console().print(table)
    return None


@_ops_command("metrics", examples("nestq metrics email", "nestq metrics email --minutes 1440 --json"))
@click.argument("queue", help="The queue's name.")
@click.option(
    "-m",
    "--minutes",
    type=click.IntRange(min=1),
    default=60,
    show_default=True,
    help="Minutes to show, newest last.",
)
@_app_option
def metrics_command(queue: str, minutes: int, app: str | None) -> int:
    """Show jobs completed and failed per minute (sparklines) and run / wait time percentiles."""

    async def command(source: QueueSource) -> Any:
        return await _metrics(source, queue, minutes)

    return _run(app, command)


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 1000:.1f} ms" if value < 1 else format_duration(value * 1000)


async def _metrics(source: QueueSource, queue: str, minutes: int) -> Any:
    report = await queue_metrics(await source.get(queue), minutes)
    if json_requested():
        return report
    console = _console()
    console.print(_text(f"{report['queue']}: the last {minutes} minutes, oldest first", "bold"))
    for kind, style in (("completed", "green"), ("failed", "red")):
        line = Text(f"{kind:<10} ", style="dim")
        line.append(sparkline(report[kind]), style=style)
        line.append(f"  {report[f'{kind}_in_window']} in window, {report[f'{kind}_total']} in all")
        console.print(line)
    for label, key in (("run time", "run_time"), ("wait time", "wait_time")):
        t = report[key]
        console.print(
            Text(f"{label:<10} ", style="dim").append(
                f"p50 {_seconds(t['p50'])}  p95 {_seconds(t['p95'])}  p99 {_seconds(t['p99'])}  "
                f"({t['count']} observed)"
            )
        )
    return None
