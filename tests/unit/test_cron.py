"""Next-run computation of job schedulers, with an explicit clock (no Redis, no waiting)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from framework.queue.options import Repeat
from framework.queue.scheduler import (
    Schedule,
    default_scheduler_id,
    from_ms,
    next_cron_time,
    parse_scheduler_job_id,
    resolve_tz,
    scheduler_job_id,
    to_ms,
    validate_cron,
)

BERLIN = "Europe/Berlin"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def runs(expr: str, after: datetime, n: int, tz: str | None = BERLIN) -> list[datetime]:
    """The next `n` runs of `expr` after `after`, each computed from the previous one."""
    out = []
    for _ in range(n):
        after = next_cron_time(expr, after, tz)
        out.append(after)
    return out


class TestCronBasics:
    def test_utc_by_default(self) -> None:
        """Without a time zone the pattern is read in UTC."""
        assert next_cron_time("0 0 * * *", utc(2024, 5, 1, 12)) == utc(2024, 5, 2)

    def test_strictly_after(self) -> None:
        """A time that matches exactly is not its own next run."""
        assert next_cron_time("0 * * * *", utc(2024, 5, 1, 12)) == utc(2024, 5, 1, 13)

    def test_time_zone(self) -> None:
        """`0 9 * * 1-5` in New York is 13:00 UTC in summer, and skips the weekend."""
        friday_evening = utc(2024, 7, 5, 22)
        assert next_cron_time("0 9 * * 1-5", friday_evening, "America/New_York") == utc(2024, 7, 8, 13)

    def test_seconds_first(self) -> None:
        """Six fields put the seconds first, as in BullMQ."""
        assert next_cron_time("*/10 * * * * *", utc(2024, 5, 1, 12, 0, 3)) == utc(2024, 5, 1, 12, 0, 10)
        assert next_cron_time("30 15 2 * * *", utc(2024, 5, 1)) == utc(2024, 5, 1, 2, 15, 30)

    def test_aliases(self) -> None:
        """Aliases such as @daily and @hourly work."""
        assert next_cron_time("@daily", utc(2024, 5, 1, 5)) == utc(2024, 5, 2)
        assert next_cron_time("@hourly", utc(2024, 5, 1, 5, 1)) == utc(2024, 5, 1, 6)

    def test_naive_after_is_utc(self) -> None:
        """A naive `after` is taken as UTC."""
        assert next_cron_time("0 0 * * *", datetime(2024, 5, 1, 12)) == utc(2024, 5, 2)

    def test_result_is_utc(self) -> None:
        """The result is an aware UTC datetime whatever the pattern's zone."""
        result = next_cron_time("0 2 * * *", utc(2024, 5, 1), BERLIN)
        assert result.tzinfo is UTC and result == utc(2024, 5, 2, 0)


class TestSpringForward:
    """Europe/Berlin, 2024-03-31: at 01:00 UTC the clock jumps from 02:00 CET to 03:00 CEST."""

    def test_fixed_time_in_the_gap_runs_at_the_jump(self) -> None:
        """`0 2 * * *` runs at the jump (03:00 CEST) that night, then at 02:00 CEST again."""
        assert runs("0 2 * * *", utc(2024, 3, 30, 12), 3) == [
            utc(2024, 3, 31, 1),
            utc(2024, 4, 1, 0),
            utc(2024, 4, 2, 0),
        ]

    def test_half_past_in_the_gap_runs_once_at_the_jump(self) -> None:
        """`30 2 * * *` also runs at the jump, once, then at 02:30 CEST."""
        assert runs("30 2 * * *", utc(2024, 3, 30, 12), 2) == [utc(2024, 3, 31, 1), utc(2024, 4, 1, 0, 30)]

    def test_every_minute_of_a_skipped_hour_runs_once(self) -> None:
        """`* 2 * * *`: the 60 skipped minutes make one run at the jump, not sixty."""
        assert runs("* 2 * * *", utc(2024, 3, 30, 12), 2) == [utc(2024, 3, 31, 1), utc(2024, 4, 1, 0)]

    def test_hourly_pattern_follows_real_time(self) -> None:
        """`30 * * * *` runs every real hour: 01:30 CET, then 03:30 CEST (02:30 does not exist)."""
        assert runs("30 * * * *", utc(2024, 3, 30, 23, 40), 3) == [
            utc(2024, 3, 31, 0, 30),
            utc(2024, 3, 31, 1, 30),
            utc(2024, 3, 31, 2, 30),
        ]

    def test_quarter_hours_keep_their_spacing(self) -> None:
        """`*/15 * * * *` stays 15 real minutes apart across the jump."""
        got = runs("*/15 * * * *", utc(2024, 3, 31, 0, 30), 4)
        assert got == [utc(2024, 3, 31, 0, 45) + timedelta(minutes=15 * i) for i in range(4)]

    def test_from_inside_the_jump_minute(self) -> None:
        """Right after the jump, the next run of `0 2 * * *` is the next day's."""
        assert next_cron_time("0 2 * * *", utc(2024, 3, 31, 1), BERLIN) == utc(2024, 4, 1, 0)


class TestFallBack:
    """Europe/Berlin, 2024-10-27: at 01:00 UTC the clock goes back from 03:00 CEST to 02:00 CET."""

    def test_fixed_time_runs_once_at_first_occurrence(self) -> None:
        """`0 2 * * *` runs at 02:00 CEST (00:00 UTC) only, not again at 02:00 CET."""
        assert runs("0 2 * * *", utc(2024, 10, 26, 12), 2) == [utc(2024, 10, 27, 0), utc(2024, 10, 28, 1)]

    def test_half_past_two_runs_once(self) -> None:
        """`30 2 * * *` runs at 02:30 CEST (00:30 UTC), and next at 02:30 CET the day after."""
        assert runs("30 2 * * *", utc(2024, 10, 26, 12), 2) == [
            utc(2024, 10, 27, 0, 30),
            utc(2024, 10, 28, 1, 30),
        ]

    def test_fixed_time_from_the_second_pass(self) -> None:
        """During the repeated hour's second pass, `30 2 * * *` (already run) waits for the next day."""
        assert next_cron_time("30 2 * * *", utc(2024, 10, 27, 1, 10), BERLIN) == utc(2024, 10, 28, 1, 30)

    def test_hourly_pattern_runs_in_both_passes(self) -> None:
        """`30 * * * *` runs every real hour: 02:30 CEST and 02:30 CET both run."""
        assert runs("30 * * * *", utc(2024, 10, 26, 23, 40), 3) == [
            utc(2024, 10, 27, 0, 30),
            utc(2024, 10, 27, 1, 30),
            utc(2024, 10, 27, 2, 30),
        ]

    def test_quarter_hours_across_the_repeated_hour(self) -> None:
        """`*/15 * * * *` stays 15 real minutes apart, through both passes of 02:xx."""
        got = runs("*/15 * * * *", utc(2024, 10, 26, 23, 50), 10)
        assert got == [utc(2024, 10, 27, 0, 0) + timedelta(minutes=15 * i) for i in range(10)]

    def test_hourly_from_the_first_pass_finds_the_second(self) -> None:
        """From 02:10 CEST, `5 * * * *` next runs at 02:05 CET: earlier on the wall, later in time."""
        assert next_cron_time("5 * * * *", utc(2024, 10, 27, 0, 10), BERLIN) == utc(2024, 10, 27, 1, 5)


class TestInvalid:
    @pytest.mark.parametrize(
        "expr", ["", "   ", "not cron", "* * *", "61 * * * *", "* * * * * * *", "@reboot"]
    )
    def test_invalid_expression(self, expr: str) -> None:
        """Malformed expressions are refused, naming repeat.cron."""
        with pytest.raises(ValueError, match=r"repeat\.cron"):
            validate_cron(expr)

    def test_never_matching_expression(self) -> None:
        """A pattern no date matches (February 30th) is refused."""
        with pytest.raises(ValueError, match=r"repeat\.cron.*never matches"):
            validate_cron("0 0 30 2 *")

    def test_not_a_string(self) -> None:
        """A cron pattern must be a string."""
        with pytest.raises(ValueError, match=r"repeat\.cron"):
            validate_cron(5)

    @pytest.mark.parametrize("tz", ["Mars/Olympus", "utc", "", "../etc/passwd", 3])
    def test_invalid_time_zone(self, tz: object) -> None:
        """Unknown time zones are refused, naming repeat.tz."""
        with pytest.raises(ValueError, match=r"repeat\.tz"):
            resolve_tz(tz)

    def test_next_cron_time_checks_the_zone(self) -> None:
        """next_cron_time refuses an unknown zone too."""
        with pytest.raises(ValueError, match=r"repeat\.tz"):
            next_cron_time("0 0 * * *", utc(2024, 1, 1), "Nowhere/Town")

    @pytest.mark.parametrize(
        ("repeat", "field"),
        [
            ({"every": 0}, "every must be > 0"),
            ({"every": -1}, "every must be > 0"),
            ({"every": 0.0001}, r"repeat\.every"),
            ({"cron": "0 0 * * *", "every": 5}, "exactly one of cron= or every="),
            ({}, "exactly one of cron= or every="),
            ({"every": 5, "tz": BERLIN}, "tz only applies to cron"),
            ({"cron": "bad"}, r"repeat\.cron"),
            ({"cron": "0 0 * * *", "tz": "Nope/Nope"}, r"repeat\.tz"),
            ({"every": 5, "limit": 0}, r"repeat\.limit"),
            ({"every": 5, "start_date": utc(2024, 2, 1), "end_date": utc(2024, 1, 1)}, r"repeat\.end_date"),
        ],
    )
    def test_invalid_repeat(self, repeat: dict[str, object], field: str) -> None:
        """Schedule.from_repeat names the field of a bad schedule."""
        with pytest.raises(ValueError, match=field):
            Schedule.from_repeat(repeat)

    def test_repeat_model_refuses_both(self) -> None:
        """The Repeat model itself refuses cron and every together (a ValueError)."""
        with pytest.raises(ValueError, match="exactly one of cron= or every="):
            Repeat(cron="0 0 * * *", every=5)


T0 = to_ms(utc(2024, 5, 1, 12))  # "now" for the schedule tests


class TestEverySchedule:
    def test_first_run_one_interval_after_creation(self) -> None:
        """Without a start date, the first run is one interval after creation, on a grid anchored there."""
        s = Schedule.from_repeat(Repeat(every=60))
        assert s.first_run(T0) == T0 + 60_000
        assert s.anchor(T0) == T0

    def test_immediately(self) -> None:
        """immediately=True runs at once."""
        assert Schedule.from_repeat(Repeat(every=60, immediately=True)).first_run(T0) == T0

    def test_next_run_stays_on_the_grid(self) -> None:
        """A run taken a little late does not shift the grid."""
        s = Schedule.from_repeat(Repeat(every=60))
        assert s.next_run(T0 + 60_000 + 35, T0) == T0 + 120_000

    def test_missed_ticks_run_once(self) -> None:
        """A run taken ten intervals late is followed by the next tick after now, not by the missed ones."""
        s = Schedule.from_repeat(Repeat(every=60))
        taken = T0 + 60_000 * 10 + 5_000
        assert s.next_run(taken, T0) == T0 + 60_000 * 11

    def test_start_date_in_the_future(self) -> None:
        """With a future start date the runs are start, start + every, ..."""
        start = utc(2024, 6, 1, 8)
        s = Schedule.from_repeat(Repeat(every=3600, start_date=start))
        assert s.first_run(T0) == to_ms(start)
        assert s.next_run(to_ms(start), s.anchor(T0)) == to_ms(start) + 3_600_000

    def test_start_date_in_the_past(self) -> None:
        """With a past start date the first run is the grid's next tick."""
        s = Schedule.from_repeat(Repeat(every=3600, start_date=utc(2024, 5, 1, 10, 30)))
        assert s.first_run(T0) == to_ms(utc(2024, 5, 1, 12, 30))

    def test_end_date(self) -> None:
        """No run after the end date."""
        s = Schedule.from_repeat(Repeat(every=60, end_date=utc(2024, 5, 1, 12, 1, 30)))
        assert s.first_run(T0) == T0 + 60_000
        assert s.next_run(T0 + 60_000, T0) is None

    def test_every_as_timedelta(self) -> None:
        """every accepts a timedelta."""
        assert Schedule.from_repeat(Repeat(every=timedelta(minutes=5))).every_ms == 300_000


class TestCronSchedule:
    def test_first_run(self) -> None:
        """A cron schedule's first run is the pattern's next match."""
        s = Schedule.from_repeat(Repeat(cron="0 0 * * *", tz=BERLIN))
        assert s.first_run(T0) == to_ms(utc(2024, 5, 1, 22))

    def test_start_date_is_inclusive(self) -> None:
        """A match exactly at the start date is the first run."""
        start = utc(2024, 5, 3, 0)
        s = Schedule.from_repeat(Repeat(cron="0 0 * * *", start_date=start))
        assert s.first_run(T0) == to_ms(start)

    def test_naive_dates_are_in_the_schedule_zone(self) -> None:
        """A naive start date is read in the scheduler's time zone."""
        s = Schedule.from_repeat(Repeat(cron="0 * * * *", tz=BERLIN, start_date=datetime(2024, 5, 3, 10)))
        assert s.start_ms == to_ms(datetime(2024, 5, 3, 10, tzinfo=ZoneInfo(BERLIN)))

    def test_immediately_then_pattern(self) -> None:
        """immediately=True adds a run now, then follows the pattern."""
        s = Schedule.from_repeat(Repeat(cron="0 0 * * *", immediately=True))
        assert s.first_run(T0) == T0
        assert s.next_run(T0, T0) == to_ms(utc(2024, 5, 2))

    def test_missed_ticks_run_once(self) -> None:
        """A daily run taken three days late is followed by the next midnight after now."""
        s = Schedule.from_repeat(Repeat(cron="0 0 * * *"))
        taken = to_ms(utc(2024, 5, 4, 7))
        assert s.next_run(taken, 0) == to_ms(utc(2024, 5, 5))

    def test_end_date_before_first_match(self) -> None:
        """No first run when the end date comes before the first match."""
        s = Schedule.from_repeat(Repeat(cron="0 0 1 1 *", end_date=utc(2024, 6, 1)))
        assert s.first_run(T0) is None

    def test_fields_round_trip(self) -> None:
        """What is stored in the scheduler hash reads back as the same schedule."""
        s = Schedule.from_repeat(
            Repeat(cron="0 9 * * 1-5", tz=BERLIN, limit=4, start_date=utc(2024, 1, 1), immediately=True)
        )
        assert Schedule.from_fields(s.to_fields()) == s


class TestIds:
    def test_job_id_round_trip(self) -> None:
        """A run's job id carries the scheduler id and the run time."""
        job_id = scheduler_job_id("nightly", 1_700_000_000_000)
        assert job_id == "repeat:nightly:1700000000000"
        assert parse_scheduler_job_id(job_id) == ("nightly", "1700000000000")

    @pytest.mark.parametrize("job_id", ["42", "order-1", "repeat:", "repeat:x:y", "repeat::1"])
    def test_other_ids(self, job_id: str) -> None:
        """Ordinary job ids are not scheduler runs."""
        assert parse_scheduler_job_id(job_id) is None

    def test_default_id_is_stable(self) -> None:
        """The id derived for add(repeat=...) depends on the name and the pattern only."""
        a = default_scheduler_id("report", Repeat(cron="0 * * * *"))
        assert a == default_scheduler_id("report", {"cron": "0 * * * *", "limit": 3})
        assert a != default_scheduler_id("report", Repeat(cron="30 * * * *"))
        assert a != default_scheduler_id("other", Repeat(cron="0 * * * *"))
        assert ":" not in default_scheduler_id("a:b", Repeat(every=5))

    def test_ms_conversions(self) -> None:
        """to_ms / from_ms are exact inverses on milliseconds."""
        moment = utc(2024, 5, 1, 12, 0, 0, 123000)
        assert from_ms(to_ms(moment)) == moment
