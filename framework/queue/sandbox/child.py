"""The sandbox process: `python -m framework.queue.sandbox.child`, started by a worker's `SandboxPool`.

Reads one `run` message at a time on stdin, imports the handler it names (once), runs it on a `ChildJob`
and writes the result or the error on the protocol pipe. The process's own stdout is sent to stderr, so a
`print()` in a handler cannot corrupt the protocol. Exits when stdin closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import sys
import traceback
import typing
from collections.abc import Callable, Generator
from typing import IO, Any

from framework.errors import InvalidJobDataError, JobNotFoundError, UnrecoverableError
from framework.queue import serialization
from framework.queue.sandbox import protocol
from framework.queue.sandbox.errors import SandboxError
from framework.queue.sandbox.reference import HandlerReference, callable_for


class Reply:
    """The value of a progress/log request, ready at once; also awaitable, so an `async def` handler may
    `await job.update_progress(50)` while a plain `def` just calls it."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, Any]:
        if False:  # pragma: no cover - makes this a generator
            yield
        return self.value


class ChildJob:
    """The job as a sandboxed handler sees it: the usual fields (`id`, `name`, `data`, `opts` as a dict,
    `attempts_made`, ...), and `update_progress` / `log`, which reach the real job through the worker."""

    def __init__(self, fields: dict[str, Any], link: _Link) -> None:
        self._link = link
        self.data: Any = fields.get("data")
        self.opts: dict[str, Any] = fields.get("opts") or {}
        self.id: str = fields["id"]
        self.name: str = fields["name"]
        for name in protocol.JOB_FIELDS:
            if name not in ("id", "name"):
                setattr(self, name, fields.get(name))

    @property
    def raw_opts(self) -> dict[str, Any]:
        return self.opts

    def update_progress(self, progress: Any) -> Reply:
        """Store progress on the job (and fire its `progress` event)."""
        self._link.request("progress", progress)
        self.progress = progress
        return Reply(None)

    def log(self, message: str) -> Reply:
        """Append a line to the job's log; the reply's value is the line count."""
        return Reply(self._link.request("log", str(message)))

    def __repr__(self) -> str:
        return f"<ChildJob {self.id} name={self.name!r}>"


class _Link:
    def __init__(self, reader: IO[bytes], writer: IO[bytes]) -> None:
        self._reader = reader
        self._writer = writer

    def send(self, message: dict[str, Any]) -> None:
        self._writer.write(protocol.encode(message))
        self._writer.flush()

    def receive(self) -> dict[str, Any] | None:
        line = self._reader.readline()
        return protocol.decode(line) if line else None

    def request(self, kind: str, value: Any) -> Any:
        self.send({"t": kind, "v": value})
        reply = self.receive()
        if reply is None:
            os._exit(0)  # the worker is gone
        error = reply.get("error")
        if error:
            if error.get("type") == "JobNotFoundError":
                raise JobNotFoundError(error.get("message", ""))
            raise RuntimeError(f"{error.get('type')}: {error.get('message')}")
        return reply.get("v")


def _describe(exc: BaseException) -> dict[str, Any]:
    return {
        "type": type(exc).__name__,
        "module": type(exc).__module__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
        # As in-process: these fail the job at once (a retry would meet the same problem).
        "unrecoverable": isinstance(exc, UnrecoverableError | InvalidJobDataError | SandboxError),
    }


def _validated(func: Callable[..., Any], data: Any) -> Any:
    """`Job[Model]` on the handler's first parameter: data validated into Model, as in-process."""
    try:
        hints = typing.get_type_hints(func)
    except Exception:
        return data
    params = [p for p in inspect.signature(func).parameters.values()]
    if not params:
        return data
    args = typing.get_args(hints.get(params[0].name))
    if not args or args[0] is Any:
        return data
    from pydantic import TypeAdapter, ValidationError

    try:
        return TypeAdapter(args[0]).validate_python(data)
    except ValidationError as exc:
        raise UnrecoverableError(f"invalid data, expected {args[0]!r}: {exc}") from None


def _takes_job(func: Callable[..., Any]) -> bool:
    try:
        return bool(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return True


def main() -> None:
    """Serve `run` requests until stdin closes."""
    # Ctrl+C reaches the whole process group, and `systemctl stop` signals every process of the service:
    # the worker decides when a job stops (it lets it finish during a graceful shutdown, kills it when the
    # grace period is over), so the sandbox process ignores both and ends when its stdin closes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    proto_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # print() in a handler goes to stderr
    link = _Link(sys.stdin.buffer, proto_out)
    loop = asyncio.new_event_loop()
    bare: dict[type, object] = {}
    handlers: dict[HandlerReference, Callable[..., Any]] = {}
    # Import the handlers named on the command line before saying "ready": a job does not pay for it. A
    # reference that fails here fails again (with its error) on the job that uses it.
    for ref, main in protocol.decode(sys.argv[1].encode()).get("preload", []) if len(sys.argv) > 1 else []:
        reference = HandlerReference(ref, main)
        with contextlib.suppress(Exception):
            handlers[reference] = callable_for(reference, bare)
    link.send({"t": "ready"})
    while True:
        message = link.receive()
        if message is None:
            break
        try:
            reference = HandlerReference(message["ref"], message.get("main"))
            func = handlers.get(reference)
            if func is None:
                func = handlers[reference] = callable_for(reference, bare)
            job = ChildJob(message["job"], link)
            job.data = _validated(func, job.data)
            result = func(job) if _takes_job(func) else func()
            if inspect.isawaitable(result):
                result = loop.run_until_complete(result)
            reply: dict[str, Any] = {"t": "done", "v": serialization.dumps(result, what="return value")}
        except Exception as exc:
            reply = {"t": "error", "error": _describe(exc)}
        link.send(reply)
    loop.close()


if __name__ == "__main__":
    main()
