"""Structured logging: structlog for nestq's own logs, the same rendering for stdlib loggers.

Every line carries the context bound with ``structlog.contextvars`` (the worker binds ``queue``,
``job_id``, ``job_name`` and ``attempt`` around each job), and passwords in URLs are hidden.
"""

from __future__ import annotations

import io
import logging
import sys
from typing import Any, Literal, TextIO

import structlog
from structlog.types import EventDict, ExcInfo, Processor, WrappedLogger

from framework.settings import get_settings, normalize_log_level, redact_url

__all__ = ["configure_logging", "get_logger", "redact_secrets"]

LogFormat = Literal["console", "json"]

# Values that cannot hold a URL, so the redaction below can skip them cheaply.
_PLAIN_TYPES = (int, float, bool, type(None))

_handler: logging.Handler | None = None


def _redact(value: object) -> object:
    if isinstance(value, str):
        return redact_url(value)
    if isinstance(value, _PLAIN_TYPES):
        return value
    if isinstance(value, dict):
        return {key: _redact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item) for item in value]
    if type(value) is tuple:
        return tuple(_redact(item) for item in value)
    # Other objects are rendered through repr(); keep them unless that repr shows a password.
    text = repr(value)
    redacted = redact_url(text)
    return value if redacted == text else redacted


def redact_secrets(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: replace passwords in URLs anywhere in the event (nested values too)."""
    # uvicorn passes a copy of its message with terminal colour codes; it is noise in our lines.
    event_dict.pop("color_message", None)
    for key, value in event_dict.items():
        event_dict[key] = _redact(value)
    return event_dict


def _redacting_traceback(sio: TextIO, exc_info: ExcInfo) -> None:
    # A traceback's messages can quote a connection URL; render to a buffer, then redact.
    buffer = io.StringIO()
    structlog.dev.plain_traceback(buffer, exc_info)
    sio.write(redact_url(buffer.getvalue()))


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of the write.

    A handler that kept the stream it was created with would write to a closed file once a test
    harness that swapped ``sys.stderr`` (pytest's capsys) has put the real one back.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def _pipeline(format: LogFormat) -> tuple[list[Processor], list[Processor]]:
    """The steps shared by structlog loggers and stdlib records, and the final ones that render a line."""
    timestamper = (
        structlog.processors.TimeStamper(fmt="iso", utc=True)
        if format == "json"
        else structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S", utc=False)
    )
    # Context first, so that it is in every line.
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        timestamper,
    ]
    renderer: Processor
    final: list[Processor] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if format == "json":
        renderer = structlog.processors.JSONRenderer()
        final += [structlog.processors.format_exc_info, redact_secrets, renderer]
    else:
        colors = sys.stderr.isatty()
        renderer = structlog.dev.ConsoleRenderer(colors=colors, exception_formatter=_redacting_traceback)
        final += [redact_secrets, renderer]
    return shared, final


def configure_logging(format: LogFormat | None = None, level: str | int | None = None) -> None:
    """Set up structlog and the stdlib root logger to render every log line the same way.

    Safe to call more than once: the last call wins, and only one handler is ever installed.

    Args:
        format: ``console`` (aligned, coloured on a terminal) or ``json`` (one object per line with
            ``timestamp``, ``level``, ``event``, ``logger`` and the bound context). Defaults to
            ``settings.log_format``.
        level: a level name (``"INFO"``) or number; defaults to ``settings.log_level``.

    Raises:
        ValueError: for an unknown format or level.
    """
    global _handler

    if format is None or level is None:
        settings = get_settings()
        format = format or settings.log_format
        level = level if level is not None else settings.log_level
    if format not in ("console", "json"):
        raise ValueError(f"log format must be 'console' or 'json', got {format!r}")
    if isinstance(level, str):
        level = logging.getLevelNamesMapping()[normalize_log_level(level)]

    shared, final = _pipeline(format)
    structlog.configure(
        processors=[
            shared[0],
            # Drop filtered-out calls before any other work is done on them.
            structlog.stdlib.filter_by_level,
            *shared[1:],
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Loggers are often created at import time, before this runs: never freeze an old config.
        cache_logger_on_first_use=False,
    )

    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
            processors=final,
        )
    )
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    root.addHandler(handler)
    root.setLevel(level)
    _handler = handler


def get_logger(name: str | None = None, **initial_values: Any) -> structlog.stdlib.BoundLogger:
    """Return a structlog logger named ``name`` (usually ``__name__``).

    Args:
        name: the logger's name, shown as ``logger`` in each line.
        **initial_values: context bound to every line of this logger.
    """
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name, **initial_values)
    return logger
