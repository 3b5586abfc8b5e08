"""`nestq` as a user meets it, run as a real process: help, version, completion, errors, global options,
confirmations, the width of tables, and the ops commands add / cancel / remove / drain / obliterate /
schedulers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from framework.queue import Backoff, Job, Queue, Repeat, Worker

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def env(redis_url: str, prefix: str) -> dict[str, str]:
    """The environment of a `nestq` process on the test server and this test's prefix."""
    return {
        **os.environ,
        "NESTQ_REDIS_URL": redis_url,
        "NESTQ_PREFIX": prefix,
        "PYTHONPATH": str(ROOT),
        "COLUMNS": "100",
    }


def nestq(
    *args: str, env: dict[str, str], input: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "framework", *args],
        env=env,
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


@pytest.fixture
def queue_names(redis_url: str, prefix: str) -> Iterator[list[str]]:
    """Queues a test creates; obliterated after it."""
    names: list[str] = []
    yield names

    async def cleanup() -> None:
        for name in names:
            async with Queue(name, connection=redis_url, prefix=prefix) as queue:
                await queue.obliterate(force=True)

    asyncio.run(cleanup())


def _in_queue(redis_url: str, prefix: str, name: str, action: Any) -> Any:
    async def go() -> Any:
        async with Queue(name, connection=redis_url, prefix=prefix) as queue:
            return await action(queue)

    return asyncio.run(go())


def _completed_job(redis_url: str, prefix: str, name: str) -> str:
    async def handler(job: Job[Any]) -> Any:
        return {"sent": job.data}

    async def go() -> str:
        async with Queue(name, connection=redis_url, prefix=prefix) as queue:
            job = await queue.add("send", {"to": "a@example.com"})
            worker = Worker(name, handler, connection=redis_url, prefix=prefix)
            await worker.run_until_drained()
            await worker.close()
            return job.id

    return asyncio.run(go())


class TestHelpAndVersion:
    def test_bare_nestq_prints_help_and_exits_0(self, env: dict[str, str]) -> None:
        """`nestq` alone shows the help (commands and examples) instead of an error."""
        result = nestq(env=env)
        assert result.returncode == 0, result.stderr
        assert "Usage: nestq" in result.stdout and "queues" in result.stdout and "Examples" in result.stdout

    def test_version(self, env: dict[str, str]) -> None:
        """`nestq --version` prints the installed version."""
        result = nestq("--version", env=env)
        assert result.returncode == 0
        assert result.stdout.startswith("nestq ") and result.stdout.split()[1][0].isdigit()

    # ~25 `nestq ... --help` processes, each importing nestq (~2 s of CPU): well over the suite's 120 s
    # per-test limit on a loaded 2-core machine, though each command answers alone in a few seconds.
    @pytest.mark.timeout(600)
    def test_every_help_has_examples_and_explains_its_positionals(self, env: dict[str, str]) -> None:
        """Each command's --help has an Examples section, and each positional argument a help text."""
        listing = nestq("--help", env=env).stdout
        commands = [
            "run",
            "worker",
            "dashboard",
            "queues",
            "jobs",
            "job",
            "retry",
            "promote",
            "clean",
            "pause",
            "resume",
            "add",
            "cancel",
            "remove",
            "drain",
            "obliterate",
            "schedulers",
            "completion",
        ]
        for command in commands:
            assert f" {command} " in listing, command
        for argv in [[c] for c in commands] + [["schedulers", "list"], ["schedulers", "remove"]]:
            result = nestq(*argv, "--help", env=env)
            assert result.returncode == 0, (argv, result.stderr)
            assert "Examples" in result.stdout and "$ nestq" in result.stdout, argv
        jobs_help = nestq("jobs", "--help", env=env).stdout
        assert "Arguments" in jobs_help and "The queue's name." in jobs_help
        retry_help = nestq("retry", "--help", env=env).stdout
        assert "The job to retry" in retry_help

    def test_shell_completion(self, env: dict[str, str]) -> None:
        """`nestq completion bash` prints a script, and the completion protocol completes command names."""
        script = nestq("completion", "bash", env=env)
        assert script.returncode == 0 and "_NESTQ_COMPLETE" in script.stdout
        completing = {**env, "_NESTQ_COMPLETE": "bash_complete"}
        completing.update(COMP_WORDS="nestq que", COMP_CWORD="1")
        result = nestq(env=completing)
        assert "queues" in result.stdout


class TestUserErrors:
    def test_a_bad_log_level_is_one_line_and_exit_2(self, env: dict[str, str]) -> None:
        """`nestq --log-level bogus queues`: one line naming the valid levels, exit 2, no traceback."""
        result = nestq("--log-level", "bogus", "queues", env=env)
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert "'bogus' is not a log level" in result.stderr and "DEBUG" in result.stderr

    def test_unknown_command_and_missing_argument(self, env: dict[str, str]) -> None:
        """A typo in a command or a missing positional is a one-line usage error, exit 2."""
        for argv in (["queus"], ["jobs"], ["add", "email"]):
            result = nestq(*argv, env=env)
            assert result.returncode == 2, argv
            assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr, argv

    def test_a_bad_setting_is_one_line(self, env: dict[str, str]) -> None:
        """A wrong NESTQ_LOG_LEVEL is reported in one line naming the variable, no traceback."""
        result = nestq("queues", env={**env, "NESTQ_LOG_LEVEL": "loud"})
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert "NESTQ_LOG_LEVEL" in result.stderr and len(result.stderr.strip().splitlines()) == 1


class TestGlobalOptions:
    def test_log_level_and_json_before_or_after_the_command(
        self, env: dict[str, str], redis_url: str, prefix: str, queue_names: list[str]
    ) -> None:
        """--log-level and --json are accepted on either side of the command name."""
        queue_names.append("email")
        _in_queue(redis_url, prefix, "email", lambda q: q.add("send", {}))
        for argv in (
            ["--json", "--log-level", "debug", "queues"],
            ["queues", "--json", "--log-level", "DEBUG"],
            ["--log-level", "warning", "queues", "--json"],
        ):
            result = nestq(*argv, env=env)
            assert result.returncode == 0, (argv, result.stderr)
            assert [q["name"] for q in json.loads(result.stdout)] == ["email"], argv

    def test_ops_commands_do_not_log_the_embedded_server_each_call(self, tmp_path: Path) -> None:
        """Without NESTQ_REDIS_URL, `nestq queues` twice prints no "embedded server attached" line."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("NESTQ_")}
        env["PYTHONPATH"] = str(ROOT)
        for _ in range(2):
            result = nestq("queues", env=env, cwd=tmp_path)
            assert result.returncode == 0, result.stderr
            assert "embedded server attached" not in result.stderr + result.stdout


class TestConfirmations:
    def test_retrying_a_completed_job_asks_first(
        self, env: dict[str, str], redis_url: str, prefix: str, queue_names: list[str]
    ) -> None:
        """`nestq retry` of a completed job asks; no answer does nothing, "y" or --yes retries it."""
        queue_names.append("email")
        job_id = _completed_job(redis_url, prefix, "email")

        def state() -> str:
            return str(_in_queue(redis_url, prefix, "email", lambda q: q.get_job_state(job_id)))

        refused = nestq("retry", "email", job_id, env=env, input="")
        assert refused.returncode == 1 and "run it again?" in refused.stderr
        assert "not confirmed" in refused.stderr and state() == "completed"
        said_no = nestq("retry", "email", job_id, env=env, input="n\n")
        assert said_no.returncode == 1 and state() == "completed"
        said_yes = nestq("retry", "email", job_id, env=env, input="y\n")
        assert said_yes.returncode == 0 and f"Job {job_id} retried" in said_yes.stdout
        assert state() == "waiting"

    def test_yes_skips_the_question(
        self, env: dict[str, str], redis_url: str, prefix: str, queue_names: list[str]
    ) -> None:
        """--yes retries a completed job without asking."""
        queue_names.append("email")
        job_id = _completed_job(redis_url, prefix, "email")
        result = nestq("retry", "email", job_id, "--yes", "--json", env=env)
        assert result.returncode == 0 and json.loads(result.stdout)["job_id"] == job_id
        assert "?" not in result.stderr

    def test_drain_and_obliterate_ask_unless_yes(
        self, env: dict[str, str], redis_url: str, prefix: str, queue_names: list[str]
    ) -> None:
        """drain and obliterate change nothing without a yes; with --yes they empty / delete the queue."""
        queue_names.append("bulk")

        async def seed(queue: Queue) -> None:
            for i in range(3):
                await queue.add("n", {"i": i})
            await queue.add("later", {}, delay=3600)

        _in_queue(redis_url, prefix, "bulk", seed)
        counts = lambda: _in_queue(redis_url, prefix, "bulk", lambda q: q.get_job_counts())  # noqa: E731
        refused = nestq("drain", "bulk", env=env)
        assert refused.returncode == 1 and "Remove the 3 jobs waiting in bulk?" in refused.stderr
        assert counts()["waiting"] == 3
        drained = nestq("drain", "bulk", "--yes", "--json", env=env)
        assert drained.returncode == 0 and json.loads(drained.stdout)["count"] == 3
        assert counts()["waiting"] == 0 and counts()["delayed"] == 1
        assert nestq("obliterate", "bulk", env=env, input="no\n").returncode == 1
        assert counts()["delayed"] == 1
        gone = nestq("obliterate", "bulk", "-y", env=env)
        assert gone.returncode == 0 and "obliterated" in gone.stdout
        assert sum(counts().values()) == 0


class TestOpsCommands:
    def test_add_cancel_remove(
        self, env: dict[str, str], redis_url: str, prefix: str, queue_names: list[str]
    ) -> None:
        """`nestq add` adds a job with data and options; cancel fails a pending one; remove deletes it."""
        queue_names.append("email")
        added = nestq(
            "add", "email", "send", "--data", '{"to": "a@example.com"}', "--delay", "60", "--json", env=env
        )
        assert added.returncode == 0, added.stderr
        job_id = json.loads(added.stdout)["job_id"]
        assert "adding to a new queue 'email'" in added.stderr
        job = _in_queue(redis_url, prefix, "email", lambda q: q.get_job(job_id))
        assert job.data == {"to": "a@example.com"} and job.name == "send"
        assert str(_in_queue(redis_url, prefix, "email", lambda q: q.get_job_state(job_id))) == "delayed"
        bad = nestq("add", "email", "send", "--data", "{not json", env=env)
        assert bad.returncode == 2 and "--data is not valid JSON" in bad.stderr
        cancelled = nestq("cancel", "email", job_id, env=env)
        assert cancelled.returncode == 0 and f"Job {job_id} cancelled" in cancelled.stdout
        assert str(_in_queue(redis_url, prefix, "email", lambda q: q.get_job_state(job_id))) == "failed"
        again = nestq("cancel", "email", job_id, env=env)
        assert again.returncode == 1 and "failed already" in again.stderr
        removed = nestq("remove", "email", job_id, env=env)
        assert removed.returncode == 0 and f"Job {job_id} removed" in removed.stdout
        assert _in_queue(redis_url, prefix, "email", lambda q: q.get_job(job_id)) is None

    def test_schedulers_list_and_remove(
        self, env: dict[str, str], redis_url: str, prefix: str, queue_names: list[str]
    ) -> None:
        """`nestq schedulers QUEUE` lists the schedulers; `nestq schedulers remove QUEUE ID` removes one."""
        queue_names.append("ticks")

        async def seed(queue: Queue) -> None:
            await queue.upsert_job_scheduler("tick", Repeat(every=3600), name="tick")
            await queue.upsert_job_scheduler("nightly", Repeat(cron="0 3 * * *"), name="report")

        _in_queue(redis_url, prefix, "ticks", seed)
        table = nestq("schedulers", "ticks", env=env)
        assert table.returncode == 0, table.stderr
        assert "tick" in table.stdout and "nightly" in table.stdout and "0 3 * * *" in table.stdout
        listing = json.loads(nestq("schedulers", "ticks", "--json", env=env).stdout)
        assert sorted(s["id"] for s in listing["schedulers"]) == ["nightly", "tick"]
        removed = nestq("schedulers", "remove", "ticks", "tick", env=env)
        assert removed.returncode == 0 and "Scheduler tick removed" in removed.stdout
        left = json.loads(nestq("schedulers", "list", "ticks", "--json", env=env).stdout)
        assert [s["id"] for s in left["schedulers"]] == ["nightly"]
        missing = nestq("schedulers", "remove", "ticks", "tick", env=env)
        assert missing.returncode == 1 and "no scheduler 'tick'" in missing.stderr


class TestJobDetail:
    def test_a_job_waiting_out_its_backoff_shows_when_it_is_due(
        self, env: dict[str, str], redis_url: str, prefix: str, queue_names: list[str]
    ) -> None:
        """`nestq job` of a job that failed and waits out a retry backoff has a Due row (and due_on)."""
        queue_names.append("flaky")

        async def fail(job: Job[Any]) -> Any:
            raise ConnectionError("gateway down")

        async def seed() -> str:
            async with Queue("flaky", connection=redis_url, prefix=prefix) as queue:
                job = await queue.add("charge", {}, attempts=3, backoff=Backoff.fixed(3600))
                worker = Worker("flaky", fail, connection=redis_url, prefix=prefix)
                await worker.run_until_drained()
                await worker.close()
                return job.id

        job_id = asyncio.run(seed())
        detail = json.loads(nestq("job", "flaky", job_id, "--json", env=env).stdout)
        assert detail["state"] == "delayed" and detail["due_on"] > detail["timestamp"]
        table = nestq("job", "flaky", job_id, env=env)
        assert table.returncode == 0
        (due,) = [line for line in table.stdout.splitlines() if " Due " in line]
        assert "(in 5" in due, due  # "(in 59 min 59 s)", an hour away


class TestTables:
    def test_job_ids_do_not_wrap_at_80_columns(
        self, env: dict[str, str], redis_url: str, prefix: str, queue_names: list[str]
    ) -> None:
        """At 80 columns every job id of `nestq jobs` is printed whole on one line; no line is wider."""
        queue_names.append("wide")
        ids = [f"invoice-2026-12-01-customer-{n:04d}-abcdef" for n in range(3)]

        async def seed(queue: Queue) -> None:
            for job_id in ids:
                await queue.add("a-rather-long-job-name-for-invoices", {"x": "y" * 200}, job_id=job_id)

        _in_queue(redis_url, prefix, "wide", seed)
        result = nestq("jobs", "wide", env={**env, "COLUMNS": "80"})
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        for job_id in ids:
            assert any(line.startswith(job_id + " ") for line in lines), result.stdout
        assert max(len(line) for line in lines) <= 80, result.stdout


APP = textwrap.dedent(
    """
    from framework.di import Module, QueueModule, process, processor


    @processor("cli")
    class EchoProcessor:
        @process("echo")
        async def echo(self, job):
            return job.data


    class AppModule(Module):
        imports = [QueueModule.for_root(), QueueModule.register_queue("cli")]
        processors = [EchoProcessor]
    """
)


def _free_port_in_range() -> int:
    for port in range(8450, 8500):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 8450-8499")


def test_run_accepts_port_for_its_dashboard(tmp_path: Path, env: dict[str, str], prefix: str) -> None:
    """`nestq run APP --port N` serves the dashboard on N and exits 0 on SIGTERM."""
    (tmp_path / "cli_port_app.py").write_text(APP)
    port = _free_port_in_range()
    proc = subprocess.Popen(
        [sys.executable, "-m", "framework", "run", "cli_port_app:AppModule", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/admin/queues/", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "the dashboard did not come up"
                time.sleep(0.1)
        assert response.status_code == 200 and 'data-queue="cli"' in response.text
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output
