"""Reports: requested over HTTP, built in the background with progress, kept in a `ReportStore`."""

from services.reports.module import ReportsModule
from services.reports.schemas import ReportAccepted, ReportRequest, ReportStatus, ReportSummary
from services.reports.service import ReportBuilder, ReportsService
from services.reports.store import ReportStore

__all__ = [
    "ReportAccepted",
    "ReportBuilder",
    "ReportRequest",
    "ReportStatus",
    "ReportStore",
    "ReportSummary",
    "ReportsModule",
    "ReportsService",
]
