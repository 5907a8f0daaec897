"""Workflow use cases: start a run when a document arrives, the inbox, claims and decisions.

The other use cases are parts of the service that share one `WorkflowContext`: absences (`absences`),
resubmissions (`resubmissions`), what the clock makes due (`scheduler`), the state view (`views`) and the audit
trail (`audit_log`). Every change to a document's workflow first locks it (`rows.lock_workflow`); state change,
audit entries and outgoing events are one transaction (transactional outbox).
"""

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, tzinfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from services.workflow.absences import Absences
from services.workflow.audit_log import AuditLog, PutAudit
from services.workflow.clock import Clock
from services.workflow.context import SYSTEM_USER, WorkflowContext
from services.workflow.definitions import definition_to_json
from services.workflow.domain import (
    Access,
    Actor,
    AssigneeKind,
    Decision,
    DecisionRefused,
    Organisation,
    Registry,
    TaskState,
    WorkflowState,
    check_access,
    check_claim,
    check_decision,
    step_complete,
)
from services.workflow.resubmissions import Resubmissions
from services.workflow.rows import definition_of, lock_task, lock_workflow, offer_of, submitters_of
from services.workflow.runs import Runs
from services.workflow.scheduler import Scheduler
from services.workflow.tables import DefinitionVersionRow, TaskRow, WorkflowRow
from services.workflow.views import TaskView, WorkflowStateView, task_view
from shared import events
from shared.db import commit_once, mark_processed, was_processed
from shared.outbox import OutboxRelay, add_dead_letter, add_event

log = logging.getLogger(__name__)

CONSUMER = "workflow"
OPEN_STATES = (WorkflowState.IN_REVIEW.value, WorkflowState.RETURNED.value)


@dataclass(frozen=True)
class DecisionResult:
    workflow_state: WorkflowState
    on_behalf_of: str | None = None


class WorkflowService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        relay: OutboxRelay,
        clock: Clock,
        registry: Registry,
        organisation: Organisation,
        digests: dict[str, str],
        put_audit: PutAudit | None = None,
        audit_inline_max_bytes: int = 256 * 1024,
        zone: tzinfo = UTC,
    ) -> None:
        self.audit_log = AuditLog(sessions, clock, put_audit, audit_inline_max_bytes)
        self.context = WorkflowContext(sessions, relay, clock, organisation, self.audit_log, zone)
        self.absences = Absences(self.context)
        self.resubmissions = Resubmissions(self.context)
        self.scheduler = Scheduler(self.context, self.absences, self.resubmissions)
        self.views = WorkflowStateView(sessions)
        self._runs = Runs(self.context)
        self.registry = registry
        self.versions = register_versions(sessions, registry, digests)

    # --- starting and restarting -------------------------------------------------------------------
    def start(self, event: events.DocumentIngested) -> None:
        """Open the approval for a new document (or restart it for a new version), once per event."""
        with self.context.sessions() as session:
            if was_processed(session, CONSUMER, event.event_id):
                return
            mark_processed(session, CONSUMER, event.event_id)
            workflow = lock_workflow(session, str(event.document_id))
            if workflow is None:
                self._open(session, event)
            elif event.version > workflow.version and workflow.state in OPEN_STATES:
                self._restart(session, workflow, event)
            else:
                log.info("documents.ingested for %s v%d: nothing to do", event.document_id, event.version)
            if commit_once(session, CONSUMER, event.event_id):
                self.context.relay.notify()

    def _open(self, session: Session, event: events.DocumentIngested) -> None:
        meta = event.metadata
        definition = self.registry.select(event.workflow, meta.document_type, meta.file_plan_class)
        if definition is None:
            # Not ours to guess: the event is kept, with the reason, for IT to inspect and replay.
            add_dead_letter(
                session,
                events.DeadLetter(
                    source_topic=events.DocumentIngested.TOPIC,
                    consumer=CONSUMER,
                    reason=f"unknown workflow {event.workflow!r}; known: {sorted(self.registry.definitions)}",
                    payload=event.model_dump_json(),
                    document_id=str(event.document_id),
                ),
            )
            return
        now = self.context.clock.now()
        workflow = WorkflowRow(
            document_id=str(event.document_id),
            correlation_id=str(event.correlation_id),
            definition=definition.name,
            definition_version=self.versions[definition.name],
            definition_snapshot=definition_to_json(definition),
            requested_workflow=event.workflow,
            state=WorkflowState.IN_REVIEW.value,
            submitted_by=event.submitted_by,
            submitters=[event.submitted_by],
            original=event.original.model_dump(mode="json"),
            rendition=event.rendition.model_dump(mode="json") if event.rendition else None,
            ocr=event.ocr.model_dump(mode="json") if event.ocr else None,
            document_metadata=meta.model_dump(mode="json"),
            version=event.version,
            run=1,
            current_step=0,
            revision=0,
            created_at=now,
        )
        session.add(workflow)
        session.flush()
        self.audit_log.append(
            session,
            workflow.document_id,
            "created",
            event.submitted_by,
            None,
            {
                "definition": definition.name,
                "definition_version": workflow.definition_version,
                "requested_workflow": event.workflow,
                "version": event.version,
                "sha256": event.original.sha256,
            },
        )
        self._runs.begin(session, workflow)

    def _restart(self, session: Session, workflow: WorkflowRow, event: events.DocumentIngested) -> None:
        """A new version after a return for revision: same document, version + 1, back to step one."""
        self._runs.cancel_open_tasks(session, workflow, reason="new version")
        workflow.version = event.version
        if event.submitted_by not in submitters_of(workflow):
            workflow.submitters = [*submitters_of(workflow), event.submitted_by]
        workflow.original = event.original.model_dump(mode="json")
        workflow.rendition = event.rendition.model_dump(mode="json") if event.rendition else None
        workflow.ocr = event.ocr.model_dump(mode="json") if event.ocr else None
        workflow.document_metadata = event.metadata.model_dump(mode="json")
        workflow.run += 1
        workflow.state = WorkflowState.IN_REVIEW.value
        self.audit_log.append(
            session,
            workflow.document_id,
            "restarted",
            event.submitted_by,
            None,
            {"version": event.version, "run": workflow.run, "sha256": event.original.sha256},
        )
        self._runs.begin(session, workflow)

    # --- inbox ---------------------------------------------------------------------------------------
    def open_tasks(self, user: str, roles: frozenset[str]) -> list[TaskView]:
        """The caller's inbox: direct, through role or org unit, escalated, as deputy; plus due resubmissions."""
        me = self.context.actor(user, roles)
        with self.context.sessions() as session:
            absentees = self.absences.absentees(session, user)
            people = {me.user, *(a.user for a in absentees)}
            all_roles = set(me.roles).union(*(a.roles for a in absentees))
            units = set(me.units).union(*(a.units for a in absentees))
            rows = session.execute(
                select(TaskRow, WorkflowRow)
                .join(WorkflowRow, WorkflowRow.document_id == TaskRow.document_id)
                .where(
                    TaskRow.state == TaskState.OPEN.value,
                    WorkflowRow.submitted_by != user,
                    or_(
                        (TaskRow.assignee_kind == AssigneeKind.USER.value) & TaskRow.assignee.in_(people),
                        (TaskRow.assignee_kind == AssigneeKind.ROLE.value) & TaskRow.assignee.in_(all_roles),
                        (TaskRow.assignee_kind == AssigneeKind.ORG_UNIT.value) & TaskRow.assignee.in_(units),
                        TaskRow.escalated_to_user.in_(people),
                        TaskRow.escalated_to_role.in_(all_roles),
                        TaskRow.claimed_by.in_(people),
                    ),
                )
                .order_by(TaskRow.created_at, TaskRow.slot)
            ).all()
            holders = self._slot_holders(session, {(t.document_id, t.run, t.step) for t, _ in rows})
            views = []
            for task, workflow in rows:
                try:
                    access = check_access(me, absentees, offer_of(task), submitters_of(workflow))
                except DecisionRefused:
                    continue
                held = holders.get((task.document_id, task.run, task.step), {})
                if any(held.get(person) not in (None, task.task_id) for person in (me.user, access.on_behalf_of)):
                    continue  # one person, one slot of a step
                views.append(task_view(task, workflow, access.on_behalf_of))
            views.extend(self.resubmissions.due_for(session, user))
            return views

    def _slot_holders(self, session: Session, steps: set[tuple[str, int, int]]) -> dict[tuple, dict[str, str]]:
        """Per step: who claimed or decided which task (a person holds at most one slot of a step)."""
        if not steps:
            return {}
        documents = {d for d, _, _ in steps}
        found: dict[tuple, dict[str, str]] = {}
        for task in session.scalars(select(TaskRow).where(TaskRow.document_id.in_(documents))):
            key = (task.document_id, task.run, task.step)
            if key not in steps:
                continue
            for person in (task.claimed_by, task.claimed_on_behalf_of, task.decided_by, task.on_behalf_of):
                if person:
                    found.setdefault(key, {})[person] = task.task_id
        return found

    # --- claim and decide ----------------------------------------------------------------------------
    def _access(self, session: Session, me: Actor, task: TaskRow, workflow: WorkflowRow) -> Access:
        """How `me` reaches the task: directly, or as deputy of someone away today (`DecisionRefused` if not)."""
        return check_access(me, self.absences.absentees(session, me.user), offer_of(task), submitters_of(workflow))

    def _check_one_slot(self, session: Session, task: TaskRow, people: Iterable[str | None]) -> None:
        held = self._slot_holders(session, {(task.document_id, task.run, task.step)}).get(
            (task.document_id, task.run, task.step), {}
        )
        for person in people:
            if person and held.get(person) not in (None, task.task_id):
                raise DecisionRefused("already_signed", f"{person} already holds another slot of this step")

    def claim(self, task_id: str, user: str, roles: frozenset[str]) -> TaskView:
        """Take a task offered to a group (role or org unit) into one's own inbox."""
        me = self.context.actor(user, roles)
        with self.context.sessions() as session:
            task, workflow = _lock_open_task(session, task_id, me, "act")
            check_claim(offer_of(task))
            access = self._access(session, me, task, workflow)
            if task.claimed_by is not None:
                raise DecisionRefused("claimed", f"this task has already been claimed by {task.claimed_by}")
            self._check_one_slot(session, task, (me.user, access.on_behalf_of))
            task.claimed_by = me.user
            task.claimed_on_behalf_of = access.on_behalf_of
            self.audit_log.append(
                session,
                workflow.document_id,
                "claimed",
                me.user,
                access.on_behalf_of,
                {"task_id": task.task_id, "step": task.step, "run": task.run},
            )
            session.commit()
            return task_view(task, workflow, access.on_behalf_of)

    def decide(
        self, task_id: str, user: str, roles: frozenset[str], decision: Decision, comment: str
    ) -> DecisionResult:
        me = self.context.actor(user, roles)
        with self.context.sessions() as session:
            task, workflow = _lock_open_task(session, task_id, me, "decide")
            access = self._access(session, me, task, workflow)
            self._check_one_slot(session, task, (me.user, access.on_behalf_of))
            check_decision(decision, comment)
            result = self._apply_decision(session, workflow, task, me.user, access, decision, comment)
            session.commit()
        self.context.relay.notify()
        return DecisionResult(result, access.on_behalf_of)

    def _apply_decision(
        self,
        session: Session,
        workflow: WorkflowRow,
        task: TaskRow,
        user: str,
        access: Access,
        decision: Decision,
        comment: str,
    ) -> WorkflowState:
        now = self.context.clock.now()
        task.state = TaskState.DONE.value
        task.decided_by = user
        task.on_behalf_of = access.on_behalf_of
        task.decision = decision.value
        task.comment = comment
        task.decided_at = now
        self.audit_log.append(
            session,
            workflow.document_id,
            "decided",
            user,
            access.on_behalf_of,
            {
                "task_id": task.task_id,
                "run": task.run,
                "step": task.step,
                "decision": decision.value,
                "comment": comment,
                "version": workflow.version,
            },
        )
        if decision is Decision.REJECT:
            self._runs.cancel_open_tasks(session, workflow, reason="rejected")
            self._runs.finish(session, workflow, WorkflowState.REJECTED, comment, user, access)
            return WorkflowState.REJECTED
        if decision is Decision.RETURN:
            self._runs.cancel_open_tasks(session, workflow, reason="returned for revision")
            workflow.state = WorkflowState.RETURNED.value
            self.audit_log.append(
                session,
                workflow.document_id,
                "returned",
                user,
                access.on_behalf_of,
                {"step": task.step, "comment": comment, "version": workflow.version, "to": workflow.submitted_by},
            )
            add_event(
                session,
                events.DocumentReturned(
                    document_id=uuid.UUID(workflow.document_id),
                    correlation_id=uuid.UUID(workflow.correlation_id),
                    submitted_by=workflow.submitted_by,
                    returned_by=user,
                    on_behalf_of=access.on_behalf_of,
                    comment=comment,
                    step=task.step,
                    version=workflow.version,
                ),
            )
            return WorkflowState.RETURNED
        definition = definition_of(workflow)
        step = definition.steps[task.step - 1]
        approvals = session.scalars(
            select(TaskRow.task_id).where(
                TaskRow.document_id == workflow.document_id,
                TaskRow.run == workflow.run,
                TaskRow.step == task.step,
                TaskRow.decision == Decision.APPROVE.value,
            )
        ).all()
        if not step_complete(step, len(approvals)):
            return WorkflowState.IN_REVIEW
        self._runs.cancel_open_tasks(session, workflow, reason="step complete")
        self.audit_log.append(
            session,
            workflow.document_id,
            "step_completed",
            SYSTEM_USER,
            None,
            {"run": workflow.run, "step": task.step, "step_name": step.name, "approvals": len(approvals)},
        )
        if task.step < len(definition.steps):
            self._runs.open_step(session, workflow, task.step + 1)
            return WorkflowState.IN_REVIEW
        self._runs.finish(session, workflow, WorkflowState.APPROVED, "", user, access)
        return WorkflowState.APPROVED


def _lock_open_task(session: Session, task_id: str, me: Actor, verb: str) -> tuple[TaskRow, WorkflowRow]:
    """The task, its document locked, if it is still open and `me` did not submit the document."""
    task, workflow = lock_task(session, task_id)
    if me.user in submitters_of(workflow):
        raise DecisionRefused("four_eyes", f"the submitter of a document may not {verb} on it")
    if task.state != TaskState.OPEN.value:
        raise DecisionRefused("already_decided", "this task has already been decided")
    return task, workflow


def register_versions(sessions: sessionmaker[Session], registry: Registry, digests: dict[str, str]) -> dict[str, int]:
    """Give each loaded definition its version number: unchanged files keep theirs, changed ones get n + 1."""
    versions: dict[str, int] = {}
    with sessions() as session:
        for name, definition in registry.definitions.items():
            latest = session.scalars(
                select(DefinitionVersionRow)
                .where(DefinitionVersionRow.name == name)
                .order_by(DefinitionVersionRow.version.desc())
                .limit(1)
            ).first()
            if latest is not None and latest.sha256 == digests[name]:
                versions[name] = latest.version
                continue
            version = (latest.version + 1) if latest else 1
            session.add(
                DefinitionVersionRow(
                    name=name, version=version, sha256=digests[name], body=definition_to_json(definition)
                )
            )
            versions[name] = version
        session.commit()
    return versions
