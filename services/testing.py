"""Test helpers of the services: a fake `Mailer` (email leaves the project) and `eventually`."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterable, Mapping
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Protocol

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from framework import Application, Module
from services.email import DeliveryError


class FakeMailer:
    """Keeps the messages it is given; `fail_next(...)` makes the next sends raise."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self._failures: list[DeliveryError] = []

    def fail_next(self, *errors: DeliveryError) -> None:
        self._failures.extend(errors)

    async def send(self, message: EmailMessage) -> None:
        if self._failures:
            raise self._failures.pop(0)
        self.sent.append(message)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.sent if m["To"] == address]


class MakeApp(Protocol):
    async def __call__(
        self, *imports: type[Module], overrides: Mapping[object, object] | None = None
    ) -> Application: ...


async def eventually(check: Callable[[], object], timeout: float = 10.0, interval: float = 0.02) -> None:
    """Wait until `check()` (sync or async) is truthy; fail after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


class SmtpSink:
    """A real SMTP server on a free local port (aiosmtpd, in a thread of its own) keeping what it gets.

    Recipients in `refuse` are answered `550` (a permanent refusal). Use it as a context manager.
    """

    def __init__(self, refuse: Iterable[str] = ()) -> None:
        self.refuse = {a.lower() for a in refuse}
        self.messages: list[EmailMessage] = []
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in list(self.messages) if m["To"] == address]

    async def handle_RCPT(
        self, server: object, session: object, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = BytesParser(policy=policy.default).parsebytes(content)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
