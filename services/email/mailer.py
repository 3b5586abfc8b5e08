"""The `Mailer` interface and its implementations: SMTP for production, files or the log for development.

A mailer only transports a finished `email.message.EmailMessage`; rendering and retries happen elsewhere
(the templates, and the email queue's job options). A mailer raises `DeliveryError`, saying whether
trying again could help.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Protocol

import aiosmtplib
import structlog

from services.email.settings import EmailSettings, SmtpSettings

log = structlog.get_logger("services.email")


class DeliveryError(Exception):
    """A message was not delivered. `permanent`: the server refused it for good (5xx); do not retry."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Mailer(Protocol):
    """Delivers one email message."""

    async def send(self, message: EmailMessage) -> None:
        """Deliver `message` to its To recipients, or raise `DeliveryError`."""
        ...


class SmtpMailer:
    """Delivers through an SMTP server (one connection per message, STARTTLS when offered)."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    async def send(self, message: EmailMessage) -> None:
        s = self.settings
        try:
            errors, _ = await aiosmtplib.send(
                message,
                hostname=s.host,
                port=s.port,
                username=s.username,
                password=None if s.password is None else s.password.get_secret_value(),
                use_tls=s.use_tls,
                start_tls=s.start_tls,
                timeout=s.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise DeliveryError(
                f"SMTP {s.host}:{s.port} refused {message['To']}: "
                + "; ".join(f"{r.code} {r.message}" for r in exc.recipients),
                permanent=all(code >= 500 for code in codes),
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"SMTP {s.host}:{s.port} answered {exc.code} {exc.message}", permanent=exc.code >= 500
            ) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            # Connection refused or dropped, timeouts: the server may be back on the next attempt.
            raise DeliveryError(f"SMTP {s.host}:{s.port} unreachable: {exc}") from exc
        if errors:
            raise DeliveryError(
                f"SMTP {s.host}:{s.port} refused some recipients: "
                + "; ".join(f"{rcpt}: {r.code} {r.message}" for rcpt, r in errors.items()),
                permanent=all(r.code >= 500 for r in errors.values()),
            )


class FileMailer:
    """Writes each message as an `.eml` file into a folder (open it with any mail program)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._write, message)

    def _write(self, message: EmailMessage) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{_safe(message['Message-ID'] or str(time.time_ns()))}"
        path = self.directory / f"{stem}.eml"
        partial = path.with_suffix(".eml.part")
        partial.write_bytes(message.as_bytes())
        os.replace(partial, path)  # a reader never sees half a message
        log.info("email written", to=message["To"], subject=message["Subject"], path=str(path))
        return path


class ConsoleMailer:
    """Logs each message (recipient, subject and text body) instead of sending it."""

    async def send(self, message: EmailMessage) -> None:
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if isinstance(body, EmailMessage) else ""
        log.info("email", to=message["To"], subject=message["Subject"], text=text)


def create_mailer(settings: EmailSettings) -> Mailer:
    """The mailer `settings.mailer` names (`NESTQ_MAILER`)."""
    if settings.mailer == "smtp":
        return SmtpMailer(settings.smtp)
    if settings.mailer == "file":
        return FileMailer(settings.mail_dir)
    return ConsoleMailer()


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text.strip("<>"))[:120]


def build_message(
    *, sender: str, to: str, subject: str, text: str, html: str, message_id: str | None = None
) -> EmailMessage:
    """A multipart/alternative message: the text body first, the HTML one preferred by mail programs."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id or make_msgid(domain=domain_of(sender))
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def domain_of(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2] or "localhost"
