"""`EmailModule`: the email queue, its processor, the templates and the configured `Mailer`."""

from __future__ import annotations

from framework import Module, QueueModule, provide
from services.email.mailer import Mailer, create_mailer
from services.email.processor import EmailProcessor
from services.email.service import QUEUE, EmailService
from services.email.settings import EmailSettings, load_email_settings
from services.email.templates import TemplateRenderer


class EmailModule(Module):
    imports = [QueueModule.register_queue(QUEUE)]
    providers = [
        provide(EmailSettings, use_factory=load_email_settings),
        provide(Mailer, use_factory=create_mailer),
        TemplateRenderer,
        EmailService,
    ]
    processors = [EmailProcessor]
    exports = [EmailService, Mailer, TemplateRenderer]
