"""Email: templates rendered with Jinja2, queued `send` jobs with retries, delivered by a `Mailer`."""

from services.email.mailer import ConsoleMailer, DeliveryError, FileMailer, Mailer, SmtpMailer, create_mailer
from services.email.module import EmailModule
from services.email.schemas import RenderedEmail, SendEmail, SentEmail
from services.email.service import EmailService
from services.email.settings import EmailSettings, SmtpSettings
from services.email.templates import TemplateError, TemplateRenderer

__all__ = [
    "ConsoleMailer",
    "DeliveryError",
    "EmailModule",
    "EmailService",
    "EmailSettings",
    "FileMailer",
    "Mailer",
    "RenderedEmail",
    "SendEmail",
    "SentEmail",
    "SmtpMailer",
    "SmtpSettings",
    "TemplateError",
    "TemplateRenderer",
    "create_mailer",
]
