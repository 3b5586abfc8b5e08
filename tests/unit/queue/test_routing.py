"""Which partition holds a job: fixed values, so a change of the hash (which would strand every stored job
of a partitioned queue) fails here first."""

from __future__ import annotations

import pytest

from framework.queue.routing import (
    check_partitions,
    job_partition,
    new_job_id,
    partition_name,
    partition_of,
    split_partition_name,
)


def test_partition_of_is_fixed() -> None:
    assert [partition_of(key, 6) for key in ("order-1", "order-2", "tenant-9", "a")] == [1, 3, 1, 3]
    assert partition_of("anything", 1) == 0


def test_scheduler_jobs_live_with_their_scheduler() -> None:
    assert job_partition("repeat:tick:1700000000000", 6) == partition_of("tick", 6) == 4
    assert job_partition("repeat:", 6) == partition_of("repeat:", 6)  # not a scheduler's job id


def test_new_ids_land_where_asked_and_are_valid_job_ids() -> None:
    for partition in range(6):
        job_id = new_job_id(6, partition)
        assert partition_of(job_id, 6) == partition
        assert "-" in job_id and ":" not in job_id and not job_id.isdigit()
    assert len({new_job_id(6) for _ in range(1000)}) == 1000


def test_names() -> None:
    assert partition_name("hot", 3) == "hot#3"
    assert split_partition_name("hot#3") == ("hot", 3)
    for name in ("hot", "hot#", "#3", "hot#03", "hot#x"):
        assert split_partition_name(name) is None


@pytest.mark.parametrize("bad", [0, -1, 1025, True, "3", 2.0, None])
def test_bad_counts_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="partitions must be an int from 1 to 1024"):
        check_partitions(bad)
