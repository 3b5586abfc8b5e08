"""`nestq schedulers QUEUE` (list a queue's job schedulers) and `nestq schedulers remove QUEUE ID`.

Built on the plumbing of `ops_cli.py` (sources, `--app`, `--json`, errors), which registers the group.
"""

from __future__ import annotations

from typing import Any

import rich_click as click

from framework.cli import NestqGroup, examples, json_requested
from framework.dashboard import data
from framework.dashboard.data import QueueSource
from framework.ops_cli import _QUEUE, _app_option, _ops_command, _report, _run
from framework.ops_output import print_schedulers

__all__ = ["schedulers_group"]


class _SchedulersGroup(NestqGroup):
    """`nestq schedulers QUEUE` lists; `nestq schedulers remove QUEUE ID` removes."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["list", *args]
        return super().parse_args(ctx, args)


@click.group(
    "schedulers",
    cls=_SchedulersGroup,
    epilog=examples(
        "nestq schedulers email",
        "nestq schedulers email --json",
        "nestq schedulers remove email tick",
    ),
)
def schedulers_group() -> None:
    """List a queue's job schedulers (`nestq schedulers QUEUE`) or remove one.

    Schedulers declared in code (@every, @cron) are put back by the next `nestq run`; remove
    those from the code instead.
    """


@_ops_command("list", examples("nestq schedulers list email"))
@click.argument("queue", help=_QUEUE)
@_app_option
def schedulers_list_command(queue: str, app: str | None) -> int:
    """List a queue's job schedulers with their pattern or interval and next run."""

    async def command(source: QueueSource) -> Any:
        listing = await data.list_schedulers(await source.get(queue))
        if json_requested():
            return listing
        print_schedulers(listing)
        return None

    return _run(app, command)


@_ops_command("remove", examples("nestq schedulers remove email tick"))
@click.argument("queue", help=_QUEUE)
@click.argument("id", help="The scheduler's id (as `nestq schedulers QUEUE` shows it).")
@_app_option
def schedulers_remove_command(queue: str, id: str, app: str | None) -> int:
    """Remove a job scheduler (jobs it already added stay)."""

    async def command(source: QueueSource) -> Any:
        return _report(await data.remove_scheduler(await source.get(queue), id))

    return _run(app, command)


schedulers_group.add_command(schedulers_list_command)
schedulers_group.add_command(schedulers_remove_command)
