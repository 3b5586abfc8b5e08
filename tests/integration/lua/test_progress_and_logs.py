"""updateProgress and addLog: per-job side data, written only while the job exists."""

from __future__ import annotations

from tests.integration.lua._support import LuaQueue


async def test_update_progress_stores_and_announces_it(q: LuaQueue) -> None:
    await q.add(job_id="a")
    await q.clear_events()

    assert await q.update_progress("a", '{"pct": 50}') == 1
    assert await q.update_progress("a", "75") == 1

    assert (await q.job("a"))["progress"] == "75"
    assert await q.events() == [
        {"event": "progress", "jobId": "a", "data": '{"pct": 50}'},
        {"event": "progress", "jobId": "a", "data": "75"},
    ]


async def test_update_progress_of_a_missing_job_writes_nothing(q: LuaQueue) -> None:
    assert await q.update_progress("ghost", "1") == 0
    assert await q.key_names() == set()


async def test_add_log_appends_and_returns_the_line_count(q: LuaQueue) -> None:
    await q.add(job_id="a")

    assert await q.add_log("a", "one") == 1
    assert await q.add_log("a", "two") == 2

    assert await q.r.lrange(q.k.logs("a"), 0, -1) == [b"one", b"two"]
    assert await q.r.pttl(q.k.logs("a")) == -1


async def test_add_log_keeps_the_newest_lines(q: LuaQueue) -> None:
    await q.add(job_id="a")
    for i in range(1, 4):
        assert await q.add_log("a", f"l{i}", keep=3) == i

    assert await q.add_log("a", "l4", keep=3) == 3
    assert await q.add_log("a", "l5", keep=2) == 2

    assert await q.r.lrange(q.k.logs("a"), 0, -1) == [b"l4", b"l5"]


async def test_add_log_to_a_missing_job_writes_nothing(q: LuaQueue) -> None:
    assert await q.add_log("ghost", "line") == 0
    assert await q.key_names() == set()
