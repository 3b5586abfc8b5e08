"""`nestq limits QUEUE` and `nestq job` show queue-wide limits, fair groups and deduplication ids."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from framework import Deduplication
from framework.cli import main
from framework.queue import Queue
from framework.settings import get_settings


@pytest.fixture
def seeded(monkeypatch: pytest.MonkeyPatch, redis_url: str, prefix: str) -> Iterator[str]:
    """Queue `email` with global limits, two groups and a deduplicated job; returns that job's id."""
    monkeypatch.setenv("NESTQ_REDIS_URL", redis_url)
    monkeypatch.setenv("NESTQ_PREFIX", prefix)
    get_settings.cache_clear()

    async def seed() -> str:
        async with Queue("email", connection=redis_url, prefix=prefix) as q:
            await q.set_global_concurrency(4)
            await q.set_global_rate_limit(20, 2)
            await q.add("send", 1, group_id="tenant-1")
            job = await q.add("send", 2, group_id="tenant-2", deduplication=Deduplication("welcome-7"))
            return job.id

    job_id = asyncio.run(seed())
    yield job_id

    async def clean() -> None:
        async with Queue("email", connection=redis_url, prefix=prefix) as q:
            await q.obliterate(force=True)

    asyncio.run(clean())
    get_settings.cache_clear()


def test_limits_command_shows_limits_and_groups(seeded: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`nestq limits email` prints the limits and a row per group; --json has the same facts."""
    assert main(["limits", "email", "--json"]) == 0
    limits = json.loads(capsys.readouterr().out)
    assert limits["global_concurrency"] == 4
    assert limits["global_rate_limit"] == {"max": 20, "duration": 2.0}
    assert [g["id"] for g in limits["groups"]] == ["tenant-1", "tenant-2"]
    assert main(["limits", "email"]) == 0
    out = capsys.readouterr().out
    assert "Global concurrency" in out and "20 jobs per" in out and "tenant-2" in out


def test_job_command_shows_group_and_deduplication_id(
    seeded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`nestq job email ID` names the job's group and deduplication id."""
    assert main(["job", "email", seeded]) == 0
    out = capsys.readouterr().out
    assert "tenant-2" in out and "welcome-7" in out
