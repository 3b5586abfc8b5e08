"""The mailers: SMTP against a real local SMTP server, files, the log; and the settings choosing them."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from services.email import (
    ConsoleMailer,
    DeliveryError,
    EmailSettings,
    FileMailer,
    SmtpMailer,
    SmtpSettings,
    create_mailer,
)
from services.email.mailer import build_message
from services.testing import SmtpSink, free_port


def message(to: str = "ada@example.com") -> EmailMessage:
    return build_message(
        sender="App <app@example.com>", to=to, subject="Hi", text="plain body\n", html="<p>html body</p>"
    )


class TestBuildMessage:
    def test_text_and_html_alternatives(self) -> None:
        """A message carries a text and an HTML alternative, with From, To, Subject, Date and Message-ID."""
        msg = message()
        assert msg.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
        assert msg["Message-ID"].endswith("@example.com>")
        assert msg["Date"] and msg["Subject"] == "Hi"


class TestSmtpMailer:
    async def test_delivers_to_the_server(self) -> None:
        """The SMTP server receives the message with its headers and both bodies."""
        with SmtpSink() as sink:
            await SmtpMailer(SmtpSettings(host="127.0.0.1", port=sink.port)).send(message())
        [got] = sink.messages
        assert got["To"] == "ada@example.com" and got["Subject"] == "Hi"
        assert got.get_body(("plain",)).get_content().strip() == "plain body"  # type: ignore[union-attr]
        assert "html body" in got.get_body(("html",)).get_content()  # type: ignore[union-attr]

    async def test_refused_recipient_is_permanent(self) -> None:
        """A 5xx refusal is a permanent DeliveryError (retrying cannot help)."""
        with SmtpSink(refuse=["gone@example.com"]) as sink:
            with pytest.raises(DeliveryError, match="550") as caught:
                await SmtpMailer(SmtpSettings(host="127.0.0.1", port=sink.port)).send(
                    message("gone@example.com")
                )
        assert caught.value.permanent
        assert sink.messages == []

    async def test_unreachable_server_is_temporary(self) -> None:
        """A server that does not answer is a temporary DeliveryError (the job retries)."""
        mailer = SmtpMailer(SmtpSettings(host="127.0.0.1", port=free_port(), timeout=2))
        with pytest.raises(DeliveryError, match="unreachable") as caught:
            await mailer.send(message())
        assert not caught.value.permanent


class TestDevelopmentMailers:
    async def test_file_mailer_writes_eml(self, tmp_path: Path) -> None:
        """The file mailer writes one .eml file per message, readable by any mail parser."""
        await FileMailer(tmp_path / "mail").send(message())
        [path] = list((tmp_path / "mail").glob("*.eml"))
        parsed = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        assert parsed["Subject"] == "Hi" and parsed["To"] == "ada@example.com"
        assert not list((tmp_path / "mail").glob("*.part"))

    async def test_console_mailer_logs(self) -> None:
        """The console mailer logs recipient, subject and text body."""
        with capture_logs() as logs:
            await ConsoleMailer().send(message())
        [entry] = [e for e in logs if e["event"] == "email"]
        assert entry["to"] == "ada@example.com" and entry["subject"] == "Hi" and "plain body" in entry["text"]


class TestEmailSettings:
    def test_from_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """NESTQ_MAILER and NESTQ_SMTP__* configure SMTP; the password never shows in repr."""
        monkeypatch.setenv("NESTQ_MAILER", "smtp")
        monkeypatch.setenv("NESTQ_MAIL_FROM", "Shop <shop@example.com>")
        monkeypatch.setenv("NESTQ_SMTP__HOST", "smtp.example.com")
        monkeypatch.setenv("NESTQ_SMTP__PORT", "2525")
        monkeypatch.setenv("NESTQ_SMTP__USERNAME", "shop")
        monkeypatch.setenv("NESTQ_SMTP__PASSWORD", "s3cret")
        settings = EmailSettings()
        assert (settings.smtp.host, settings.smtp.port, settings.smtp.username) == (
            "smtp.example.com",
            2525,
            "shop",
        )
        assert settings.smtp.password is not None and settings.smtp.password.get_secret_value() == "s3cret"
        assert "s3cret" not in repr(settings)
        mailer = create_mailer(settings)
        assert isinstance(mailer, SmtpMailer) and mailer.settings.host == "smtp.example.com"

    def test_development_defaults(self, tmp_path: Path) -> None:
        """`file` and `console` pick the development mailers."""
        assert isinstance(create_mailer(EmailSettings(mailer="file", mail_dir=tmp_path)), FileMailer)
        assert isinstance(create_mailer(EmailSettings(mailer="console")), ConsoleMailer)

    def test_bad_from_address(self) -> None:
        """A From without an address is refused, naming the variable."""
        with pytest.raises(ValueError, match="NESTQ_MAIL_FROM"):
            EmailSettings(mail_from="nobody")
