"""The demo's mail server: aiosmtpd on loopback, printing each message the daemon's email
sink sends (recipient, subject, body with its "Not you?" link) instead of delivering it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from ..text import visible
from .store import free_port


class PrintingHandler:
    """aiosmtpd handler: each message becomes lines given to ``report``; kept in ``messages``."""

    def __init__(self, report: Callable[[str], None]) -> None:
        self.report = report
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        body = msg.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        lines = [line for line in str(text).splitlines() if line.strip()]
        self.report(f"email    to {visible(str(msg['To']), 80)}: "
                    f"{visible(str(msg['Subject']), 80)}")
        for line in lines:
            self.report("           " + visible(line, 400))
        return "250 OK"


@contextmanager
def mail_server(report: Callable[[str], None]) -> Iterator[tuple[str, PrintingHandler]]:
    """``(smtp_url, handler)`` of a printing SMTP server on a free loopback port."""
    from aiosmtpd.controller import Controller

    handler = PrintingHandler(report)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", handler
    finally:
        controller.stop()
