"""The composition root: `nestq run container:AppModule`.

The connection comes from the settings (`NESTQ_REDIS_URL`, else the embedded server); the default
job options are the ones every queue starts from (each job may override them at `add()`).
"""

from __future__ import annotations

from framework.di import Module, QueueModule
from framework.queue import Backoff, JobOptions
from services.email import EmailModule
from services.maintenance import MaintenanceModule
from services.notifications import NotificationsModule
from services.reports import ReportsModule

DEFAULT_JOB_OPTIONS = JobOptions(
    attempts=3,
    backoff=Backoff.exponential(1.0),
    remove_on_complete=1000,
    remove_on_fail=5000,
)


class AppModule(Module):
    """Every queue of the application and the four services (each module imports what it needs)."""

    imports = [
        QueueModule.for_root(default_job_options=DEFAULT_JOB_OPTIONS),
        QueueModule.register_queue("email", "reports", "notifications", "maintenance"),
        EmailModule,
        ReportsModule,
        NotificationsModule,
        MaintenanceModule,
    ]
