"""Cron patterns: validating them, resolving time zones, and the next run after a moment.

DST: cron patterns are read in the scheduler's time zone (UTC by default), as cron does. A pattern with
a fixed hour (`30 2 * * *`) follows the wall clock: a time skipped by a spring-forward change runs at the
moment of the change, and a time repeated by a fall-back change runs once, at its first occurrence. A
pattern that runs every hour (`*/15 * * * *`) follows real time: skipped times do not exist, repeated
times run in both passes.

Pure functions of their arguments: no Redis, no clock (the scheduler passes the moment).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

__all__ = ["next_cron_time", "resolve_tz", "validate_cron"]

_UTC = UTC
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)
# Wider than any daylight-saving shift in the tz database (2 h at most): the span in which the order of
# wall-clock times and the order of instants may disagree.
_DST_WINDOW = timedelta(hours=3)


def validate_cron(expr: object) -> str:
    """Return the cron expression, stripped, or raise ValueError naming `repeat.cron`.

    Five fields (minute hour day-of-month month day-of-week), or six with the seconds first (as in
    BullMQ), or an alias such as `@daily`.
    """
    if not isinstance(expr, str) or not expr.strip():
        raise ValueError(f"repeat.cron: expected a cron expression such as '0 0 * * *', got {expr!r}")
    expr = " ".join(expr.split())
    fields = len(expr.split(" "))
    if not (expr.startswith("@") or fields in (5, 6)) or not croniter.is_valid(
        expr, second_at_beginning=True
    ):
        raise ValueError(
            f"repeat.cron: {expr!r} is not a valid cron expression (5 fields: minute hour day-of-month "
            "month day-of-week, or 6 with seconds first)"
        )
    try:
        croniter(expr, _EPOCH, second_at_beginning=True).get_next(datetime)
    except (ValueError, KeyError) as exc:  # CroniterBadDateError is a ValueError
        raise ValueError(f"repeat.cron: {expr!r} never matches a date ({exc})") from None
    return expr


def resolve_tz(tz: object) -> ZoneInfo:
    """The ZoneInfo for an IANA name (None: UTC), or ValueError naming `repeat.tz`."""
    if tz is None:
        return ZoneInfo("UTC")
    if isinstance(tz, ZoneInfo):
        return tz
    if not isinstance(tz, str) or not tz:
        raise ValueError(f"repeat.tz: expected an IANA time zone name such as 'Europe/Berlin', got {tz!r}")
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"repeat.tz: unknown time zone {tz!r}; use an IANA name such as 'Europe/Berlin' or 'UTC'"
        ) from None


def next_cron_time(expr: str, after: datetime, tz: str | ZoneInfo | None = None) -> datetime:
    """The first time strictly after `after` that `expr` matches in `tz` (UTC when None), in UTC.

    `after` is an aware datetime (a naive one is taken as UTC). Daylight-saving changes are handled as
    described in this module's docstring.

    Raises:
        ValueError: an invalid expression or time zone, or a pattern with no further match.
    """
    zone = resolve_tz(tz)
    after = (after.replace(tzinfo=_UTC) if after.tzinfo is None else after).astimezone(_UTC)
    hourly = _runs_every_hour(expr)
    local = after.astimezone(zone)
    wall = local.replace(tzinfo=None)
    if hourly and local.fold == 0 and _is_ambiguous(wall, zone):
        # The second pass of this repeated hour has wall times before `wall` but instants after `after`.
        wall -= _DST_WINDOW
    # Iterate on wall-clock times labelled UTC, so croniter's arithmetic never meets a DST change.
    it = croniter(expr, wall.replace(tzinfo=_UTC), second_at_beginning=True)
    best: datetime | None = None
    best_wall = wall
    while True:
        candidate = it.get_next(datetime).replace(tzinfo=None)
        if best is not None and candidate > best_wall + _DST_WINDOW:
            return best
        for instant in _instants(candidate, zone, hourly):
            if instant > after and (best is None or instant < best):
                best, best_wall = instant, candidate
        if best is not None and not _near_transition(best, zone):
            return best


def _runs_every_hour(expr: str) -> bool:
    hours = croniter(expr, _EPOCH, second_at_beginning=True).expanded[1]
    return hours == ["*"] or len(hours) == 24


def _is_ambiguous(wall: datetime, zone: ZoneInfo) -> bool:
    first, second = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    return first.utcoffset() != second.utcoffset() and _exists(first, zone)


def _exists(local: datetime, zone: ZoneInfo) -> bool:
    return local.astimezone(_UTC).astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None)


def _instants(wall: datetime, zone: ZoneInfo, hourly: bool) -> list[datetime]:
    """The instants at which a job matching wall-clock time `wall` runs (usually exactly one)."""
    first, second = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    early, late = first.astimezone(_UTC), second.astimezone(_UTC)
    if early == late:
        return [early]
    if _exists(first, zone):  # repeated by a fall-back change: fold 0 is the first pass
        return [early, late] if hourly else [min(early, late)]
    if hourly:  # skipped by a spring-forward change: it does not exist in real time
        return []
    # A wall-clock job whose time was skipped runs when the clock jumps: the first instant whose local
    # time is at or past `wall`. For a gap, fold=1 maps before the change and fold=0 after it.
    lo, hi = int(min(early, late).timestamp()), int(max(early, late).timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid
    return [datetime.fromtimestamp(hi, _UTC)]


def _near_transition(instant: datetime, zone: ZoneInfo) -> bool:
    before = (instant - _DST_WINDOW).astimezone(zone).utcoffset()
    after = (instant + _DST_WINDOW).astimezone(zone).utcoffset()
    return before != after
