"""The Poststelle mailbox as an intake channel: each e-mail becomes one Vorgang, exactly once.

A message taken from the mailbox is first spooled (the message as `.eml`, each attachment as a file of its own, and a
manifest of what each becomes), then its Akte is found or opened by the routing (`config/mail_routing.yaml`) and its
Vorgang opened together with its row in `mail_messages`; then every part goes into the intake queue (source `email`)
and through the same checks, quarantine and filing as an upload. The row is keyed by the message's place in the
mailbox (UIDVALIDITY and UID) and by its Message-ID, so a re-poll, a restart or a second copy files nothing twice.
Each step can be interrupted: `recover` queues what a crash left spooled but unqueued.

Logs name the message by its `mail_id` only, never by sender, recipients or subject.
"""

import hashlib
import json
import logging
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from services.ingest.domain import (
    EMAIL_SOURCE,
    MESSAGE_SUFFIX,
    MailMessage,
    MailRoute,
    MailRouting,
    mail_routing,
    message_key,
    message_title,
    read_message,
)
from services.ingest.filing import FilingRefused, FilingService
from services.ingest.intake import IntakeItem, IntakeQueue
from services.ingest.tables import MailMessageRow
from services.ingest.unit_of_work import IngestUnitOfWork
from services.ingest.uploads import Upload
from shared.events import utcnow
from shared.settings import Settings

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"


class MailState:
    RECEIVED = "received"  # spooled, Vorgang opened
    QUEUED = "queued"  # every part in the intake queue
    MOVED = "moved"  # in the done folder


@dataclass(frozen=True)
class FetchedMessage:
    """A message as the mailbox handed it over: where it lies and its bytes."""

    folder: str
    uidvalidity: int
    uid: int
    raw: bytes


def load_mail_routing(path: Path) -> MailRouting:
    """The routing file; a broken one stops start-up with a clear message."""
    try:
        return mail_routing(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValueError) as exc:
        raise SystemExit(f"mail routing {path} cannot be used: {exc}") from exc


def part_item_id(mail_id: str, number: int) -> str:
    """The intake item (and document) id of a message's part: the same after any restart."""
    return str(uuid.uuid5(uuid.UUID(mail_id), str(number)))


class MailIntake:
    def __init__(
        self,
        settings: Settings,
        uow_factory: Callable[[], IngestUnitOfWork],
        queue: IntakeQueue,
        filing: FilingService,
        routing: MailRouting,
    ) -> None:
        self._uow = uow_factory
        self._queue = queue
        self._filing = filing
        self._routing = routing
        self._user = settings.mail_submitted_by
        self._max_bytes = settings.max_upload_bytes
        self.spool = settings.data_dir / "mail-spool"
        self.spool.mkdir(parents=True, exist_ok=True)
        queue.on_finished(EMAIL_SOURCE, self._finished)

    def check_routing(self, workflows: frozenset[str]) -> None:
        """Refuse a routing that names a class, Akte or workflow that does not exist (at start-up)."""
        for route in self._routing.targets():
            try:
                self._filing.check_request(self._uow(), route.aktenzeichen, route.file_plan_class, open_missing=True)
            except FilingRefused as exc:
                raise SystemExit(f"mail routing cannot be used: {exc.message}") from exc
            if route.workflow not in workflows:
                raise SystemExit(f"mail routing names the unknown workflow {route.workflow!r}")

    # --- taking a message in ----------------------------------------------------------------------------
    def take(self, fetched: FetchedMessage) -> str:
        """File a message (once): returns its `mail_id`; a message taken before is not filed again."""
        sha256 = hashlib.sha256(fetched.raw).hexdigest()
        message = read_message(fetched.raw)
        key = message_key(message.message_id, sha256)
        with self._uow() as uow:
            row = uow.mail_messages.find(fetched.folder, fetched.uidvalidity, fetched.uid, key)
            known = (row.mail_id, row.state) if row else None
        if known is None:
            mail_id = self._receive(fetched, message, key, sha256)
            log.info("mailbox: message %s received", mail_id)
        else:
            mail_id = known[0]
            log.info("mailbox: message %s was taken before; not filed again", mail_id)
        if known is None or known[1] == MailState.RECEIVED:
            self._queue_parts(mail_id)
        return mail_id

    def _receive(self, fetched: FetchedMessage, message: MailMessage, key: str, sha256: str) -> str:
        mail_id = str(uuid.uuid4())
        try:
            self._record(mail_id, fetched, message, key, sha256)
        except BaseException:
            shutil.rmtree(self.spool / mail_id, ignore_errors=True)  # no row: the message is taken again later
            raise
        return mail_id

    def _record(self, mail_id: str, fetched: FetchedMessage, message: MailMessage, key: str, sha256: str) -> None:
        """Spool the message's parts, find or open its Akte, open its Vorgang and record it (one transaction)."""
        route = self._routing.route(message.recipients, message.subject)
        parts = self._spool(mail_id, fetched.raw, message, route)
        akte = self._filing.find_or_open(
            self._uow(), route.aktenzeichen, route.file_plan_class, route.akte_title, self._user
        )
        with self._uow() as uow:
            placement = self._filing.place(uow, akte.aktenzeichen, "", akte, message_title(message))
            uow.mail_messages.add(
                MailMessageRow(
                    mail_id=mail_id,
                    folder=fetched.folder,
                    uidvalidity=fetched.uidvalidity,
                    uid=fetched.uid,
                    message_key=key,
                    sha256=sha256,
                    size=len(fetched.raw),
                    parts=parts,
                    aktenzeichen=akte.aktenzeichen,
                    vorgang_id=placement.vorgang_id,
                    state=MailState.RECEIVED,
                    received_at=utcnow(),
                )
            )

    def _spool(self, mail_id: str, raw: bytes, message: MailMessage, route: MailRoute) -> int:
        """Write the message and its attachments to the spool with the manifest; returns how many parts."""
        folder = self.spool / mail_id
        folder.mkdir(parents=True, exist_ok=True)
        common = {"submitted_by": self._user, "sender": message.sender, "workflow": route.workflow}
        title = message_title(message)
        files = [(f"{_stem(title)}{MESSAGE_SUFFIX}", raw, {"title": title, "document_type": "E-Mail"})]
        if len(raw) <= self._max_bytes:  # an oversized message is quarantined whole, as too large
            files += [
                (a.filename, a.data, {"title": a.filename, "document_type": "E-Mail-Anhang"})
                for a in message.attachments
            ]
        manifest = []
        for number, (filename, data, fields) in enumerate(files):
            path = folder / f"{number}.part"  # the name is the manifest's: a sender's may be too long for a path
            path.write_bytes(data)
            manifest.append({"number": number, "path": path.name, "upload": {**common, **fields, "filename": filename}})
        (folder / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
        return len(files)

    def _queue_parts(self, mail_id: str) -> None:
        """Put every part not yet queued into the intake queue, then mark the message queued."""
        with self._uow() as uow:
            row = uow.mail_messages.get(mail_id)
            placement = {"aktenzeichen": row.aktenzeichen or "", "vorgang_id": row.vorgang_id or ""}
        folder = self.spool / mail_id
        if (folder / MANIFEST).exists():  # else every part was queued and taken in before a crash
            self._queue_missing(mail_id, folder, placement)
        with self._uow() as uow:
            uow.mail_messages.get(mail_id).state = MailState.QUEUED

    def _queue_missing(self, mail_id: str, folder: Path, placement: dict[str, str]) -> None:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        ids = {part_item_id(mail_id, entry["number"]): entry for entry in manifest}
        known = self._queue.known(list(ids))
        for item_id, entry in ids.items():
            if item_id not in known:
                upload = Upload(**{**entry["upload"], **placement, "source": EMAIL_SOURCE})
                self._queue.add(item_id, EMAIL_SOURCE, folder / entry["path"], upload)

    def moved(self, mail_id: str) -> None:
        """The message lies in the done folder now."""
        with self._uow() as uow:
            row = uow.mail_messages.get(mail_id)
            row.state, row.moved_at = MailState.MOVED, utcnow()

    # --- after a crash, and after each part -------------------------------------------------------------
    def recover(self) -> None:
        """Queue the parts of messages received before a crash; drop spool folders of messages never recorded."""
        with self._uow() as uow:
            received = [row.mail_id for row in uow.mail_messages.in_state(MailState.RECEIVED)]
            recorded = uow.mail_messages.ids()
        for mail_id in received:
            log.warning("mailbox: queueing the parts of message %s left over from an interrupted run", mail_id)
            self._queue_parts(mail_id)
        for folder in self.spool.iterdir():
            if folder.is_dir() and folder.name not in recorded:
                shutil.rmtree(folder, ignore_errors=True)  # spooled, then interrupted before its row: taken again

    def _finished(self, item: IntakeItem) -> None:
        """A part was filed or quarantined (its bytes are in the store now): drop its spooled copy."""
        item.path.unlink(missing_ok=True)
        folder = item.path.parent
        if not [p for p in folder.iterdir() if p.name != MANIFEST]:
            shutil.rmtree(folder, ignore_errors=True)


def _stem(title: str) -> str:
    """A file name for the message from its title (a label only: no path parts, not too long)."""
    cleaned = "".join(ch if ch.isalnum() or ch in " -_.,()" else "_" for ch in title.replace(": ", " - "))
    cleaned = cleaned.strip(" ._")
    return (cleaned or "E-Mail")[:120]
