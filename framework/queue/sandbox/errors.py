"""Errors of sandboxed handlers, and the stand-in for an exception raised in a sandbox process."""

from __future__ import annotations

from typing import Any

from framework.errors import NestqError, UnrecoverableError


class SandboxError(NestqError):
    """A sandboxed handler could not be set up or run (not importable, bad reference)."""


class SandboxCrashedError(NestqError):
    """The sandbox process running the job died (killed, segfault, `os._exit`): that attempt fails and the
    job is retried per its `attempts`; a fresh process takes the next job."""


class RemoteError(Exception):
    """Base of the stand-ins for exceptions raised in a sandbox process: same class name and message, so the
    job's failure reason reads as it would in-process ("ValueError: bad input")."""


class RemoteUnrecoverableError(UnrecoverableError):
    """Base of the stand-ins for an `UnrecoverableError` (or subclass) raised in a sandbox process."""


_classes: dict[tuple[str, str, bool], type[Exception]] = {}


def remote_error(info: dict[str, Any]) -> Exception:
    """Rebuild the exception a sandbox process reported: a class of the same name and module, the message,
    and the child's traceback as a note (kept in the job's stack traces)."""
    name, module = str(info.get("type", "Exception")), str(info.get("module", "builtins"))
    unrecoverable = bool(info.get("unrecoverable"))
    key = (module, name, unrecoverable)
    cls = _classes.get(key)
    if cls is None:
        base: type[Exception] = RemoteUnrecoverableError if unrecoverable else RemoteError
        cls = type(name, (base,), {"__module__": module, "__qualname__": name})
        _classes[key] = cls
    message = str(info.get("message", ""))
    exc = cls(message) if message else cls()
    trace = info.get("traceback")
    if trace:
        exc.add_note(f"Raised in the sandbox process:\n{trace}")
    return exc
