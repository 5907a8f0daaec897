"""The audit trail of each document's workflow: a SHA-256 chain, appended to with every change, read and verified.

Appending reads the chain's tail only once per transaction; the caller holds the document's lock
(`rows.lock_workflow`), so nobody else appends meanwhile and the chain stays linear.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.workflow.clock import Clock
from services.workflow.domain import AuditEntry, chain_entry, verify_chain
from services.workflow.rows import WorkflowNotFound
from services.workflow.tables import AuditRow
from shared import events

# Stores a large audit trail beside the document; returns where it lies.
PutAudit = Callable[[str, bytes], events.StoredObject]


@dataclass(frozen=True)
class AuditView:
    document_id: str
    verified: bool
    first_broken_entry: int | None
    reason: str
    entries: list[dict[str, Any]] = field(default_factory=list)


class AuditLog:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        put_audit: PutAudit | None = None,
        inline_max_bytes: int = 256 * 1024,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._put_audit = put_audit
        self._inline_max_bytes = inline_max_bytes

    def append(
        self,
        session: Session,
        document_id: str,
        action: str,
        actor: str,
        on_behalf_of: str | None,
        payload: dict[str, Any],
    ) -> None:
        # The chain's tail per document, kept for this transaction (the document is locked, nobody else appends).
        tails: dict[str, AuditEntry] = session.info.setdefault("audit_tails", {})
        previous = tails.get(document_id)
        if previous is None:
            last = session.scalars(
                select(AuditRow).where(AuditRow.document_id == document_id).order_by(AuditRow.seq.desc()).limit(1)
            ).first()
            previous = _entry(last) if last else None
        entry = chain_entry(previous, document_id, action, actor, on_behalf_of, payload, self._clock.now())
        tails[document_id] = entry
        session.add(
            AuditRow(
                document_id=document_id,
                seq=entry.seq,
                action=entry.action,
                actor=entry.actor,
                on_behalf_of=entry.on_behalf_of,
                payload=json.dumps(entry.payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
                at=entry.at,
                prev_hash=entry.prev_hash,
                hash=entry.hash,
            )
        )

    def event_fields(self, session: Session, document_id: str) -> dict[str, Any]:
        """The trail for the final event: inline (`audit`), or stored beside the document when large (`audit_ref`)."""
        trail = [entry.as_dict() for entry in _read_entries(session, document_id)]
        encoded = json.dumps(trail, ensure_ascii=False).encode()
        if len(encoded) > self._inline_max_bytes and self._put_audit is not None:
            return {"audit_ref": self._put_audit(document_id, encoded)}
        return {"audit": trail}

    def view(self, document_id: str) -> AuditView:
        """The whole trail with the result of re-computing its chain."""
        with self._sessions() as session:
            entries = _read_entries(session, document_id)
            if not entries:
                raise WorkflowNotFound(document_id)
            check = verify_chain(entries)
            return AuditView(
                document_id=document_id,
                verified=check.verified,
                first_broken_entry=check.first_broken_entry,
                reason=check.reason,
                entries=[e.as_dict() for e in entries],
            )


def _read_entries(session: Session, document_id: str) -> list[AuditEntry]:
    rows = session.scalars(select(AuditRow).where(AuditRow.document_id == document_id).order_by(AuditRow.seq)).all()
    return [_entry(row) for row in rows]


def _entry(row: AuditRow) -> AuditEntry:
    try:
        payload = json.loads(row.payload)
    except ValueError:
        payload = {"unreadable": row.payload}
    return AuditEntry(
        document_id=row.document_id,
        seq=row.seq,
        action=row.action,
        actor=row.actor,
        on_behalf_of=row.on_behalf_of,
        payload=payload,
        at=row.at,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def audit_object_key(document_id: str, data: bytes) -> str:
    return f"documents/{document_id}/audit-{hashlib.sha256(data).hexdigest()[:16]}.json"
