"""`MaintenanceModule`: the maintenance queue and its scheduled jobs (daily cleanup, hourly digest)."""

from __future__ import annotations

from framework import Module, QueueModule, provide
from services.maintenance.processor import QUEUE, MaintenanceProcessor
from services.maintenance.service import MaintenanceService
from services.maintenance.settings import MaintenanceSettings, load_maintenance_settings
from services.notifications import NotificationsModule
from services.reports import ReportsModule
from services.users import UsersModule


class MaintenanceModule(Module):
    imports = [QueueModule.register_queue(QUEUE), ReportsModule, UsersModule, NotificationsModule]
    providers = [provide(MaintenanceSettings, use_factory=load_maintenance_settings), MaintenanceService]
    processors = [MaintenanceProcessor]
    exports = [MaintenanceService]
