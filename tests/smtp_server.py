"""A real SMTP server on loopback for the notification tests: aiosmtpd receiving into a list.

`stop()` takes it away (a mail server that is down: connections are refused), `start()` brings it back on the
same port.
"""

import email
import email.policy
import socket
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Received:
    to: tuple[str, ...]
    subject: str
    body: str
    message: EmailMessage


class _Collect:
    def __init__(self, server: "SmtpServer") -> None:
        self._server = server

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        part = message.get_body(("plain",))
        body = part.get_content() if part is not None else ""
        self._server.add(Received(tuple(envelope.rcpt_tos), str(message["Subject"]), body, message))
        return "250 OK"


class SmtpServer:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or _free_port()
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> "SmtpServer":
        self._controller = Controller(_Collect(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def add(self, mail: Received) -> None:
        with self._lock:
            self._received.append(mail)

    def to(self, address: str) -> list[Received]:
        with self._lock:
            return [m for m in self._received if address in m.to]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
