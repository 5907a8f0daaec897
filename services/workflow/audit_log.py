"""The audit trail of each document's workflow: a SHA-256 chain, appended to with every change, read and verified.

The caller holds the document's lock (`uow.workflows.lock`), so nobody else appends meanwhile and the chain
stays linear.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from services.workflow.clock import Clock
from services.workflow.domain import chain_entry, verify_chain
from services.workflow.rows import WorkflowNotFound
from services.workflow.unit_of_work import AbstractWorkflowUnitOfWork
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
    def __init__(self, clock: Clock, put_audit: PutAudit | None = None, inline_max_bytes: int = 256 * 1024) -> None:
        self._clock = clock
        self._put_audit = put_audit
        self._inline_max_bytes = inline_max_bytes

    def append(
        self,
        uow: AbstractWorkflowUnitOfWork,
        document_id: str,
        action: str,
        actor: str,
        on_behalf_of: str | None,
        payload: dict[str, Any],
    ) -> None:
        previous = uow.audit.last(document_id)
        uow.audit.add(chain_entry(previous, document_id, action, actor, on_behalf_of, payload, self._clock.now()))

    def event_fields(self, uow: AbstractWorkflowUnitOfWork, document_id: str) -> dict[str, Any]:
        """The trail for the final event: inline (`audit`), or stored beside the document when large (`audit_ref`)."""
        trail = [entry.as_dict() for entry in uow.audit.entries(document_id)]
        encoded = json.dumps(trail, ensure_ascii=False).encode()
        if len(encoded) > self._inline_max_bytes and self._put_audit is not None:
            return {"audit_ref": self._put_audit(document_id, encoded)}
        return {"audit": trail}

    def view(self, uow: AbstractWorkflowUnitOfWork, document_id: str) -> AuditView:
        """The whole trail with the result of re-computing its chain."""
        with uow:
            return self.trail(uow, document_id)

    def trail(self, uow: AbstractWorkflowUnitOfWork, document_id: str) -> AuditView:
        """`view` inside an open unit of work."""
        entries = uow.audit.entries(document_id)
        if not entries:
            raise WorkflowNotFound()
        check = verify_chain(entries)
        return AuditView(
            document_id=document_id,
            verified=check.verified,
            first_broken_entry=check.first_broken_entry,
            reason=check.reason,
            entries=[e.as_dict() for e in entries],
        )


def audit_object_key(document_id: str, data: bytes) -> str:
    return f"documents/{document_id}/audit-{hashlib.sha256(data).hexdigest()[:16]}.json"
