"""Maintenance settings, from the environment (`NESTQ_DIGEST_EVERY`, `NESTQ_REPORT_RETENTION_DAYS`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MaintenanceSettings(BaseSettings):
    """Attributes:
    digest_every: seconds between two digest runs (`NESTQ_DIGEST_EVERY`, default one hour). Read when
        the processor is imported, since it is the `@every` interval of the `hourly-digest` scheduler.
    report_retention_days: the daily cleanup deletes reports older than this.
    """

    model_config = SettingsConfigDict(env_prefix="NESTQ_", env_file=".env", extra="ignore")

    digest_every: float = Field(default=3600.0, gt=0)
    report_retention_days: float = Field(default=30.0, gt=0)


def load_maintenance_settings() -> MaintenanceSettings:
    """The settings as the environment (and `.env`) gives them now."""
    return MaintenanceSettings()
