"""The mail sender: delivers the mail queue over SMTP, retries with backoff, collects digests.

A mail is claimed (its `send_after` moved a lease ahead, so a second replica leaves it alone), sent, then marked
sent. A delivery that fails stays queued with its attempt counted and is tried again after 2 s, 4 s, 8 s, ...
up to EAKTE_MAIL_RETRY_MAX_S. A digest mail waits for the person's daily digest time; all digest mails of one
person due then go out as one message.
"""

import logging
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from services.workflow.clock import Clock
from services.workflow.domain.notifications import digest, retry_delay
from services.workflow.tables import MailRow
from services.workflow.unit_of_work import AbstractWorkflowUnitOfWork
from shared.settings import Settings

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=120)  # how long a claimed mail is left to its sender before another may try
BATCH = 100


class Transport(Protocol):
    def send(self, address: str, subject: str, body: str) -> None:
        """Hand one message to the mail server; raises when it was not accepted."""


@dataclass(frozen=True)
class SmtpTransport:
    """`smtp://host:port` (plain, or STARTTLS with `?starttls=true` / EAKTE_SMTP_STARTTLS), `smtps://host:port`
    (TLS from the first byte); credentials in the URL (`smtp://user:password@host`) or EAKTE_SMTP_USERNAME/_PASSWORD."""

    url: str
    sender: str
    starttls: bool = False
    username: str = ""
    password: str = ""
    timeout_s: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> "SmtpTransport":
        return cls(
            settings.smtp_url,
            settings.smtp_from,
            settings.smtp_starttls,
            settings.smtp_username,
            settings.smtp_password,
            settings.smtp_timeout_s,
        )

    def send(self, address: str, subject: str, body: str) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("EAKTE_SMTP_URL must be smtp://host[:port] or smtps://host[:port]")
        query = parse_qs(parts.query)
        starttls = self.starttls or query.get("starttls", [""])[0].lower() in ("1", "true", "yes")
        username = unquote(parts.username or "") or self.username
        password = unquote(parts.password or "") or self.password
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = address
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(body)
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if parts.scheme == "smtps":
            client = smtplib.SMTP_SSL(parts.hostname, parts.port or 465, timeout=self.timeout_s, context=context)
        else:
            client = smtplib.SMTP(parts.hostname, parts.port or 25, timeout=self.timeout_s)
        with client:
            if starttls:
                client.starttls(context=context)
            if username:
                client.login(username, password)
            client.send_message(message)


class MailSender:
    def __init__(
        self,
        uow: Callable[[], AbstractWorkflowUnitOfWork],
        clock: Clock,
        transport: Transport,
        digest_template: dict[str, str],
        retry_max_s: float = 900.0,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._transport = transport
        self._digest_template = digest_template
        self._retry_max_s = retry_max_s

    def send_due(self) -> int:
        """Send what is due now; returns how many messages the mail server accepted."""
        now = self._clock.now()
        with self._uow() as uow:
            due = [(m.mail_id, m.send_after, m.recipient, m.digest) for m in uow.notifications.due_mails(now, BATCH)]
        digests: dict[str, list[tuple[str, datetime]]] = {}
        sent = 0
        for mail_id, send_after, recipient, is_digest in due:
            if is_digest:
                digests.setdefault(recipient, []).append((mail_id, send_after))
            else:
                sent += self._deliver([(mail_id, send_after)], now)
        for claims in digests.values():
            sent += self._deliver(claims, now)
        return sent

    def _deliver(self, claims: list[tuple[str, datetime]], now: datetime) -> int:
        mails = self._claim(claims, now)
        if not mails:
            return 0
        if len(mails) == 1 and not mails[0].digest:
            subject, body = mails[0].subject, mails[0].body
        else:
            subject, body = digest(self._digest_template, [(m.subject, m.link) for m in mails])
        try:
            self._transport.send(mails[0].address, subject, body)
        except Exception as error:  # the server is down, refuses, times out: try again later
            self._failed([m.mail_id for m in mails], now, error)
            return 0
        with self._uow() as uow:
            for mail in mails:
                row = uow.notifications.get_mail(mail.mail_id)
                if row is not None:
                    row.sent_at = self._clock.now()
                    row.attempts += 1
        return 1

    def _claim(self, claims: list[tuple[str, datetime]], now: datetime) -> list[MailRow]:
        """The mails this sender took (another replica may have taken some first); detached copies."""
        taken: list[MailRow] = []
        with self._uow() as uow:
            for mail_id, send_after in claims:
                if uow.notifications.claim_mail(mail_id, send_after, now + LEASE):
                    row = uow.notifications.get_mail(mail_id)
                    if row is not None:
                        taken.append(_copy(row))
        return taken

    def _failed(self, mail_ids: list[str], now: datetime, error: Exception) -> None:
        reason = f"{type(error).__name__}: {error}"[:500]
        attempts = 0
        with self._uow() as uow:
            for mail_id in mail_ids:
                row = uow.notifications.get_mail(mail_id)
                if row is None:
                    continue
                row.attempts += 1
                row.last_error = reason
                row.send_after = now + retry_delay(row.attempts, self._retry_max_s)
                attempts = row.attempts
        # The reason may name an address: it stays in the queue row, the log names the kind of failure only.
        log.warning(
            "mail delivery failed (%s); %d mail(s) stay queued, attempt %d",
            type(error).__name__,
            len(mail_ids),
            attempts,
        )


def _copy(row: MailRow) -> MailRow:
    return MailRow(
        mail_id=row.mail_id,
        recipient=row.recipient,
        address=row.address,
        kind=row.kind,
        subject=row.subject,
        body=row.body,
        link=row.link,
        digest=row.digest,
    )
