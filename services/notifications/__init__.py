"""Notifications: the emails users get (welcome, digest, broadcasts), queued on the email queue."""

from services.notifications.module import NotificationsModule
from services.notifications.schemas import Broadcast, BroadcastResult
from services.notifications.service import NotificationService

__all__ = ["Broadcast", "BroadcastResult", "NotificationService", "NotificationsModule"]
