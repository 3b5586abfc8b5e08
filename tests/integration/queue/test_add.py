"""Adding jobs: options, validation, dedupe, bulk."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest

from framework import Backoff, InvalidJobDataError, JobState, KeepJobs, Queue
from tests.support.clients import raw_client


class TestAdd:
    async def test_add_stores_job_and_returns_it(self, make_queue, redis) -> None:
        """add() writes the job hash and puts the id on the wait list."""
        q = make_queue()
        job = await q.add("greet", {"who": "ada"}, attempts=3, backoff=Backoff.exponential(1))
        assert job.id == "1" and job.name == "greet" and job.data == {"who": "ada"}
        fetched = await q.get_job(job.id)
        assert fetched is not None
        assert fetched.data == {"who": "ada"}
        assert fetched.attempts == 3
        assert fetched.opts.backoff == Backoff.exponential(1)
        assert await q.get_job_state(job.id) == JobState.WAITING
        assert await redis.lrange(q.keys.wait, 0, -1) == [b"1"]

    async def test_generated_ids_increase(self, make_queue) -> None:
        """Generated ids are 1, 2, 3, ..."""
        q = make_queue()
        ids = [(await q.add("n", i)).id for i in range(3)]
        assert ids == ["1", "2", "3"]

    async def test_same_job_id_is_a_noop_returning_existing(self, make_queue, redis) -> None:
        """A second add with the same job_id writes nothing and returns the first job."""
        q = make_queue()
        first = await q.add("n", {"v": 1}, job_id="order-7")
        second = await q.add("n", {"v": 2}, job_id="order-7")
        assert second.id == first.id == "order-7"
        assert second.data == {"v": 1}
        assert await redis.llen(q.keys.wait) == 1

    @pytest.mark.parametrize(
        ("data", "path"),
        [
            ({"when": datetime(2024, 1, 1)}, "data['when']"),
            ({"a": [1, {2, 3}]}, "data['a'][1]"),
            ({"x": object()}, "data['x']"),
            ({1: "int key"}, "non-string key 1"),
            ({"big": 2**70}, "data['big']"),
        ],
    )
    async def test_payload_json_cannot_carry_is_refused_and_nothing_written(
        self, make_queue, redis, data, path
    ) -> None:
        """A TypeError naming the offending path; no key is written."""
        q = make_queue()
        with pytest.raises(TypeError) as err:
            await q.add("n", data)
        assert isinstance(err.value, InvalidJobDataError)
        assert path in str(err.value)
        assert await redis.keys(f"{{{q.prefix}:*") == []

    async def test_nan_is_refused(self, make_queue, redis) -> None:
        """NaN is not JSON: refused, naming the path."""
        q = make_queue()
        with pytest.raises(TypeError, match=r"data\['x'\]\[0\] is nan"):
            await q.add("n", {"x": [math.nan]})
        assert await redis.keys(f"{{{q.prefix}:*") == []

    @pytest.mark.parametrize(
        ("opts", "field"),
        [
            ({"delay": -1}, "delay"),
            ({"priority": -1}, "priority"),
            ({"priority": 2**22}, "priority"),
            ({"attempts": 0}, "attempts"),
            ({"timeout": 0}, "timeout"),
            ({"job_id": "123"}, "job_id"),
            ({"job_id": "a:b"}, "job_id"),
            ({"job_id": "wait"}, "job_id"),
            ({"remove_on_complete": -5}, "remove_on_complete"),
            ({"bogus": 1}, "bogus"),
        ],
    )
    async def test_invalid_options_raise_value_error_before_writing(
        self, make_queue, redis, opts, field
    ) -> None:
        """ValueError naming the field; nothing written."""
        q = make_queue()
        with pytest.raises(ValueError, match=field):
            await q.add("n", {}, **opts)
        assert await redis.keys(f"{{{q.prefix}:*") == []

    async def test_pydantic_model_payload_is_dumped_as_json(self, make_queue) -> None:
        """A pydantic model is stored as its JSON form."""
        from pydantic import BaseModel

        class Dto(BaseModel):
            email: str
            when: datetime

        q = make_queue()
        job = await q.add("n", Dto(email="a@b.c", when=datetime(2024, 5, 1, 12)))
        stored = await q.get_job(job.id)
        assert stored is not None and stored.data == {"email": "a@b.c", "when": "2024-05-01T12:00:00"}

    async def test_timedelta_delay_and_states(self, make_queue) -> None:
        """Delay as a timedelta makes the job delayed; priority makes it prioritized."""
        q = make_queue()
        d = await q.add("n", 1, delay=timedelta(minutes=5))
        p = await q.add("n", 2, priority=3)
        assert await d.get_state() == JobState.DELAYED
        assert await p.get_state() == JobState.PRIORITIZED
        counts = await q.get_job_counts()
        assert counts["delayed"] == 1 and counts["prioritized"] == 1 and counts["waiting"] == 0

    async def test_default_job_options_apply(self, make_queue) -> None:
        """Queue defaults apply to every job, per-call options override them."""
        q = make_queue(default_job_options={"attempts": 4, "remove_on_complete": KeepJobs(count=10)})
        a = await q.add("n", 1)
        b = await q.add("n", 2, attempts=2)
        assert a.attempts == 4 and b.attempts == 2
        stored = await q.get_job(b.id)
        assert stored is not None and stored.opts.remove_on_complete == KeepJobs(count=10)


class TestAddBulk:
    async def test_bulk_adds_all_in_order(self, make_queue, redis) -> None:
        """add_bulk writes every job; ids follow the list order."""
        q = make_queue()
        jobs = await q.add_bulk(
            [{"name": "n", "data": {"i": i}, "opts": {"priority": 1} if i == 2 else {}} for i in range(5)]
        )
        assert [j.id for j in jobs] == ["1", "2", "3", "4", "5"]
        assert [j.data["i"] for j in jobs] == [0, 1, 2, 3, 4]
        counts = await q.get_job_counts()
        assert counts["waiting"] == 4 and counts["prioritized"] == 1

    async def test_bulk_with_one_bad_item_writes_nothing(self, make_queue, redis) -> None:
        """Validation happens for every item before the pipeline is sent."""
        q = make_queue()
        with pytest.raises(TypeError, match="item 2"):
            await q.add_bulk([{"name": "n", "data": 1}, {"name": "n", "data": 2}, {"name": "n", "data": {3}}])
        assert await redis.keys(f"{{{q.prefix}:*") == []

    async def test_bulk_survives_script_flush(self, make_queue, redis) -> None:
        """After SCRIPT FLUSH the scripts are loaded again and no job is written twice."""
        q = make_queue()
        await q.add("warm", 0)
        await redis.script_flush()
        jobs = await q.add_bulk([{"name": "n", "data": i} for i in range(3)])
        assert len(jobs) == 3
        assert await redis.llen(q.keys.wait) == 4


@pytest.mark.single_node(reason="a plain client's own pool and CLIENT LIST of one node")
class TestHeldConnection:
    """add() keeps one connection of the client's pool (framework/queue/held_connection.py)."""

    async def test_add_after_its_connection_was_killed_writes_the_job_once(self, redis_url, prefix) -> None:
        client = raw_client(redis_url, client_name="nestq-test-held")
        async with Queue("held", connection=client, prefix=prefix) as q:
            first = await q.add("n", {"i": 1})
            [held] = [
                c
                for c in await client.client_list()
                if c.get("name") == "nestq-test-held" and c.get("cmd") == "evalsha"
            ]
            await client.execute_command("CLIENT", "KILL", "ID", held["id"])

            second = await q.add("n", {"i": 2})  # the dead connection is dropped; the add goes through

            assert [first.id, second.id] == ["1", "2"]
            assert await client.lrange(q.keys.wait, 0, -1) == [b"2", b"1"]
        await client.aclose()

    async def test_close_gives_the_connection_back_to_a_client_passed_in(self, redis_url, prefix) -> None:
        client = raw_client(redis_url)
        q = Queue("held", connection=client, prefix=prefix)
        await q.add("n", {"i": 1})
        pool = client.connection_pool
        assert len(pool._in_use_connections) == 1  # held by the queue's add batcher
        await q.close()
        assert len(pool._in_use_connections) == 0
        assert await client.ping()  # the caller's client still works
        await client.aclose()

    async def test_a_one_connection_pool_is_not_held(self, redis_url, prefix) -> None:
        """A caller's deliberately small pool keeps its connection for their other commands."""
        client = raw_client(redis_url, max_connections=1)
        async with Queue("held", connection=client, prefix=prefix) as q:
            job = await q.add("n", {"i": 1})
            fetched = await q.get_job(job.id)  # "Too many connections" if add() had kept the only one
            assert fetched is not None and fetched.data == {"i": 1}
        await client.aclose()
