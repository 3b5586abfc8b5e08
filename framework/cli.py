"""The `nestq` command line (also `python -m framework`).

    nestq run container:AppModule                       # workers of every processor, listeners, ...
    nestq worker container:AppModule --queue reports    # only these queues' workers

The application is given like uvicorn's: `module.path:attribute`, imported with the current folder on
`sys.path`. SIGINT / SIGTERM shut down gracefully (active jobs get `--shutdown-timeout` seconds) and
the process exits 0.

Adding commands: a module listed in `EXTENSIONS` defines `register(subparsers)`, which adds its
subparsers and gives each a handler with `parser.set_defaults(handler=fn)`, where
`fn(args: argparse.Namespace) -> int` returns the exit code. `framework/ops_cli.py` (dashboard,
queues, jobs, retry, clean, pause, resume) plugs in that way; `common_options()`, `load_module(...)`
and `run_async(...)` below are there for it to reuse.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeAlias

from framework.di.application import DEFAULT_SHUTDOWN_TIMEOUT, Application
from framework.di.module import Module
from framework.errors import ConfigurationError

__all__ = ["EXTENSIONS", "Subparsers", "build_parser", "common_options", "load_module", "main", "run_async"]

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Handler = Callable[[argparse.Namespace], int]

# --- extension hook: command groups defined in other files --------------------------------------------
# Each name is imported if it exists and must define `register(subparsers: Subparsers) -> None`.
EXTENSIONS: tuple[str, ...] = ("framework.ops_cli",)


class UsageError(Exception):
    """A bad command line argument; printed without a traceback, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    """The full `nestq` parser: built-in commands plus those of every extension."""
    parser = argparse.ArgumentParser(
        prog="nestq", description="nestq: NestJS-style modules over a Redis job queue."
    )
    _add_log_options(parser, default=None)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_run(subparsers)
    _add_worker(subparsers)
    _register_extensions(subparsers)
    return parser


def common_options() -> argparse.ArgumentParser:
    """A parent parser with the options every command takes (`--log-level`, `--log-format`).

    Use it as `subparsers.add_parser(name, parents=[common_options()])` so the options also work
    after the command name.
    """
    parser = argparse.ArgumentParser(add_help=False)
    _add_log_options(parser, default=argparse.SUPPRESS)
    return parser


def _add_log_options(parser: argparse.ArgumentParser, *, default: Any) -> None:
    parser.add_argument(
        "--log-level", default=default, help="DEBUG, INFO, WARNING, ERROR (default: NESTQ_LOG_LEVEL or INFO)"
    )
    parser.add_argument(
        "--log-format",
        choices=("console", "json"),
        default=default,
        help="default: NESTQ_LOG_FORMAT or console",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `nestq` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args)
    handler: Handler = args.handler
    try:
        return handler(args)
    except UsageError as exc:
        parser.error(str(exc))
    except ConfigurationError as exc:
        print(f"nestq: configuration error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # a signal before the application installed its handlers
        return 0
    return 0  # pragma: no cover - parser.error exits


def load_module(path: str) -> type[Module]:
    """Import `module.path:Attribute` (current folder on sys.path) and check it is a Module subclass."""
    module_path, _, attribute = path.partition(":")
    if not module_path or not attribute:
        raise UsageError(
            f"application must be given as 'module:AppModule' (like container:AppModule), got {path!r}"
        )
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_path)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_path.startswith(exc.name):
            raise UsageError(f"cannot import {module_path!r} (from {cwd}): {exc}") from None
        raise
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise UsageError(f"module {module_path!r} has no attribute {attribute!r}") from None
    if not (isinstance(target, type) and issubclass(target, Module)):
        raise UsageError(f"{path} is {target!r}, not a Module subclass")
    return target


LOOPS = ("auto", "asyncio", "uvloop")


def event_loop_factory(choice: str | None = None) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop a command runs on, from `choice` or `NESTQ_LOOP`: `auto` (the default) takes uvloop
    when it is installed (`pip install 'nestq[uvloop]'`: about a tenth more jobs per second), `asyncio`
    the standard loop, `uvloop` insists on uvloop. None means the standard loop."""
    choice = (choice or os.environ.get("NESTQ_LOOP") or "auto").strip().lower()
    if choice not in LOOPS:
        raise ConfigurationError(f"NESTQ_LOOP must be one of {', '.join(LOOPS)}, got {choice!r}")
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise ConfigurationError(
                "NESTQ_LOOP=uvloop but uvloop is not installed: pip install 'nestq[uvloop]' "
                "(or unset NESTQ_LOOP to use it only when installed)"
            ) from None
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run_async(main: Coroutine[Any, Any, int]) -> int:
    """Run a command's coroutine on the loop `event_loop_factory()` picks; SIGTERM before the application
    handles signals counts as Ctrl+C."""
    try:
        factory = event_loop_factory()
    except ConfigurationError:
        main.close()  # never awaited: say so quietly rather than with a RuntimeWarning
        raise
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(main)
    finally:
        signal.signal(signal.SIGTERM, previous)


# --- built-in commands -------------------------------------------------------------------------------


def _add_run(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "run",
        parents=[common_options()],
        help="run the application: every processor's worker and every queue event listener",
        description="Run the application until SIGINT/SIGTERM, then shut down gracefully.",
    )
    parser.add_argument("app", metavar="MODULE:ATTR", help="the root module, e.g. container:AppModule")
    _add_shutdown_timeout(parser)
    parser.set_defaults(handler=_run)


def _add_worker(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "worker",
        parents=[common_options()],
        help="run workers only (all processors, or those of --queue)",
        description="Run the workers of the given queues until SIGINT/SIGTERM (no event listeners).",
    )
    parser.add_argument("app", metavar="MODULE:ATTR", help="the root module, e.g. container:AppModule")
    parser.add_argument(
        "-q", "--queue", dest="queues", action="append", default=[], metavar="NAME", help="repeat for several"
    )
    parser.add_argument(
        "-c", "--concurrency", type=_positive_int, default=None, help="jobs at once per worker"
    )
    _add_shutdown_timeout(parser)
    parser.set_defaults(handler=_worker)


def _add_shutdown_timeout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--shutdown-timeout",
        type=float,
        default=DEFAULT_SHUTDOWN_TIMEOUT,
        metavar="SECONDS",
        help=f"grace period for active jobs at shutdown (default {DEFAULT_SHUTDOWN_TIMEOUT:g})",
    )


def _run(args: argparse.Namespace) -> int:
    module = load_module(args.app)
    return run_async(
        _serve(
            module,
            workers=True,
            listeners=True,
            concurrency=None,
            timeout=args.shutdown_timeout,
            dashboard=True,
        )
    )


def _worker(args: argparse.Namespace) -> int:
    module = load_module(args.app)
    workers: bool | list[str] = args.queues or True
    return run_async(
        _serve(
            module,
            workers=workers,
            listeners=False,
            concurrency=args.concurrency,
            timeout=args.shutdown_timeout,
        )
    )


async def _serve(
    module: type[Module],
    *,
    workers: bool | list[str],
    listeners: bool,
    concurrency: int | None,
    timeout: float,
    dashboard: bool = False,
) -> int:
    app = await Application.create(module)
    server = None
    try:
        if dashboard:
            server = await _start_dashboard(app)
        await app.serve(workers, listeners=listeners, concurrency=concurrency, shutdown_timeout=timeout)
    finally:
        if server is not None:
            await server.stop()
        await app.close()
    return 0


async def _start_dashboard(app: Application) -> Any:
    """The dashboard of `nestq run` (NESTQ_DASHBOARD__ENABLED, __HOST, __PORT, auth settings)."""
    from framework.dashboard import DashboardError, auth_from_settings, check_bind, start_dashboard
    from framework.logging import get_logger
    from framework.settings import get_settings

    settings = get_settings().dashboard
    if not settings.enabled:
        return None
    # An open dashboard off loopback is a configuration error: refuse to start at all.
    check_bind(settings.host, auth_from_settings(settings))
    try:
        return await start_dashboard(app, settings)
    except DashboardError as exc:
        # A second `nestq run` on one machine finds the port taken: its workers still run.
        get_logger("nestq.cli").warning("dashboard not started; the workers run without it", reason=str(exc))
        return None


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _configure_logging(args: argparse.Namespace) -> None:
    from framework.logging import configure_logging

    configure_logging(format=args.log_format, level=args.log_level)


def _register_extensions(subparsers: Subparsers) -> None:
    for name in EXTENSIONS:
        try:
            extension = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # not written yet
            raise
        extension.register(subparsers)
