"""jobSummary: a listing's view of a job hash, large fields cut, stack traces left out."""

from __future__ import annotations

from framework.queue.scripts import script
from tests.integration.lua._support import LuaQueue, pairs


async def test_large_fields_are_cut_and_their_full_length_given(q: LuaQueue) -> None:
    key = q.k.job("7")
    await q.r.hset(
        key,
        mapping={"name": "n", "data": "d" * 5000, "returnvalue": '"ok"', "stacktrace": "s" * 9000, "ats": 1},
    )
    flat = await script("jobSummary")(q.r, [key], [100])
    fields = pairs(flat)
    assert fields["name"] == "n" and fields["ats"] == "1"
    assert fields["data"] == "d" * 100 and int(fields["data:len"]) == 5000
    assert fields["returnvalue"] == '"ok"' and int(fields["returnvalue:len"]) == 4
    assert "stacktrace" not in fields and "failedReason" not in fields


async def test_a_missing_job_gives_an_empty_reply(q: LuaQueue) -> None:
    assert await script("jobSummary")(q.r, [q.k.job("nope")], [100]) == []
