"""What the workflow service's parts share: the database, the outbox relay, one clock, the organisation and the
audit log."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, tzinfo

from sqlalchemy.orm import Session, sessionmaker

from services.workflow.audit_log import AuditLog
from services.workflow.clock import Clock
from services.workflow.domain import Actor, Organisation
from shared.outbox import OutboxRelay

# Who acts where no person does: assignments, reminders, escalations, filing without review.
SYSTEM_USER = "system"


@dataclass(frozen=True)
class WorkflowContext:
    sessions: sessionmaker[Session]
    relay: OutboxRelay
    clock: Clock
    organisation: Organisation
    audit: AuditLog
    zone: tzinfo = UTC

    def today(self) -> date:
        """The calendar day of the municipality (absences and resubmissions are whole local days)."""
        return self.clock.now().astimezone(self.zone).date()

    def actor(self, user: str, roles: Iterable[str]) -> Actor:
        return Actor(user=user, roles=frozenset(roles), units=self.organisation.units_of(user))
