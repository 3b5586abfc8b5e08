"""Times and durations as short human text (shared by the pages and the CLI)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

__all__ = ["format_ago", "format_duration", "format_time"]


def format_time(ms: Any) -> str:
    """ms since the epoch as `2024-05-01 12:00:00 UTC` ("—" for none)."""
    if not ms:
        return "—"
    try:
        moment = datetime.fromtimestamp(int(ms) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return "—"
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def format_duration(ms: Any) -> str:
    """A duration in ms, short: 850 ms, 12.4 s, 3 min 20 s, 2 h, 3 d 4 h ("—" for none)."""
    try:
        value = int(ms)
    except (TypeError, ValueError):
        return "—"
    if value < 0:
        return "—"
    if value < 1000:
        return f"{value} ms"
    seconds = value / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return _pair(minutes, "min", sec, "s")
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return _pair(hours, "h", minutes, "min")
    days, hours = divmod(hours, 24)
    return _pair(days, "d", hours, "h")


def _pair(big: int, big_unit: str, small: int, small_unit: str) -> str:
    return f"{big} {big_unit} {small} {small_unit}" if small else f"{big} {big_unit}"


def format_ago(ms: Any) -> str:
    """ms since the epoch relative to now: `5.2 s ago`, `in 3 min 0 s` ("" for none)."""
    if not ms:
        return ""
    try:
        delta = int(time.time() * 1000) - int(ms)
    except (TypeError, ValueError):
        return ""
    if delta >= 0:
        return f"{format_duration(delta)} ago"
    return f"in {format_duration(-delta)}"
