"""Maintenance: scheduled jobs. A daily cleanup of old reports and expired sessions, an hourly digest."""

from services.maintenance.module import MaintenanceModule
from services.maintenance.schemas import CleanupResult, DigestResult
from services.maintenance.service import MaintenanceService
from services.maintenance.settings import MaintenanceSettings

__all__ = ["CleanupResult", "DigestResult", "MaintenanceModule", "MaintenanceService", "MaintenanceSettings"]
