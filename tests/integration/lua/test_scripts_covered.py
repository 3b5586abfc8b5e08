"""Every Lua script has tests here, loads on the server, and declares the key count it really uses."""

from __future__ import annotations

import re

import pytest
import redis.asyncio as aioredis

from framework.queue.keys import QueueKeys
from framework.queue.options import RESERVED_JOB_IDS
from framework.queue.scripts import LUA_DIR, load_scripts

# Script name -> the test module that calls it directly. A new script must get its own tests.
COVERED = {
    "addJob": "test_add_job",
    "addJobs": "test_add_jobs",
    "addFlow": "test_add_flow",
    "addJobsOnce": "test_add_jobs_once",
    "jobSummary": "test_job_summary",
    "moveToActive": "test_move_to_active",
    "moveToFinished": "test_move_to_finished",
    "extendLocks": "test_extend_locks",
    "moveStalledJobsToWait": "test_move_stalled_jobs_to_wait",
    "pause": "test_pause",
    "promote": "test_promote",
    "retryJobs": "test_retry_jobs",
    "removeJob": "test_remove_job",
    "drain": "test_drain",
    "cleanJobs": "test_clean_jobs",
    "updateProgress": "test_progress_and_logs",
    "addLog": "test_progress_and_logs",
    "getState": "test_get_state",
    "releaseJobs": "test_release_jobs",
    "cancelJob": "test_cancel_job",
    "upsertJobScheduler": "test_job_schedulers",
    "scheduleNext": "test_job_schedulers",
    "removeJobScheduler": "test_job_schedulers",
    "heartbeat": "test_heartbeat",
    "declareSchedulers": "test_declared_schedulers",
    "removeDeclaredScheduler": "test_declared_schedulers",
    "addControlledJob": "test_job_control_scripts",
    "moveActiveJob": "test_job_control_scripts",
    "updateJobData": "test_job_control_scripts",
    "changePriority": "test_job_control_scripts",
    "changeDelay": "test_job_control_scripts",
    "clearLogs": "test_job_control_scripts",
    "setQueueLimits": "test_job_control_scripts",
    "pauseGroup": "test_job_control_scripts",
}


def test_every_script_has_direct_tests() -> None:
    on_disk = {p.stem.rpartition("-")[0] for p in LUA_DIR.glob("*.lua")}
    assert on_disk == set(COVERED), "add tests in tests/integration/lua/ for new scripts"


def test_key_count_in_the_file_name_covers_every_key_the_script_uses() -> None:
    # A KEYS[n] beyond the declared count would be nil at run time (and break cluster slot routing).
    for name, lua in load_scripts().items():
        body = lua.source.split("]]", 1)[-1]  # past the header, which names keys in prose
        used = {int(n) for n in re.findall(r"KEYS\[(\d+)\]", body)}
        assert used, name
        assert max(used) <= lua.num_keys, f"{name} uses KEYS[{max(used)}] but declares {lua.num_keys}"


def test_no_job_id_can_name_one_of_the_queue_keys() -> None:
    keys = QueueKeys("p", "q")
    base = keys.base + ":"
    own = {
        getattr(keys, name)[len(base) :]
        for name, attr in vars(QueueKeys).items()
        if isinstance(attr, property) and name != "base"
    }
    assert own <= RESERVED_JOB_IDS, (
        f"job ids that would overwrite queue keys: {sorted(own - RESERVED_JOB_IDS)}"
    )
    assert keys.scheduler("x").startswith(base + "scheduler:") and "scheduler" in RESERVED_JOB_IDS


def test_includes_are_all_resolved() -> None:
    for name, lua in load_scripts().items():
        assert "@include" not in lua.source, name


@pytest.mark.parametrize("name", sorted(load_scripts()))
async def test_script_compiles_on_the_server(redis: aioredis.Redis, name: str) -> None:
    lua = load_scripts()[name]
    sha = await redis.execute_command("SCRIPT", "LOAD", lua.source)
    assert (sha.decode() if isinstance(sha, bytes) else sha) == lua.sha
