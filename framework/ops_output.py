"""How the ops commands print: rich tables and panels of the data layer's results (the same dicts the
dashboard's JSON API answers), with job values escaped so that they can never drive the terminal.

Nothing here reads Redis or parses arguments (that is `ops_cli.py`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from framework.dashboard import data
from framework.dashboard.formatting import format_ago, format_duration, format_time

__all__ = [
    "STATE_STYLES",
    "clean_text",
    "console",
    "error",
    "print_job",
    "print_jobs",
    "print_json",
    "print_limits",
    "print_queues",
    "print_schedulers",
    "text",
]

STATE_STYLES = {
    "active": "blue",
    "waiting": "white",
    "waiting-children": "cyan",
    "prioritized": "magenta",
    "delayed": "yellow",
    "paused": "bright_black",
    "completed": "green",
    "failed": "red",
}


def console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def clean_text(value: str) -> str:
    """Job values are untrusted: control characters (terminal escapes) are shown, not sent."""
    return "".join(
        ch
        if ch in "\n\t" or (ord(ch) >= 32 and ord(ch) != 127 and not 0x80 <= ord(ch) < 0xA0)
        else ch.encode("unicode_escape").decode()
        for ch in value
    )


def text(value: Any, style: str = "") -> Text:
    """A plain `Text` (never parsed as rich markup) with control characters escaped."""
    return Text(clean_text("" if value is None else str(value)), style=style)


def print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str, ensure_ascii=False) + "\n")


def error(message: str) -> None:
    sys.stderr.write(f"nestq: {clean_text(message)}\n")


def print_queues(queues: Sequence[data.QueueSummary]) -> None:
    """Every queue, one row each: its counts per state (coloured when not zero) and total."""
    if not queues:
        console().print("No queues found.", style="dim")
        return
    table = Table(header_style="bold", pad_edge=False, box=None, padding=(0, 1), collapse_padding=True)
    table.add_column("Queue", style="bold", no_wrap=True)
    # Flow parents (waiting-children) get a column only when some queue has them: it keeps the table narrow.
    states = [s for s in data.STATES if s != "waiting-children" or any(q["counts"][s] for q in queues)]
    for state in states:
        header = {"prioritized": "Prio.", "waiting-children": "Wait-ch."}.get(state, state.capitalize())
        table.add_column(header, justify="right", no_wrap=True, min_width=len(header))
    table.add_column("Total", justify="right", style="bold", no_wrap=True, min_width=5)
    for q in queues:
        name = text(q["name"], "bold")
        if q["paused"]:
            name.append(" (paused)", style="yellow")
        cells: list[Text] = [name]
        for state in states:
            n = q["counts"][state]
            cells.append(Text(str(n), STATE_STYLES[state] if n else "dim"))
        cells.append(Text(str(q["total"])))
        table.add_row(*cells)
    console().print(table)


def print_jobs(
    queue_name: str, state: str | None, jobs: Sequence[dict[str, Any]], totals: Mapping[str, int]
) -> None:
    """Jobs one row each (id, name, state, added, tries, detail), then how many of each state exist."""
    if not jobs:
        what = f"{state} jobs" if state else "jobs"
        console().print(f"No {what} in {queue_name}.", style="dim")
        return
    # Ids never wrap (they are copied from here); the free text gets what is left, cut with an ellipsis.
    id_width = max(len(clean_text(str(j["id"]))) for j in jobs)
    table = Table(header_style="bold", pad_edge=False, box=None)
    table.add_column("ID", no_wrap=True, min_width=max(2, id_width))
    table.add_column("Name", no_wrap=True, overflow="ellipsis", max_width=24)
    table.add_column("State", no_wrap=True, min_width=max(len(str(j["state"])) for j in jobs))
    table.add_column("Added", no_wrap=True, min_width=max(len(format_ago(j.get("timestamp"))) for j in jobs))
    table.add_column("Tries", justify="right", no_wrap=True, min_width=5)
    table.add_column("Detail", no_wrap=True, overflow="ellipsis", ratio=1)
    for job in jobs:
        one = job["state"]
        if job.get("corrupt"):
            table.add_row(text(job["id"]), Text("?"), Text(one), Text(""), Text(""), text(job["corrupt"]))
            continue
        detail = (
            text(job["failed_reason"], "red")
            if one == "failed"
            else text(job["result_preview"])
            if one == "completed"
            else text(data.preview(job["progress"]))
        )
        table.add_row(
            text(job["id"]),
            text(job["name"]),
            Text(one, STATE_STYLES.get(one, "")),
            Text(format_ago(job["timestamp"])),
            Text(f"{job['attempts_made']}/{job['attempts']}"),
            detail,
        )
    console().print(table)
    shown = ", ".join(f"{s} {n}" for s, n in totals.items() if n)
    console().print(f"{len(jobs)} shown ({shown or 'none'})", style="dim")


def print_job(queue_name: str, job: Mapping[str, Any]) -> None:
    """One job (`data.job_detail`): its fields, data, options, result, failure, flow and logs."""
    out = console()
    if job.get("corrupt"):
        out.print(text(job["corrupt"], "red"))
        return
    state = job["state"]
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="dim")
    fields.add_column()
    rows: list[tuple[str, Text]] = [
        ("Queue", text(queue_name)),
        ("Name", text(job["name"], "bold")),
        ("State", Text(state, STATE_STYLES.get(state, ""))),
        ("Attempts", Text(f"{job['attempts_made']} of {job['attempts']}")),
        ("Progress", text(data.preview(job["progress"]) or "—")),
        ("Priority", Text(str(job["priority"] or "—"))),
        ("Worker", text(job["worker"] or "—")),
        *([("Group", text(job["group_id"]))] if job.get("group_id") else []),
        *([("Deduplication id", text(job["deduplication_id"]))] if job.get("deduplication_id") else []),
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
    out.print(Panel(fields, title=text(f"Job {job['id']}"), title_align="left", expand=False))
    out.print(Panel(text(data.pretty_json(job["data"])), title="Data", title_align="left"))
    if job["opts"]:
        out.print(Panel(text(data.pretty_json(job["opts"])), title="Options", title_align="left"))
    if job["return_value"] is not None:
        out.print(
            Panel(text(data.pretty_json(job["return_value"])), title="Return value", title_align="left")
        )
    if job["failed_reason"]:
        body = text(job["failed_reason"], "bold red")
        if job["stacktrace"]:
            body.append("\n\n")
            body.append_text(text(job["stacktrace"][-1]))
        out.print(Panel(body, title="Failed", title_align="left", border_style="red"))
    if job.get("flow"):
        out.print(Panel(_flow_text(job["flow"]), title="Flow", title_align="left"))
    if job["logs"]:
        out.print(Panel(text("\n".join(job["logs"])), title="Logs", title_align="left"))


def _flow_text(flow: dict[str, Any]) -> Text:
    """Parent and children of a flow job, one line each: queue:id, name, state (and what the parent got)."""
    out = Text()
    parent = flow["parent"]
    out.append("Parent    ", style="dim")
    if parent:
        out.append_text(text(f"{parent['queue']}:{parent['id']} {parent['name'] or ''} "))
        out.append(parent["state"], style=STATE_STYLES.get(parent["state"], ""))
    else:
        out.append("—")
    counts = flow["counts"]
    out.append(
        f"\nChildren  {counts['pending']} pending, {counts['processed']} completed, "
        f"{counts['failed']} failed, {counts['ignored']} ignored",
        style="dim",
    )
    for child in flow["children"]:
        out.append("\n  ")
        out.append_text(text(f"{child['queue']}:{child['id']} {child['name'] or ''} "))
        out.append(child["state"], style=STATE_STYLES.get(child["state"], ""))
        if child["outcome"] != "processed":
            out.append(f" ({child['outcome']})", style="dim")
    return out


def print_limits(queue_name: str, limits: Mapping[str, Any]) -> None:
    """Queue-wide limits (`control.queue_limits`) as a panel, then the fair groups as a table."""
    out = console()
    rate = limits["global_rate_limit"]
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="dim")
    fields.add_column()
    fields.add_row("Global concurrency", Text(str(limits["global_concurrency"] or "—")))
    fields.add_row(
        "Global rate limit",
        Text(f"{rate['max']} jobs per {format_duration(rate['duration'] * 1000)}" if rate else "—"),
    )
    if limits["rate_limited_for"]:
        fields.add_row("Rate limited", Text(f"for {format_duration(limits['rate_limited_for'] * 1000)}"))
    fields.add_row("Groups", Text(str(limits["groups_total"])))
    out.print(Panel(fields, title=text(f"Limits of {queue_name}"), title_align="left", expand=False))
    if limits["groups"]:
        table = Table(header_style="bold", pad_edge=False, box=None)
        table.add_column("Group", no_wrap=True)
        for label in ("Waiting", "Active", "Paused"):
            table.add_column(label, justify="right", no_wrap=True)
        for g in limits["groups"]:
            table.add_row(text(g["id"]), str(g["waiting"]), str(g["active"]), str(g["paused"]))
        out.print(table)


def print_schedulers(listing: data.SchedulerListing) -> None:
    """A queue's job schedulers: id, job name, interval or cron, next run, runs so far."""
    out = console()
    if not listing["schedulers"]:
        out.print(f"No schedulers in {listing['queue']}.", style="dim")
        return
    table = Table(header_style="bold", pad_edge=False, box=None)
    table.add_column("ID", no_wrap=True)
    table.add_column("Job name", no_wrap=True, overflow="ellipsis", max_width=24)
    table.add_column("Every / cron", no_wrap=True)
    table.add_column("Next run", no_wrap=True)
    table.add_column("Runs", justify="right", no_wrap=True)
    for item in listing["schedulers"]:
        every = item.get("every_seconds")
        schedule = item.get("pattern") or (f"every {format_duration(every * 1000)}" if every else "—")
        next_run = item.get("next_run")
        table.add_row(
            text(item["id"]),
            text(item.get("name") or ""),
            text(schedule),
            Text(f"{format_time(next_run)} ({format_ago(next_run)})" if next_run else "—"),
            Text(str(item.get("iterations") or 0)),
        )
    out.print(table)
