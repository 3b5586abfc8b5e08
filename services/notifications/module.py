"""`NotificationsModule`: the notifications queue and service, on top of email and users."""

from __future__ import annotations

from framework import Module, QueueModule
from services.email import EmailModule
from services.notifications.processor import NotificationsProcessor
from services.notifications.service import QUEUE, NotificationService
from services.users import UsersModule


class NotificationsModule(Module):
    imports = [QueueModule.register_queue(QUEUE), EmailModule, UsersModule]
    providers = [NotificationService]
    processors = [NotificationsProcessor]
    exports = [NotificationService]
