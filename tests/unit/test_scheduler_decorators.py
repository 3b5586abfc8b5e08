"""`@cron` / `@every` record metadata only, and make the method the handler of its scheduled jobs."""

from __future__ import annotations

from typing import Any

import pytest

from framework import ConfigurationError, Job, Repeat, cron, every, process, processor
from framework.di.metadata import PROCESS_ATTR
from framework.di.schedulers import SCHEDULES_ATTR, ScheduleMetadata, scheduled_jobs


@processor("maint")
class Maint:
    @cron("0 3 * * *", id="nightly", tz="Europe/Berlin", data={"days": 30})
    async def cleanup(self, job: Job[Any]) -> None: ...

    @every(3600, id="hourly-digest")
    @process("digest")
    async def send_digest(self, job: Job[Any]) -> None: ...

    @process("report")
    @every(60)
    async def minutely(self, job: Job[Any]) -> None: ...


class TestDecorators:
    def test_records_metadata_only(self) -> None:
        """The decorator returns the function itself, with a ScheduleMetadata record."""
        func = Maint.__dict__["cleanup"]
        (record,) = getattr(func, SCHEDULES_ATTR)
        assert record == ScheduleMetadata(
            "nightly", Repeat(cron="0 3 * * *", tz="Europe/Berlin"), {"days": 30}
        )

    def test_method_without_process_handles_its_own_name(self) -> None:
        """A scheduled method with no @process handles jobs named after it."""
        assert getattr(Maint.__dict__["cleanup"], PROCESS_ATTR).names == ("cleanup",)

    def test_job_names(self) -> None:
        """Job name: the explicit @process name (in either decorator order), else the method name."""
        jobs = {j.id: j for j in scheduled_jobs(Maint)}
        assert jobs["nightly"].job_name == "cleanup"
        assert jobs["hourly-digest"].job_name == "digest"
        assert jobs["Maint.minutely"].job_name == "report"  # default id: Class.method
        assert jobs["Maint.minutely"].repeat == Repeat(every=60)

    @pytest.mark.parametrize(
        ("make", "field"),
        [
            (lambda: cron("not cron"), r"repeat\.cron"),
            (lambda: cron("0 0 * * *", tz="Mars/Base"), r"repeat\.tz"),
            (lambda: every(0), "every must be > 0"),
            (lambda: every(-1), "every must be > 0"),
            (lambda: every(60, id="a:b"), "':'"),
        ],
    )
    def test_bad_input_fails_at_import(self, make: Any, field: str) -> None:
        """A bad pattern, zone, interval or id raises ConfigurationError when the decorator is built."""
        with pytest.raises(ConfigurationError, match=field):
            make()
