"""Email settings, from the environment (`NESTQ_MAILER`, `NESTQ_MAIL_FROM`, `NESTQ_SMTP__HOST`, ...)."""

from __future__ import annotations

from email.utils import parseaddr
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SmtpSettings(BaseModel):
    """The SMTP server (`NESTQ_SMTP__*`).

    Attributes:
        host, port: the server.
        username, password: credentials; login happens only when a username is set.
        use_tls: TLS from the first byte (usually port 465).
        start_tls: upgrade with STARTTLS; None upgrades when the server offers it.
        timeout: seconds for each step of the conversation.
    """

    host: str = "localhost"
    port: int = Field(default=587, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    use_tls: bool = False
    start_tls: bool | None = None
    timeout: float = Field(default=30.0, gt=0)


class EmailSettings(BaseSettings):
    """How the email service delivers.

    Attributes:
        mailer: `smtp` (production), `file` (writes .eml files to `mail_dir`; the default, for development)
            or `console` (logs each message).
        mail_from: the From header, `Name <address>` or a bare address.
        mail_dir: folder of the `file` mailer.
        smtp: the SMTP server (`NESTQ_SMTP__HOST`, `__PORT`, `__USERNAME`, `__PASSWORD`, `__USE_TLS`, ...).
    """

    model_config = SettingsConfigDict(
        env_prefix="NESTQ_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    mailer: Literal["smtp", "file", "console"] = "file"
    mail_from: str = "nestq <no-reply@localhost>"
    mail_dir: Path = Path(".nestq/mail")
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)

    @field_validator("mail_from")
    @classmethod
    def _check_from(cls, value: str) -> str:
        _, address = parseaddr(value)
        if "@" not in address:
            raise ValueError(
                f"NESTQ_MAIL_FROM must be an address such as 'App <app@example.com>', got {value!r}"
            )
        return value


def load_email_settings() -> EmailSettings:
    """The settings as the environment (and `.env`) gives them now."""
    return EmailSettings()
