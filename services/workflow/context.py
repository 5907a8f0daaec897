"""What the workflow service's parts share: one clock, the organisation, the audit log and the local time zone."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, tzinfo

from services.workflow.audit_log import AuditLog
from services.workflow.clock import Clock
from services.workflow.domain import Actor, Organisation

# Who acts where no person does: assignments, reminders, escalations, filing without review.
SYSTEM_USER = "system"


@dataclass(frozen=True)
class WorkflowContext:
    clock: Clock
    organisation: Organisation
    audit: AuditLog
    zone: tzinfo = UTC

    def today(self) -> date:
        """The calendar day of the municipality (absences and resubmissions are whole local days)."""
        return self.clock.now().astimezone(self.zone).date()

    def actor(self, user: str, roles: Iterable[str]) -> Actor:
        return Actor(user=user, roles=frozenset(roles), units=self.organisation.units_of(user))
