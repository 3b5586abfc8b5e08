"""`ReportsModule`: the reports queue, its processor, the service and the report store."""

from __future__ import annotations

from framework import Module, QueueModule
from services.email import EmailModule
from services.reports.processor import ReportsProcessor
from services.reports.service import QUEUE, ReportBuilder, ReportsService
from services.reports.store import ReportStore
from services.storage import StorageModule
from services.users import UsersModule


class ReportsModule(Module):
    imports = [
        QueueModule.register_queue(QUEUE),
        QueueModule.register_flow_producer(QUEUE),
        StorageModule,
        UsersModule,
        EmailModule,
    ]
    providers = [ReportStore, ReportBuilder, ReportsService]
    processors = [ReportsProcessor]
    exports = [ReportsService, ReportStore]
