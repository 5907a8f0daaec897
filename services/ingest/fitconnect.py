"""FIT-Connect subscriber: online applications (OZG) become Vorgänge, through the same intake as a scan.

Each poll lists the submissions waiting at the destination. A new one is claimed (a row per submission id:
nothing is filed twice, whichever replica or restart sees it again), fetched, decrypted and checked
(services.ingest.fitconnect_rules). A valid one is filed through the intake queue with source `fitconnect`: the
form data rendered as a German PDF/A (the leading document) and each attachment, in a new Vorgang of the
applicant's Akte under the service's file plan class (opened if missing), with the service's workflow. When every
file is taken in, `accept-submission` is sent. An invalid one is kept raw (encrypted, as fetched) in quarantine and
`reject-submission` goes back with the problem codes. An event that did not arrive is sent again on a later poll.
"""

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from services.ingest.domain import clean_filename
from services.ingest.fileplan import FilePlan
from services.ingest.fitconnect_client import (
    DecryptionFailed,
    FitConnectClient,
    FitConnectKeys,
    FitConnectUnavailable,
    SubmissionStub,
)
from services.ingest.fitconnect_rules import (
    ACCEPT_EVENT,
    REJECT_EVENT,
    SUBMISSION_STATES,
    SUBMITTED_BY,
    OnlineService,
    Problem,
    ProblemCode,
    SubmissionRejected,
    announced_attachments,
    applicant_akte_title,
    authentication_tags,
    check_attachment_hashes,
    check_attachment_ids,
    check_data_hash,
    check_form_data,
    check_metadata,
    event_payload,
    form_sections,
    service_for,
    vorgang_title,
)
from services.ingest.intake import IntakeItem, IntakeQueue, IntakeState
from services.ingest.online_services import load_metadata_schemas, load_online_services
from services.ingest.tables import FitConnectSubmissionRow, QuarantineRow
from services.ingest.unit_of_work import IngestUnitOfWork
from services.ingest.uploads import Upload
from shared.events import utcnow
from shared.record_pdf import Section, record_pdf
from shared.settings import Settings
from shared.storage import ObjectStore

log = logging.getLogger(__name__)

SOURCE = "fitconnect"
TAKING, FILING, ACCEPTED, REJECTED = SUBMISSION_STATES
SEPARATOR = "__"


@dataclass(frozen=True)
class Fetched:
    """A submission as FIT-Connect delivered it: still encrypted."""

    stub: SubmissionStub
    raw: dict[str, Any]
    attachments: dict[str, str]  # attachment id -> compact JWE


@dataclass(frozen=True)
class Checked:
    service: OnlineService
    metadata: dict[str, Any]
    data: dict[str, Any]
    attachments: dict[str, bytes]  # attachment id -> decrypted bytes, in the metadata's order


class FitConnectSubscriber:
    def __init__(
        self,
        settings: Settings,
        uow_factory: Callable[[], IngestUnitOfWork],
        queue: IntakeQueue,
        store: ObjectStore,
        client: FitConnectClient,
        keys: FitConnectKeys,
        services: Sequence[OnlineService],
        metadata_schemas: dict[str, dict[str, Any]],
    ) -> None:
        self._destination = settings.fitconnect_destination_id
        self._poll_s = settings.fitconnect_poll_s
        self._quarantine_bucket = settings.quarantine_bucket
        self._spool = settings.data_dir / "fitconnect-spool"
        self._spool.mkdir(parents=True, exist_ok=True)
        self._uow = uow_factory
        self._queue = queue
        self._store = store
        self._client = client
        self._keys = keys
        self._services = list(services)
        self._schemas = metadata_schemas
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        queue.on_finished(SOURCE, self._finished)

    # --- polling -------------------------------------------------------------------------------------------
    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        while True:
            try:
                await asyncio.to_thread(self.poll_once)
            except FitConnectUnavailable as exc:
                log.warning("FIT-Connect not reachable (%s); polling again", exc)
            except Exception:
                log.exception("FIT-Connect poll failed; polling again")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_s)

    def poll_once(self) -> None:
        """Finish what is under way, then take every submission waiting at the destination."""
        with self._uow() as uow:
            filing = [row.submission_id for row in uow.fitconnect.in_states(FILING)]
            undelivered = [r.submission_id for r in uow.fitconnect.in_states(ACCEPTED, REJECTED) if not r.event_sent_at]
        for submission_id in filing:
            self._complete(submission_id)
        for submission_id in undelivered:
            self._send_decision(submission_id)
        for stub in self._client.submissions(self._destination):
            try:
                self.handle(stub)
            except FitConnectUnavailable:
                raise
            except Exception:
                log.exception("FIT-Connect submission %s could not be handled; trying again", stub.submission_id)

    def handle(self, stub: SubmissionStub) -> None:
        with self._uow() as uow:
            row = uow.fitconnect.get(stub.submission_id)
            state, items = (row.state, dict(row.items)) if row else (None, None)
        if state is None or state == TAKING:
            self._take(stub, items)
        elif state == FILING:
            self._complete(stub.submission_id)
        else:  # decided, and still waiting at FIT-Connect: our event did not arrive there
            log.warning("FIT-Connect submission %s still listed; its %s event again", stub.submission_id, state)
            self._send_decision(stub.submission_id)

    # --- taking a submission -------------------------------------------------------------------------------
    def _take(self, stub: SubmissionStub, items: dict[str, Any] | None) -> None:
        started = time.monotonic()
        fetched = self._fetch(stub)
        if items is None:
            items = self._claim(fetched)
            if items is None:
                return  # another replica took it a moment ago
        try:
            checked = self._check(fetched)
        except SubmissionRejected as rejected:
            self._reject(fetched, rejected.problems)
            return
        self._file(fetched, checked, items)
        log.info("FIT-Connect submission %s queued in %.2f s", stub.submission_id, time.monotonic() - started)

    def _fetch(self, stub: SubmissionStub) -> Fetched:
        raw = self._client.submission(stub.submission_id)
        ids = [str(a) for a in raw.get("attachments") or []]
        attachments = {a: self._client.attachment(stub.submission_id, a) for a in ids}
        return Fetched(stub, raw, attachments)

    def _claim(self, fetched: Fetched) -> dict[str, Any] | None:
        """The submission's row with the ids its documents will get; None if it is taken already."""
        items = {"form": str(uuid.uuid4()), "attachments": {a: str(uuid.uuid4()) for a in fetched.attachments}}
        row = FitConnectSubmissionRow(
            submission_id=fetched.stub.submission_id,
            case_id=fetched.stub.case_id,
            state=TAKING,
            service="",
            items=items,
            received_at=utcnow(),
        )
        with self._uow() as uow:
            return items if uow.fitconnect.claim(row) else None

    def _check(self, fetched: Fetched) -> Checked:
        raw = fetched.raw
        metadata = self._decrypt_json(raw.get("encryptedMetadata"), "metadata")
        check_metadata(metadata, self._schemas)
        data = self._decrypt(raw.get("encryptedData"), "data")
        check_data_hash(metadata, data)
        service = service_for(str((raw.get("serviceType") or {}).get("identifier", "")), self._services)
        form = check_form_data(service, data)
        announced = announced_attachments(metadata)
        check_attachment_ids(list(announced), list(fetched.attachments))
        attachments = {a: self._decrypt(fetched.attachments[a], f"attachment:{a}") for a in announced}
        check_attachment_hashes(metadata, attachments)
        return Checked(service, metadata, form, attachments)

    def _decrypt(self, token: Any, instance: str) -> bytes:
        if not isinstance(token, str) or not token:
            raise SubmissionRejected([Problem(ProblemCode.ENCRYPTION_ISSUE, "missing", instance)])
        try:
            return self._keys.decrypt(token)
        except DecryptionFailed as exc:
            raise SubmissionRejected([Problem(ProblemCode.ENCRYPTION_ISSUE, str(exc), instance)]) from exc

    def _decrypt_json(self, token: Any, instance: str) -> Any:
        content = self._decrypt(token, instance)
        try:
            return json.loads(content)
        except (ValueError, UnicodeDecodeError) as exc:
            problem = Problem(ProblemCode.METADATA_SCHEMA_VIOLATION, f"not JSON: {exc}", instance)
            raise SubmissionRejected([problem]) from exc

    # --- filing --------------------------------------------------------------------------------------------
    def _file(self, fetched: Fetched, checked: Checked, items: dict[str, Any]) -> None:
        submission_id = fetched.stub.submission_id
        sections = form_sections(checked.service.schema, checked.data)
        files = [(items["form"], f"Online-Antrag-{checked.service.name}.pdf", self._render(fetched, checked))]
        titles = [f"Online-Antrag {checked.service.title}"]
        announced = announced_attachments(checked.metadata)
        for number, (attachment_id, content) in enumerate(checked.attachments.items(), start=1):
            entry = announced[attachment_id]
            name = clean_filename(str(entry.get("filename") or f"Anlage-{number}.pdf"))
            files.append((items["attachments"][attachment_id], name, content))
            titles.append(str(entry.get("description") or f"Anlage {number}: {name}"))
        known = self._queue.known([item_id for item_id, _name, _content in files])
        folder = self._spool / submission_id
        folder.mkdir(parents=True, exist_ok=True)
        for (item_id, name, content), title in zip(files, titles, strict=True):
            if item_id in known:
                continue  # queued before an interruption
            path = folder / f"{item_id}{SEPARATOR}{name}"
            _write_atomically(path, content)
            kind = "antrag" if item_id == items["form"] else "anlage"
            self._queue.add(item_id, SOURCE, path, self._upload(fetched, checked, name, title, kind))
        with self._uow() as uow:
            row = uow.fitconnect.get(submission_id)
            assert row is not None
            row.state, row.service, row.form_document_id = FILING, checked.service.name, items["form"]
            raw = fetched.raw
            tags = authentication_tags(raw["encryptedMetadata"], raw.get("encryptedData"), fetched.attachments)
            row.items = {**row.items, "tags": tags}  # named by accept-submission
            row.form_data = {
                "service": checked.service.name,
                "title": f"Online-Antrag {checked.service.title}",
                "sections": [{"heading": s.heading, "rows": [list(r) for r in s.rows]} for s in sections],
                "data": checked.data,
            }

    def _upload(self, fetched: Fetched, checked: Checked, filename: str, title: str, kind: str) -> Upload:
        received = fetched.raw.get("submittedAt") or utcnow().isoformat()
        person = checked.data.get("antragsteller") or {}
        return Upload(
            filename=filename,
            submitted_by=SUBMITTED_BY,
            title=title,
            document_type=kind,
            sender=f"{person.get('vorname', '')} {person.get('nachname', '')}".strip(),
            new_akte_class=checked.service.file_plan_class,
            new_akte_title=applicant_akte_title(checked.service, checked.data),
            workflow=checked.service.workflow,
            source=SOURCE,
            vorgang_title=vorgang_title(checked.service, fetched.stub.submission_id, utcnow().date()),
            received_on=str(received)[:10],
            find_or_open_akte=True,
        )

    def _render(self, fetched: Fetched, checked: Checked) -> bytes:
        """The form data as a readable German PDF/A: the leading document of the Vorgang."""
        service = checked.service
        receipt = Section(
            "Eingang",
            rows=[
                ("Kanal", "Online-Antrag (FIT-Connect)"),
                ("Verwaltungsleistung", f"{service.title} ({service.leika})"),
                ("Eingegangen am", utcnow().strftime("%d.%m.%Y %H:%M UTC")),
                ("Einreichung (FIT-Connect)", fetched.stub.submission_id),
                ("Vorgang (FIT-Connect)", fetched.stub.case_id),
                ("Anlagen", str(len(checked.attachments))),
            ],
        )
        sections = [Section(s.heading, rows=s.rows) for s in form_sections(service.schema, checked.data)]
        title = f"Online-Antrag {service.title}"
        return record_pdf(title, [receipt, *sections], footer=f"FIT-Connect {fetched.stub.submission_id}")

    def _finished(self, item: IntakeItem) -> None:
        """An item is taken in (or refused): drop its spooled copy and let the poller see whether all are."""
        item.path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            item.path.parent.rmdir()  # the submission's folder, once its last file is taken
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def _complete(self, submission_id: str) -> None:
        """Once every file of the submission is taken in: accept it."""
        with self._uow() as uow:
            row = uow.fitconnect.get(submission_id)
            if row is None or row.state != FILING:
                return
            ids = [row.items["form"], *row.items["attachments"].values()]
            states = [uow.intake_items.get(i).state for i in ids]
            if IntakeState.PENDING.value in states:
                return
            row.state, row.decided_at = ACCEPTED, utcnow()
            refused = states.count(IntakeState.FAILED.value)
        if refused:
            log.warning("FIT-Connect submission %s: %d file(s) refused by intake (quarantine)", submission_id, refused)
        self._send_decision(submission_id)

    # --- rejecting -----------------------------------------------------------------------------------------
    def _reject(self, fetched: Fetched, problems: Sequence[Problem]) -> None:
        """Keep the raw submission in quarantine, record the problems and send `reject-submission`."""
        submission_id = fetched.stub.submission_id
        log.warning("FIT-Connect submission %s rejected: %s", submission_id, ", ".join(p.code for p in problems))
        quarantine_id = self._quarantine(fetched, problems)
        with self._uow() as uow:
            row = uow.fitconnect.get(submission_id)
            assert row is not None
            row.state, row.decided_at, row.quarantine_id = REJECTED, utcnow(), quarantine_id
            row.problems = [p.as_event() for p in problems]
        self._send_decision(submission_id)

    def _quarantine(self, fetched: Fetched, problems: Sequence[Problem]) -> str:
        quarantine_id = str(uuid.uuid4())
        content = json.dumps({"submission": fetched.raw, "attachments": fetched.attachments}, indent=1).encode()
        name = f"fitconnect-{fetched.stub.submission_id}.json"
        row = QuarantineRow(
            quarantine_id=quarantine_id,
            reason=problems[0].code.value,
            detail="; ".join(f"{p.code.value} ({p.instance}): {p.detail}" for p in problems),
            sha256=hashlib.sha256(content).hexdigest(),
            size=len(content),
            original_name=name,
            uploaded_by=SUBMITTED_BY,
            source=SOURCE,
            uploaded_at=utcnow(),
        )
        path = self._spool / f"{quarantine_id}.json"
        _write_atomically(path, content)
        try:
            key = f"{quarantine_id}/content"
            self._store.put_file(self._quarantine_bucket, key, path, "application/json", row.sha256)
        finally:
            path.unlink(missing_ok=True)
        upload = Upload(filename=name, submitted_by=SUBMITTED_BY, source=SOURCE)
        sidecar = {"quarantine_id": quarantine_id, "reason": row.reason, "detail": row.detail, "upload": asdict(upload)}
        self._store.put_json(self._quarantine_bucket, f"{quarantine_id}/sidecar.json", sidecar)
        with self._uow() as uow:
            uow.quarantine.add(row)
        return quarantine_id

    # --- telling FIT-Connect -------------------------------------------------------------------------------
    def _send_decision(self, submission_id: str) -> None:
        with self._uow() as uow:
            row = uow.fitconnect.get(submission_id)
            if row is None or row.state not in (ACCEPTED, REJECTED):
                return
            event = ACCEPT_EVENT if row.state == ACCEPTED else REJECT_EVENT
            case_id, problems, tags = row.case_id, list(row.problems or []), row.items.get("tags")
        jti, now = str(uuid.uuid4()), int(time.time())
        payload = event_payload(event, self._destination, submission_id, case_id, jti, now, problems, tags)
        self._client.send_event(case_id, self._keys.sign(payload))
        with self._uow() as uow:
            row = uow.fitconnect.get(submission_id)
            if row is not None:
                row.event_sent_at = utcnow()
        log.info("FIT-Connect submission %s: %s sent", submission_id, event.rsplit("/", 1)[-1])


def _write_atomically(path: Path, content: bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(content)
    os.replace(partial, path)


def build_subscriber(
    settings: Settings,
    uow_factory: Callable[[], IngestUnitOfWork],
    queue: IntakeQueue,
    store: ObjectStore,
    file_plan: FilePlan,
    workflows: frozenset[str],
) -> FitConnectSubscriber:
    """The subscriber from the settings; a missing setting or unreadable key stops start-up with a clear message."""
    needed = {
        "EAKTE_FITCONNECT_TOKEN_URL": settings.fitconnect_token_url,
        "EAKTE_FITCONNECT_CLIENT_ID": settings.fitconnect_client_id,
        "EAKTE_FITCONNECT_CLIENT_SECRET": settings.fitconnect_client_secret,
        "EAKTE_FITCONNECT_DESTINATION_ID": settings.fitconnect_destination_id,
        "EAKTE_FITCONNECT_PRIVATE_KEY_FILE": settings.fitconnect_private_key_file,
        "EAKTE_FITCONNECT_SIGNING_KEY_FILE": settings.fitconnect_signing_key_file,
        "EAKTE_FITCONNECT_METADATA_SCHEMA": settings.fitconnect_metadata_schema,
    }
    missing = [name for name, value in needed.items() if not value]
    if missing:
        raise ValueError(f"EAKTE_FITCONNECT_API_URL is set, but not {', '.join(missing)}")
    assert settings.fitconnect_private_key_file and settings.fitconnect_signing_key_file
    assert settings.fitconnect_metadata_schema
    keys = FitConnectKeys(settings.fitconnect_private_key_file, settings.fitconnect_signing_key_file)
    services = load_online_services(settings.fitconnect_services, file_plan, workflows)
    schemas = load_metadata_schemas(settings.fitconnect_metadata_schema)
    client = FitConnectClient(
        settings.fitconnect_api_url,
        settings.fitconnect_token_url,
        settings.fitconnect_client_id,
        settings.fitconnect_client_secret,
    )
    return FitConnectSubscriber(settings, uow_factory, queue, store, client, keys, services, schemas)
