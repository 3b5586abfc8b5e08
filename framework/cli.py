"""The `nestq` command line (also `python -m framework`), built on Click with rich help (rich-click).

    nestq run container:AppModule                       # workers of every processor, listeners, ...
    nestq worker container:AppModule --queue reports    # only these queues' workers
    nestq --help | nestq COMMAND --help | nestq --version | nestq completion bash

The application is given like uvicorn's: `module.path:attribute`, imported with the current folder on
`sys.path`. SIGINT / SIGTERM shut down gracefully (active jobs get `--shutdown-timeout` seconds) and
the process exits 0.

Global options (`--log-level`, `--log-format`, and `--json` on commands that print data) are accepted
before or after the command name. A wrong argument prints one line (`nestq: ...`) and exits 2.

Adding commands: a module listed in `EXTENSIONS` defines `register(cli: click.Group) -> None` and adds
its commands with `@cli.command(...)` (they are `NestqCommand`s: global options, logging, rich help).
A command returns its exit code (an int, None meaning 0). Keyword arguments of `@cli.command(...)`:
`json_output=True` adds `--json` (read it with `json_requested()`), `quiet_logs=True` logs only
warnings unless a level is asked for (for commands whose output is their result). Put examples in
`epilog=examples("nestq ...", ...)`. `framework/ops_cli.py` plugs in that way; `load_module(...)`,
`run_async(...)` and `confirm(...)` below are there for it to reuse.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import rich_click as click
from click.shell_completion import CompletionItem
from pydantic import ValidationError
from rich.markup import escape

from framework.di.application import DEFAULT_SHUTDOWN_TIMEOUT, Application
from framework.di.module import Module
from framework.errors import ConfigurationError

__all__ = [
    "EXTENSIONS",
    "NestqCommand",
    "NestqGroup",
    "UsageError",
    "cli",
    "confirm",
    "examples",
    "json_requested",
    "load_module",
    "main",
    "run_async",
]

# --- extension hook: command groups defined in other files --------------------------------------------
# Each name is imported if it exists and must define `register(cli: click.Group) -> None`.
EXTENSIONS: tuple[str, ...] = ("framework.ops_cli", "framework.observability.cli")

PROG = "nestq"
_META = "nestq.global."
GLOBAL_PANEL = "Global options"

HELP_CONFIG = click.RichHelpConfiguration(
    text_markup="rich",
    show_arguments=True,
    max_width=100,
    errors_suggestion=None,
)


class UsageError(click.UsageError):
    """A bad command line argument: printed as one line without a traceback, exit code 2."""


# --- global options ----------------------------------------------------------------------------------


class _LogLevel(click.ParamType):  # type: ignore[type-arg]
    name = "level"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from framework.settings import normalize_log_level

        try:
            return normalize_log_level(str(value))
        except ValueError:
            self.fail(
                f"{value!r} is not a log level; use DEBUG, INFO, WARNING, ERROR or CRITICAL", param, ctx
            )

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        levels = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
        return [CompletionItem(x) for x in levels if x.startswith(incomplete.upper())]


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Global options are stored on the root context, so they count wherever they were given."""
    if value is not None and value is not False and param.name:
        ctx.find_root().meta[_META + param.name] = value
    return value


def _global_params(*, json_output: bool) -> list[click.Parameter]:
    params: list[click.Parameter] = [
        click.RichOption(
            ["--log-level"],
            type=_LogLevel(),
            expose_value=False,
            callback=_remember,
            panel=GLOBAL_PANEL,
            help="DEBUG, INFO, WARNING, ERROR or CRITICAL (default: NESTQ_LOG_LEVEL or INFO).",
        ),
        click.RichOption(
            ["--log-format"],
            type=click.Choice(["console", "json"]),
            expose_value=False,
            callback=_remember,
            panel=GLOBAL_PANEL,
            help="Log lines as text or JSON (default: NESTQ_LOG_FORMAT or console).",
        ),
    ]
    if json_output:
        params.append(
            click.RichOption(
                ["--json"],
                is_flag=True,
                default=False,
                expose_value=False,
                callback=_remember,
                panel=GLOBAL_PANEL,
                help="Print JSON instead of a table.",
            )
        )
    return params


def _panels(kwargs: dict[str, Any]) -> None:
    """The help's panels in this order: arguments, options, global options."""
    kwargs.setdefault(
        "panels",
        [
            click.RichOptionPanel("Arguments"),
            click.RichOptionPanel("Options"),
            click.RichOptionPanel(GLOBAL_PANEL),
        ],
    )


def _global(ctx: click.Context, name: str) -> Any:
    return ctx.find_root().meta.get(_META + name)


def json_requested(ctx: click.Context | None = None) -> bool:
    """Whether `--json` was given (before or after the command name)."""
    current = ctx or click.get_current_context(silent=True)
    return current is not None and bool(_global(current, "json"))


class NestqCommand(click.RichCommand):
    """A `nestq` command: takes the global options, configures logging, then runs.

    Args:
        json_output: add `--json` (read it with `json_requested()`).
        quiet_logs: log only warnings unless `--log-level` or NESTQ_LOG_LEVEL asks for more.
    """

    def __init__(
        self, *args: Any, json_output: bool = False, quiet_logs: bool = False, **kwargs: Any
    ) -> None:
        _panels(kwargs)
        super().__init__(*args, **kwargs)
        self.quiet_logs = quiet_logs
        self.params.extend(_global_params(json_output=json_output))

    def invoke(self, ctx: click.Context) -> Any:
        _configure_logging(ctx, quiet=self.quiet_logs)
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:  # a signal before the application installed its handlers
            return 0


class NestqGroup(click.RichGroup):
    """A group of `nestq` commands; its commands are `NestqCommand`s and take the global options."""

    command_class = NestqCommand
    group_class = type  # subgroups are of this same class

    def __init__(self, *args: Any, json_output: bool = True, **kwargs: Any) -> None:
        _panels(kwargs)
        super().__init__(*args, **kwargs)
        self.params.extend(_global_params(json_output=json_output))


def examples(*lines: str) -> str:
    """An "Examples" epilog for a command's help: one command line per argument."""
    shown = [f"[dim]$[/dim] {escape(line)}" for line in lines]
    return "\n\n".join(["[b]Examples[/b]", *shown])


def _version() -> str:
    try:
        return importlib.metadata.version("nestq")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


@click.group(
    PROG,
    cls=NestqGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=examples(
        "nestq run container:AppModule",
        "nestq worker container:AppModule --queue reports --concurrency 8",
        "nestq queues",
        "nestq jobs email --state failed",
        "nestq retry email --all",
        "nestq dashboard --port 8000",
    ),
)
@click.version_option(_version(), "-V", "--version", prog_name=PROG, message="%(prog)s %(version)s")
@click.rich_config(help_config=HELP_CONFIG)
@click.pass_context
def cli(ctx: click.Context) -> int:
    """nestq: NestJS-style modules over a fast, crash-safe Redis job queue.

    Run an application's workers, look at queues and jobs, act on them, serve the dashboard.
    `nestq COMMAND --help` tells more about each command. Settings come from NESTQ_* environment
    variables (NESTQ_REDIS_URL, NESTQ_PREFIX, ...); without NESTQ_REDIS_URL an embedded server
    is used.
    """
    if ctx.invoked_subcommand is None:
        _configure_logging(ctx, quiet=True)
        click.echo(ctx.get_help())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `nestq` console script; returns the exit code."""
    _register_extensions()
    try:
        result = cli.main(args=argv, prog_name=PROG, standalone_mode=False)
    except click.UsageError as exc:
        return _usage_error(exc)
    except click.Abort:
        _print_error("aborted")
        return 1
    except click.ClickException as exc:
        _print_error(exc.format_message())
        return exc.exit_code
    except ConfigurationError as exc:
        _print_error(f"configuration error: {exc}")
        return 1
    except ValidationError as exc:  # a NESTQ_* variable with a wrong value
        _print_error(f"configuration error: {_settings_error_text(exc)}")
        return 2
    except KeyboardInterrupt:
        return 0
    return result if isinstance(result, int) else 0


def _usage_error(exc: click.UsageError) -> int:
    message = exc.format_message().strip().replace("\n", " ")
    hint = ""
    if exc.ctx is not None:
        hint = f" (see '{exc.ctx.command_path} --help')"
    _print_error(message + hint)
    return 2


def _print_error(message: str) -> None:
    sys.stderr.write(f"{PROG}: {message}\n")


def _settings_error_text(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = "__".join(str(x) for x in error.get("loc", ()))
        parts.append(
            f"NESTQ_{where.upper()}: {error.get('msg', 'invalid')}" if where else error.get("msg", "")
        )
    return "; ".join(parts) or str(exc).splitlines()[0]


def confirm(question: str, *, yes: bool) -> None:
    """Ask before doing something that cannot be undone; `--yes` skips the question.

    The question goes to stderr (stdout stays clean for `--json`); an answer is read from stdin even
    when it is not a terminal (`echo y | nestq ...`).

    Raises:
        click.ClickException: not confirmed (exit 1), nothing done.
    """
    if yes:
        return
    try:
        ok = click.confirm(question, default=False, err=True)
    except click.Abort:
        ok = False
    if not ok:
        raise click.ClickException("not confirmed; nothing done (pass --yes to skip the question)")


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

_APP_HELP = "The root module, as module.path:Attribute (like container:AppModule)."


def _shutdown_timeout_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--shutdown-timeout",
        type=click.FloatRange(min=0),
        default=DEFAULT_SHUTDOWN_TIMEOUT,
        show_default=True,
        metavar="SECONDS",
        help="Grace period for active jobs at shutdown.",
    )(f)


def _processes_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--process-index", type=int, hidden=True)(f)  # set by the supervisor on its children
    return click.option(
        "-p",
        "--processes",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        metavar="N",
        help="Worker processes, under one supervisor that restarts a crashed one and drains all on SIGTERM.",
    )(f)


def _supervise(ctx: click.Context, args: list[str], processes: int, shutdown_timeout: float) -> int:
    """Run `nestq ARGS` as `processes` children of a supervisor (framework/supervisor.py)."""
    from framework.supervisor import Supervisor

    for name in ("log_level", "log_format"):
        value = _global(ctx, name)
        if value:
            args += [f"--{name.replace('_', '-')}", str(value)]
    children = {i: ["--process-index", str(i)] for i in range(processes)}
    return Supervisor(args, processes, shutdown_timeout=shutdown_timeout, child_args=children).run()


@dataclass(frozen=True)
class ServeOptions:
    """What `nestq run` / `nestq worker` were asked to run."""

    workers: bool | list[str]
    listeners: bool
    concurrency: int | None
    shutdown_timeout: float
    dashboard: bool = False
    host: str | None = None
    port: int | None = None


@cli.command(
    "run",
    epilog=examples(
        "nestq run container:AppModule",
        "nestq run container:AppModule --port 8001",
        "nestq run container:AppModule --processes 4",
        "NESTQ_REDIS_URL=redis://localhost:6379/0 nestq run container:AppModule --log-format json",
    ),
)
@click.argument("app", metavar="MODULE:ATTR", help=_APP_HELP)
@_shutdown_timeout_option
@click.option("--host", help="Dashboard interface (default: NESTQ_DASHBOARD__HOST or 127.0.0.1).")
@click.option(
    "--port", type=click.IntRange(0, 65535), help="Dashboard port (default: NESTQ_DASHBOARD__PORT or 8000)."
)
@_processes_options
@click.pass_context
def run_command(
    ctx: click.Context,
    app: str,
    shutdown_timeout: float,
    host: str | None,
    port: int | None,
    processes: int,
    process_index: int | None,
) -> int:
    """Run the application: every processor's worker, every queue event listener and the dashboard.

    Runs until SIGINT/SIGTERM, then shuts down gracefully and exits 0. The dashboard is served
    while NESTQ_DASHBOARD__ENABLED is true (the default); a port in use only skips the dashboard.
    With --processes N, N processes run the workers; the first of them also runs the event listeners
    and serves the dashboard and /metrics (whose numbers come from Redis, so they cover all N).
    """
    module = load_module(app)
    if processes > 1:
        args = ["run", app, "--shutdown-timeout", str(shutdown_timeout)]
        args += [*(["--host", host] if host else []), *(["--port", str(port)] if port is not None else [])]
        return _supervise(ctx, args, processes, shutdown_timeout)
    first = not process_index  # a child other than the first: workers only
    options = ServeOptions(
        workers=True,
        listeners=first,
        concurrency=None,
        shutdown_timeout=shutdown_timeout,
        dashboard=first,
        host=host,
        port=port,
    )
    return run_async(_serve(module, options))


@cli.command(
    "worker",
    epilog=examples(
        "nestq worker container:AppModule",
        "nestq worker container:AppModule --queue email --queue reports --concurrency 8",
        "nestq worker container:AppModule --processes 4",
    ),
)
@click.argument("app", metavar="MODULE:ATTR", help=_APP_HELP)
@click.option(
    "-q", "--queue", "queues", multiple=True, metavar="NAME", help="Only this queue; repeat for several."
)
@click.option("-c", "--concurrency", type=click.IntRange(min=1), help="Jobs at once per worker.")
@_shutdown_timeout_option
@_processes_options
@click.pass_context
def worker_command(
    ctx: click.Context,
    app: str,
    queues: tuple[str, ...],
    concurrency: int | None,
    shutdown_timeout: float,
    processes: int,
    process_index: int | None,
) -> int:
    """Run workers only: those of every processor, or of the --queue ones (no event listeners).

    Runs until SIGINT/SIGTERM, then shuts down gracefully and exits 0. With --processes N, a supervisor
    runs N worker processes, restarts one that crashes, and drains them all on SIGTERM.
    """
    module = load_module(app)
    if processes > 1:
        args = ["worker", app, "--shutdown-timeout", str(shutdown_timeout)]
        args += [x for q in queues for x in ("--queue", q)]
        args += ["--concurrency", str(concurrency)] if concurrency else []
        return _supervise(ctx, args, processes, shutdown_timeout)
    options = ServeOptions(
        workers=list(queues) or True,
        listeners=False,
        concurrency=concurrency,
        shutdown_timeout=shutdown_timeout,
    )
    return run_async(_serve(module, options))


@cli.command(
    "completion",
    epilog=examples(
        "nestq completion bash >> ~/.bashrc",
        "nestq completion zsh > ~/.zfunc/_nestq",
        "nestq completion fish > ~/.config/fish/completions/nestq.fish",
    ),
)
@click.argument(
    "shell",
    required=False,
    type=click.Choice(["bash", "zsh", "fish"]),
    help="The shell (default: the one of $SHELL).",
)
def completion_command(shell: str | None) -> int:
    """Print the shell completion script of nestq (commands, options, choices)."""
    from click.shell_completion import get_completion_class

    shell = shell or os.path.basename(os.environ.get("SHELL", "")) or "bash"
    completion_class = get_completion_class(shell)
    if completion_class is None:
        raise UsageError(f"no completion for shell {shell!r}; give one of bash, zsh, fish")
    script = completion_class(cli, {}, PROG, "_NESTQ_COMPLETE").source()
    click.echo(script)
    return 0


async def _serve(module: type[Module], options: ServeOptions) -> int:
    app = await Application.create(module)
    server = None
    try:
        if options.dashboard:
            server = await _start_dashboard(app, host=options.host, port=options.port)
        await app.serve(
            options.workers,
            listeners=options.listeners,
            concurrency=options.concurrency,
            shutdown_timeout=options.shutdown_timeout,
        )
    finally:
        if server is not None:
            await server.stop()
        await app.close()
    return 0


async def _start_dashboard(app: Application, *, host: str | None = None, port: int | None = None) -> Any:
    """The dashboard of `nestq run` (NESTQ_DASHBOARD__ENABLED, __HOST, __PORT, auth settings)."""
    from framework.dashboard import DashboardError, auth_from_settings, check_bind, start_dashboard
    from framework.logging import get_logger
    from framework.settings import get_settings

    settings = get_settings().dashboard
    if not settings.enabled:
        return None
    # An open dashboard off loopback is a configuration error: refuse to start at all.
    check_bind(host or settings.host, auth_from_settings(settings))
    try:
        return await start_dashboard(app, settings, host=host, port=port)
    except DashboardError as exc:
        # A second `nestq run` on one machine finds the port taken: its workers still run.
        get_logger("nestq.cli").warning("dashboard not started; the workers run without it", reason=str(exc))
        return None


def _configure_logging(ctx: click.Context, *, quiet: bool) -> None:
    from framework.logging import configure_logging
    from framework.settings import get_settings

    level = _global(ctx, "log_level")
    if level is None and quiet and "log_level" not in get_settings().model_fields_set:
        level = "WARNING"
    configure_logging(format=_global(ctx, "log_format"), level=level)


_registered: set[str] = set()


def _register_extensions() -> None:
    for name in EXTENSIONS:
        if name in _registered:
            continue
        try:
            extension = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # not written yet
            raise
        extension.register(cli)
        _registered.add(name)
