"""Every Redis key of a queue, in one place.

All keys of one queue share the hash tag `{prefix:queue}`, so every script touches a single slot and a
queue works unchanged on Redis Cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "nestq"


@dataclass(frozen=True, slots=True)
class QueueKeys:
    """Key names of one queue. `base` is `{prefix:name}`; a job's hash is `base:<job id>`."""

    prefix: str
    name: str

    @property
    def base(self) -> str:
        return f"{{{self.prefix}:{self.name}}}"

    @property
    def wait(self) -> str:
        return f"{self.base}:wait"

    @property
    def paused(self) -> str:
        return f"{self.base}:paused"

    @property
    def prioritized(self) -> str:
        return f"{self.base}:prioritized"

    @property
    def delayed(self) -> str:
        return f"{self.base}:delayed"

    @property
    def active(self) -> str:
        return f"{self.base}:active"

    @property
    def completed(self) -> str:
        return f"{self.base}:completed"

    @property
    def failed(self) -> str:
        return f"{self.base}:failed"

    @property
    def waiting_children(self) -> str:
        """Zset of flow parents waiting for their children (see flow.py)."""
        return f"{self.base}:waiting-children"

    @property
    def meta(self) -> str:
        return f"{self.base}:meta"

    @property
    def id_counter(self) -> str:
        return f"{self.base}:id"

    @property
    def priority_counter(self) -> str:
        return f"{self.base}:pc"

    @property
    def events(self) -> str:
        return f"{self.base}:events"

    @property
    def marker(self) -> str:
        return f"{self.base}:marker"

    @property
    def stalled_check(self) -> str:
        return f"{self.base}:stalled-check"

    @property
    def stalled(self) -> str:
        """Set of active jobs that had no lock at the last stall check (moved if still so at the next)."""
        return f"{self.base}:stalled"

    @property
    def limiter(self) -> str:
        return f"{self.base}:limiter"

    @property
    def cancelled(self) -> str:
        """Shard pub/sub channel on which workers hear cancel requests for their active jobs."""
        return f"{self.base}:cancelled"

    @property
    def schedulers(self) -> str:
        return f"{self.base}:schedulers"

    @property
    def declared_schedulers(self) -> str:
        """Set of the scheduler ids declared in code (@cron / @every), synced at application start."""
        return f"{self.base}:schedulers:declared"

    def metrics(self, kind: str) -> str:
        """Per-minute counts of `kind` ("completed" | "failed"): hash {count, prevTS, prevCount}."""
        return f"{self.base}:metrics:{kind}"

    def metrics_data(self, kind: str) -> str:
        """List of past minutes' counts of `kind`, newest first (see lua/includes/collectMetrics.lua)."""
        return f"{self.base}:metrics:{kind}:data"

    @property
    def metrics_totals(self) -> str:
        """Hash of totals and histogram buckets by job name, read by the Prometheus exposition."""
        return f"{self.base}:metrics:totals"

    @property
    def workers(self) -> str:
        """Zset of live workers (score: when the heartbeat lapses, ms); their details in `workers_info`."""
        return f"{self.base}:workers"

    @property
    def workers_info(self) -> str:
        return f"{self.base}:workers:info"

    @property
    def groups(self) -> str:
        """Ring (list) of the fair groups with waiting jobs, not paused (lua/includes/groups.lua)."""
        return f"{self.base}:groups"

    @property
    def groups_paused(self) -> str:
        """Set of paused group ids."""
        return f"{self.base}:gpaused"

    def group(self, group_id: str) -> str:
        """A fair group's list of waiting job ids (`:active` and `:limiter` beside it)."""
        return f"{self.base}:g:{group_id}"

    def deduplication(self, deduplication_id: str) -> str:
        """Holds the id of the job that owns a deduplication id."""
        return f"{self.base}:de:{deduplication_id}"

    def job(self, job_id: str) -> str:
        return f"{self.base}:{job_id}"

    def lock(self, job_id: str) -> str:
        return f"{self.base}:{job_id}:lock"

    def logs(self, job_id: str) -> str:
        return f"{self.base}:{job_id}:logs"

    def scheduler(self, scheduler_id: str) -> str:
        return f"{self.base}:scheduler:{scheduler_id}"

    def dependencies(self, job_id: str) -> str:
        """Set of a flow parent's pending children (their full job keys)."""
        return f"{self.base}:{job_id}:dependencies"

    def processed(self, job_id: str) -> str:
        """Hash of a flow parent's completed children: child key -> return value JSON."""
        return f"{self.base}:{job_id}:processed"

    def failed_children(self, job_id: str) -> str:
        """Hash of a flow parent's children whose failure was ignored: child key -> failed reason."""
        return f"{self.base}:{job_id}:failed"

    def unsuccessful(self, job_id: str) -> str:
        """Zset of a flow parent's children that failed it (fail_parent_on_failure)."""
        return f"{self.base}:{job_id}:unsuccessful"

    # KEYS lists of the scripts called from more than one place, in the order their headers give.

    def bulk_record(self, call: str, chunk: int) -> str:
        """The record of one add_bulk chunk (addJobsOnce): its reply, for a resend to return."""
        return f"{self.base}:bulk:{call}:{chunk}"

    def add_keys(self) -> list[str]:
        """KEYS of addJob / addJobs."""
        return [self.wait, self.prioritized, self.delayed, self.meta, self.id_counter, self.priority_counter,
                self.events, self.marker]  # fmt: skip

    def fetch_keys(self) -> list[str]:
        """KEYS of moveToActive (also the first nine of moveToFinished)."""
        return [self.wait, self.active, self.prioritized, self.delayed, self.meta, self.events, self.marker,
                self.limiter, self.priority_counter]  # fmt: skip

    def finish_keys(self) -> list[str]:
        """KEYS of moveToFinished."""
        return [*self.fetch_keys(), self.completed, self.failed, self.metrics("completed"),
                self.metrics_data("completed"), self.metrics("failed"), self.metrics_data("failed"),
                self.metrics_totals, *self.retention_keys(self.completed),
                *self.retention_keys(self.failed)]  # fmt: skip

    @staticmethod
    def retention_keys(finished: str) -> list[str]:
        """A finished set's retention indexes (lua/includes/trimFinished.lua): uncounted, counted, expiry."""
        return [f"{finished}:uncounted", f"{finished}:counted", f"{finished}:expiry"]

    def state_keys(self, job_id: str) -> list[str]:
        """KEYS of getState."""
        return [self.completed, self.failed, self.delayed, self.active, self.prioritized, self.wait,
                self.meta, self.job(job_id), self.waiting_children]  # fmt: skip

    def remove_keys(self) -> list[str]:
        """KEYS of removeJob."""
        return [self.wait, self.prioritized, self.delayed, self.completed, self.failed, self.active,
                self.events, self.waiting_children]  # fmt: skip

    def flow_keys(self) -> list[str]:
        """One queue's group of KEYS in addFlow."""
        return [*self.add_keys(), self.waiting_children]

    def stall_keys(self) -> list[str]:
        """KEYS of moveStalledJobsToWait."""
        return [self.active, self.wait, self.prioritized, self.priority_counter, self.failed,
                self.stalled_check, self.events, self.marker, self.stalled]  # fmt: skip

    def schedule_keys(self, scheduler_id: str) -> list[str]:
        """KEYS of scheduleNext (also the first nine of upsertJobScheduler)."""
        return [self.schedulers, self.scheduler(scheduler_id), self.wait, self.prioritized, self.delayed,
                self.meta, self.priority_counter, self.events, self.marker]  # fmt: skip

    def upsert_scheduler_keys(self, scheduler_id: str) -> list[str]:
        """KEYS of upsertJobScheduler."""
        return [*self.schedule_keys(scheduler_id), self.completed, self.failed]

    def remove_scheduler_keys(self, scheduler_id: str) -> list[str]:
        """KEYS of removeJobScheduler."""
        return [self.schedulers, self.scheduler(scheduler_id), self.wait, self.prioritized, self.delayed,
                self.events]  # fmt: skip

    def remove_declared_scheduler_keys(self, scheduler_id: str) -> list[str]:
        """KEYS of removeDeclaredScheduler."""
        return [*self.remove_scheduler_keys(scheduler_id), self.declared_schedulers]


def escape_glob(text: str) -> str:
    """`text` with the glob characters of SCAN MATCH escaped, so a key prefix matches only itself."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
