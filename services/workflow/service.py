"""Workflow use cases: start a run when a document arrives, inbox, claim, decide, absences, resubmissions,
deadlines, the workflow's state and its audit trail.

Every change to a document's workflow first bumps `workflows.revision` (a row lock on PostgreSQL, the write lock
on SQLite), so changes to one document are serialised: the audit chain stays linear and of two concurrent
decisions on one task exactly one wins. State change, audit entries and outgoing events are one transaction
(transactional outbox).
"""

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from services.workflow.clock import Clock
from services.workflow.definitions import definition_from_json, definition_to_json
from services.workflow.domain import (
    Access,
    Actor,
    AssigneeKind,
    AuditEntry,
    Decision,
    DecisionRefused,
    Offer,
    Organisation,
    Registry,
    TaskState,
    WorkflowDefinition,
    WorkflowState,
    absent_on,
    chain_entry,
    check_access,
    check_claim,
    check_decision,
    deadline_for,
    escalation_target,
    reaches,
    step_complete,
    verify_chain,
)
from services.workflow.tables import (
    AbsenceRow,
    AuditRow,
    DefinitionVersionRow,
    DelegationRow,
    ResubmissionRow,
    TaskRow,
    WorkflowRow,
)
from shared import events
from shared.db import commit_once, mark_processed, was_processed
from shared.outbox import OutboxRelay, add_dead_letter, add_event

log = logging.getLogger(__name__)

CONSUMER = "workflow"
SYSTEM_USER = "system"
OPEN_STATES = (WorkflowState.IN_REVIEW.value, WorkflowState.RETURNED.value)

# Stores a large audit trail beside the document; returns where it lies.
PutAudit = Callable[[str, bytes], events.StoredObject]


@dataclass(frozen=True)
class TaskView:
    task_id: str
    document_id: str
    step: int
    offered_to_role: str
    state: str
    title: str
    aktenzeichen: str
    sha256: str
    submitted_by: str
    created_at: datetime
    kind: str = "approval"
    step_name: str = ""
    assignee_kind: str = ""
    assignee: str = ""
    claimed_by: str | None = None
    on_behalf_of: str | None = None
    deadline_at: datetime | None = None
    escalated: bool = False
    version: int = 1
    definition: str = ""
    note: str = ""


@dataclass(frozen=True)
class DecisionResult:
    workflow_state: WorkflowState
    on_behalf_of: str | None = None


@dataclass(frozen=True)
class AuditView:
    document_id: str
    verified: bool
    first_broken_entry: int | None
    reason: str
    entries: list[dict[str, Any]] = field(default_factory=list)


class TaskNotFound(Exception):
    pass


class WorkflowNotFound(Exception):
    pass


class InvalidRequest(ValueError):
    """Input the rules refuse before anything is stored (e.g. an absence ending before it starts)."""


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
        self._sessions = sessions
        self._zone = zone
        self._relay = relay
        self.clock = clock
        self.registry = registry
        self.organisation = organisation
        self._put_audit = put_audit
        self._audit_inline_max_bytes = audit_inline_max_bytes
        self.versions = self._register_versions(digests)

    # --- definitions ---------------------------------------------------------------------------------
    def _register_versions(self, digests: dict[str, str]) -> dict[str, int]:
        """Give each loaded definition its version number: unchanged files keep theirs, changed ones get n + 1."""
        versions: dict[str, int] = {}
        with self._sessions() as session:
            for name, definition in self.registry.definitions.items():
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

    # --- starting and restarting -------------------------------------------------------------------
    def start(self, event: events.DocumentIngested) -> None:
        """Open the approval for a new document (or restart it for a new version), once per event."""
        with self._sessions() as session:
            if was_processed(session, CONSUMER, event.event_id):
                return
            mark_processed(session, CONSUMER, event.event_id)
            workflow = self._lock(session, str(event.document_id))
            if workflow is None:
                self._open(session, event)
            elif event.version > workflow.version and workflow.state in OPEN_STATES:
                self._restart(session, workflow, event)
            else:
                log.info("documents.ingested for %s v%d: nothing to do", event.document_id, event.version)
            if commit_once(session, CONSUMER, event.event_id):
                self._relay.notify()

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
        now = self.clock.now()
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
        self._audit(
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
        self._begin_run(session, workflow)

    def _restart(self, session: Session, workflow: WorkflowRow, event: events.DocumentIngested) -> None:
        """A new version after a return for revision: same document, version + 1, back to step one."""
        self._cancel_open_tasks(session, workflow, reason="new version")
        workflow.version = event.version
        if event.submitted_by not in _submitters(workflow):
            workflow.submitters = [*_submitters(workflow), event.submitted_by]
        workflow.original = event.original.model_dump(mode="json")
        workflow.rendition = event.rendition.model_dump(mode="json") if event.rendition else None
        workflow.ocr = event.ocr.model_dump(mode="json") if event.ocr else None
        workflow.document_metadata = event.metadata.model_dump(mode="json")
        workflow.run += 1
        workflow.state = WorkflowState.IN_REVIEW.value
        self._audit(
            session,
            workflow.document_id,
            "restarted",
            event.submitted_by,
            None,
            {"version": event.version, "run": workflow.run, "sha256": event.original.sha256},
        )
        self._begin_run(session, workflow)

    def _begin_run(self, session: Session, workflow: WorkflowRow) -> None:
        definition = self._definition(workflow)
        if not definition.steps:
            # Filing only: approved at once, by the system, not by a person.
            decision = events.Decision(
                step=0,
                decided_by=SYSTEM_USER,
                decision=Decision.APPROVE.value,
                comment="Ablage ohne Prüfung",
                decided_at=self.clock.now(),
            )
            self._finish(session, workflow, [decision], WorkflowState.APPROVED, "", SYSTEM_USER, None)
            return
        self._open_step(session, workflow, 1)

    def _open_step(self, session: Session, workflow: WorkflowRow, number: int) -> None:
        step = self._definition(workflow).steps[number - 1]
        workflow.current_step = number
        now = self.clock.now()
        deadline = deadline_for(step, now)
        roles: list[str] = []
        for slot, spec in enumerate(step.assignees, start=1):
            if spec.user:
                kind, assignee, unit = AssigneeKind.USER, spec.user, self.organisation.home_unit(spec.user)
            elif spec.role:
                kind, assignee, unit = AssigneeKind.ROLE, spec.role, self.organisation.home_unit(workflow.submitted_by)
                roles.append(spec.role)
            elif spec.members:
                kind, assignee, unit = AssigneeKind.ORG_UNIT, str(spec.org_unit), spec.org_unit
            else:  # an org unit without `members`: its head
                unit_id = str(spec.org_unit)
                kind, assignee, unit = AssigneeKind.USER, self.organisation.head_of(unit_id), unit_id
            task = TaskRow(
                task_id=str(uuid.uuid4()),
                document_id=workflow.document_id,
                run=workflow.run,
                step=number,
                slot=slot,
                step_name=step.name,
                assignee_kind=kind.value,
                assignee=assignee,
                offered_to_role=assignee if kind is AssigneeKind.ROLE else "",
                org_unit=unit,
                state=TaskState.OPEN.value,
                created_at=now,
                deadline_at=deadline.due_at,
                remind_at=deadline.remind_at,
            )
            session.add(task)
            self._audit(
                session,
                workflow.document_id,
                "assigned",
                SYSTEM_USER,
                None,
                {
                    "task_id": task.task_id,
                    "run": workflow.run,
                    "step": number,
                    "step_name": step.name,
                    "assignee_kind": kind.value,
                    "assignee": assignee,
                    "deadline_at": deadline.due_at.isoformat(),
                },
            )
        add_event(
            session,
            events.ReviewStarted(
                document_id=uuid.UUID(workflow.document_id),
                correlation_id=uuid.UUID(workflow.correlation_id),
                workflow=workflow.definition,
                step=number,
                offered_to_role=roles[0] if roles else "",
                step_name=step.name,
                version=workflow.version,
            ),
        )

    def today(self) -> date:
        """The calendar day of the municipality (absences and resubmissions are whole local days)."""
        return self.clock.now().astimezone(self._zone).date()

    # --- inbox ---------------------------------------------------------------------------------------
    def _actor(self, user: str, roles: Iterable[str]) -> Actor:
        return Actor(user=user, roles=frozenset(roles), units=self.organisation.units_of(user))

    def _absentees(self, session: Session, deputy: str) -> list[Actor]:
        """Whom `deputy` stands in for today (`Vertretung`)."""
        today = self.today()
        rows = session.scalars(
            select(AbsenceRow).where(
                AbsenceRow.deputy == deputy, AbsenceRow.starts_on <= today, AbsenceRow.ends_on >= today
            )
        ).all()
        return [self._actor(row.user, row.roles) for row in rows]

    def open_tasks(self, user: str, roles: frozenset[str]) -> list[TaskView]:
        """The caller's inbox: direct, through role or org unit, escalated, as deputy; plus due resubmissions."""
        me = self._actor(user, roles)
        with self._sessions() as session:
            absentees = self._absentees(session, user)
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
                    access = check_access(me, absentees, _offer(task), _submitters(workflow))
                except DecisionRefused:
                    continue
                held = holders.get((task.document_id, task.run, task.step), {})
                if any(held.get(person) not in (None, task.task_id) for person in (me.user, access.on_behalf_of)):
                    continue  # one person, one slot of a step
                views.append(_task_view(task, workflow, access.on_behalf_of))
            views.extend(self._due_resubmissions(session, user))
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

    def _due_resubmissions(self, session: Session, user: str) -> list[TaskView]:
        rows = session.execute(
            select(ResubmissionRow, WorkflowRow)
            .join(WorkflowRow, WorkflowRow.document_id == ResubmissionRow.document_id)
            .where(
                ResubmissionRow.user == user,
                ResubmissionRow.due_at.is_not(None),
                ResubmissionRow.done_at.is_(None),
            )
        ).all()
        return [
            TaskView(
                task_id=r.resubmission_id,
                document_id=r.document_id,
                step=0,
                offered_to_role="",
                state="due",
                title=w.document_metadata.get("title", ""),
                aktenzeichen=w.document_metadata.get("aktenzeichen", ""),
                sha256=w.original["sha256"],
                submitted_by=w.submitted_by,
                created_at=r.due_at or r.created_at,
                kind="resubmission",
                assignee_kind=AssigneeKind.USER.value,
                assignee=user,
                version=w.version,
                definition=w.definition,
                note=r.note,
            )
            for r, w in rows
        ]

    # --- claim and decide ----------------------------------------------------------------------------
    def _locked_task(self, session: Session, task_id: str) -> tuple[TaskRow, WorkflowRow]:
        task = session.get(TaskRow, task_id)
        if task is None:
            raise TaskNotFound(task_id)
        workflow = self._lock(session, task.document_id)
        if workflow is None:
            raise TaskNotFound(task_id)
        session.refresh(task)
        return task, workflow

    def _check_one_slot(self, session: Session, task: TaskRow, people: Iterable[str | None]) -> None:
        held = self._slot_holders(session, {(task.document_id, task.run, task.step)}).get(
            (task.document_id, task.run, task.step), {}
        )
        for person in people:
            if person and held.get(person) not in (None, task.task_id):
                raise DecisionRefused("already_signed", f"{person} already holds another slot of this step")

    def claim(self, task_id: str, user: str, roles: frozenset[str]) -> TaskView:
        """Take a task offered to a group (role or org unit) into one's own inbox."""
        me = self._actor(user, roles)
        with self._sessions() as session:
            task, workflow = self._locked_task(session, task_id)
            if me.user in _submitters(workflow):
                raise DecisionRefused("four_eyes", "the submitter of a document may not act on it")
            if task.state != TaskState.OPEN.value:
                raise DecisionRefused("already_decided", "this task has already been decided")
            check_claim(_offer(task))
            access = check_access(me, self._absentees(session, user), _offer(task), _submitters(workflow))
            if task.claimed_by is not None:
                raise DecisionRefused("claimed", f"this task has already been claimed by {task.claimed_by}")
            self._check_one_slot(session, task, (me.user, access.on_behalf_of))
            task.claimed_by = me.user
            task.claimed_on_behalf_of = access.on_behalf_of
            self._audit(
                session,
                workflow.document_id,
                "claimed",
                me.user,
                access.on_behalf_of,
                {"task_id": task.task_id, "step": task.step, "run": task.run},
            )
            session.commit()
            return _task_view(task, workflow, access.on_behalf_of)

    def decide(
        self, task_id: str, user: str, roles: frozenset[str], decision: Decision, comment: str
    ) -> DecisionResult:
        me = self._actor(user, roles)
        with self._sessions() as session:
            task, workflow = self._locked_task(session, task_id)
            if me.user in _submitters(workflow):
                raise DecisionRefused("four_eyes", "the submitter of a document may not decide on it")
            if task.state != TaskState.OPEN.value:
                raise DecisionRefused("already_decided", "this task has already been decided")
            access = check_access(me, self._absentees(session, user), _offer(task), _submitters(workflow))
            self._check_one_slot(session, task, (me.user, access.on_behalf_of))
            check_decision(decision, comment)
            result = self._apply_decision(session, workflow, task, me.user, access, decision, comment)
            session.commit()
        self._relay.notify()
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
        now = self.clock.now()
        task.state = TaskState.DONE.value
        task.decided_by = user
        task.on_behalf_of = access.on_behalf_of
        task.decision = decision.value
        task.comment = comment
        task.decided_at = now
        self._audit(
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
            self._cancel_open_tasks(session, workflow, reason="rejected")
            self._finish(
                session, workflow, self._decisions(session, workflow), WorkflowState.REJECTED, comment, user, access
            )
            return WorkflowState.REJECTED
        if decision is Decision.RETURN:
            self._cancel_open_tasks(session, workflow, reason="returned for revision")
            workflow.state = WorkflowState.RETURNED.value
            self._audit(
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
        definition = self._definition(workflow)
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
        self._cancel_open_tasks(session, workflow, reason="step complete")
        self._audit(
            session,
            workflow.document_id,
            "step_completed",
            SYSTEM_USER,
            None,
            {"run": workflow.run, "step": task.step, "step_name": step.name, "approvals": len(approvals)},
        )
        if task.step < len(definition.steps):
            self._open_step(session, workflow, task.step + 1)
            return WorkflowState.IN_REVIEW
        self._finish(session, workflow, self._decisions(session, workflow), WorkflowState.APPROVED, "", user, access)
        return WorkflowState.APPROVED

    def _decisions(self, session: Session, workflow: WorkflowRow) -> list[events.Decision]:
        tasks = session.scalars(
            select(TaskRow)
            .where(
                TaskRow.document_id == workflow.document_id,
                TaskRow.run == workflow.run,
                TaskRow.decided_at.is_not(None),
            )
            .order_by(TaskRow.decided_at, TaskRow.step, TaskRow.slot)
        ).all()
        return [
            events.Decision(
                step=t.step,
                decided_by=t.decided_by or "",
                decision=t.decision or "",
                comment=t.comment,
                decided_at=t.decided_at,
                on_behalf_of=t.on_behalf_of,
            )
            for t in tasks
            if t.decided_at is not None
        ]

    def _cancel_open_tasks(self, session: Session, workflow: WorkflowRow, reason: str) -> None:
        for task in session.scalars(
            select(TaskRow).where(TaskRow.document_id == workflow.document_id, TaskRow.state == TaskState.OPEN.value)
        ):
            task.state = TaskState.CANCELLED.value
            self._audit(
                session,
                workflow.document_id,
                "cancelled",
                SYSTEM_USER,
                None,
                {"task_id": task.task_id, "step": task.step, "run": task.run, "reason": reason},
            )

    def _finish(
        self,
        session: Session,
        workflow: WorkflowRow,
        decisions: list[events.Decision],
        result: WorkflowState,
        reason: str,
        user: str,
        access: Access | None,
    ) -> None:
        workflow.state = result.value
        workflow.finished_at = self.clock.now()
        self._audit(
            session,
            workflow.document_id,
            result.value,
            user,
            access.on_behalf_of if access else None,
            {"version": workflow.version, "run": workflow.run, "reason": reason},
        )
        trail = [entry.as_dict() for entry in self._entries(session, workflow.document_id)]
        common: dict[str, Any] = {
            "document_id": uuid.UUID(workflow.document_id),
            "correlation_id": uuid.UUID(workflow.correlation_id),
            "original": events.StoredObject.model_validate(workflow.original),
            "rendition": events.StoredObject.model_validate(workflow.rendition) if workflow.rendition else None,
            "ocr": events.OcrResult.model_validate(workflow.ocr) if workflow.ocr else None,
            "metadata": events.DocumentMetadata.model_validate(workflow.document_metadata),
            "submitted_by": workflow.submitted_by,
            "decisions": decisions,
            "version": workflow.version,
        }
        encoded = json.dumps(trail, ensure_ascii=False).encode()
        if len(encoded) > self._audit_inline_max_bytes and self._put_audit is not None:
            common["audit_ref"] = self._put_audit(workflow.document_id, encoded)
        else:
            common["audit"] = trail
        if result is WorkflowState.APPROVED:
            add_event(session, events.DocumentApproved(**common))
        else:
            add_event(session, events.DocumentRejected(**common, reason=reason))

    # --- absences (Vertretung) -----------------------------------------------------------------------
    def record_absence(
        self, user: str, roles: frozenset[str], deputy: str, starts_on: date, ends_on: date
    ) -> AbsenceRow:
        if deputy == user:
            raise InvalidRequest("the deputy must be someone else")
        if ends_on < starts_on:
            raise InvalidRequest("ends_on lies before starts_on")
        with self._sessions() as session:
            row = AbsenceRow(
                absence_id=str(uuid.uuid4()),
                user=user,
                deputy=deputy,
                roles=sorted(roles),
                starts_on=starts_on,
                ends_on=ends_on,
                created_at=self.clock.now(),
            )
            session.add(row)
            session.commit()
        return row

    def absences(self, user: str) -> list[AbsenceRow]:
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(AbsenceRow)
                    .where(or_(AbsenceRow.user == user, AbsenceRow.deputy == user))
                    .order_by(AbsenceRow.starts_on)
                )
            )

    # --- resubmissions (Wiedervorlage) ---------------------------------------------------------------
    def add_resubmission(self, user: str, document_id: str, on: date, note: str) -> ResubmissionRow:
        with self._sessions() as session:
            workflow = self._lock(session, document_id)
            if workflow is None:
                raise WorkflowNotFound(document_id)
            row = ResubmissionRow(
                resubmission_id=str(uuid.uuid4()),
                document_id=document_id,
                user=user,
                due_on=on,
                note=note,
                created_at=self.clock.now(),
            )
            session.add(row)
            self._audit(
                session,
                document_id,
                "resubmission_set",
                user,
                None,
                {"resubmission_id": row.resubmission_id, "on": on.isoformat(), "note": note},
            )
            session.commit()
        return row

    def resubmissions(self, user: str) -> list[ResubmissionRow]:
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(ResubmissionRow).where(ResubmissionRow.user == user).order_by(ResubmissionRow.due_on)
                )
            )

    def finish_resubmission(self, user: str, resubmission_id: str) -> ResubmissionRow:
        with self._sessions() as session:
            row = session.get(ResubmissionRow, resubmission_id)
            if row is None or row.user != user:
                raise TaskNotFound(resubmission_id)
            self._lock(session, row.document_id)
            session.refresh(row)
            if row.done_at is None:
                row.done_at = self.clock.now()
                self._audit(
                    session, row.document_id, "resubmission_done", user, None, {"resubmission_id": row.resubmission_id}
                )
            session.commit()
            return row

    # --- the clock: reminders, escalations, due resubmissions, delegations ---------------------------
    def tick(self) -> int:
        """Do what the clock says is due; returns how many things changed. Safe to run any time, any number."""
        now = self.clock.now()
        changed = 0
        with self._sessions() as session:
            to_remind = session.scalars(
                select(TaskRow.task_id).where(
                    TaskRow.state == TaskState.OPEN.value, TaskRow.reminded_at.is_(None), TaskRow.remind_at <= now
                )
            ).all()
            to_escalate = session.scalars(
                select(TaskRow.task_id).where(
                    TaskRow.state == TaskState.OPEN.value, TaskRow.escalated_at.is_(None), TaskRow.deadline_at <= now
                )
            ).all()
            due = session.scalars(
                select(ResubmissionRow.resubmission_id).where(
                    ResubmissionRow.due_at.is_(None), ResubmissionRow.due_on <= self.today()
                )
            ).all()
            today = self.today()
            absences = session.scalars(
                select(AbsenceRow).where(AbsenceRow.starts_on <= today, AbsenceRow.ends_on >= today)
            ).all()
        for task_id in to_remind:
            changed += self._remind(task_id, now)
        for task_id in to_escalate:
            changed += self._escalate(task_id, now)
        for resubmission_id in due:
            changed += self._resubmission_due(resubmission_id, now)
        for absence in absences:
            changed += self._delegate(absence, now)
        if changed:
            self._relay.notify()
        return changed

    def _remind(self, task_id: str, now: datetime) -> int:
        with self._sessions() as session:
            task, workflow = self._locked_task(session, task_id)
            if task.state != TaskState.OPEN.value or task.reminded_at is not None or task.deadline_at is None:
                return 0
            task.reminded_at = now
            add_event(
                session,
                events.DeadlineReminder(
                    **_deadline_fields(task, workflow),
                ),
            )
            self._audit(
                session,
                workflow.document_id,
                "reminded",
                SYSTEM_USER,
                None,
                {"task_id": task.task_id, "deadline_at": task.deadline_at.isoformat()},
            )
            session.commit()
            return 1

    def _escalate(self, task_id: str, now: datetime) -> int:
        with self._sessions() as session:
            task, workflow = self._locked_task(session, task_id)
            if task.state != TaskState.OPEN.value or task.escalated_at is not None or task.deadline_at is None:
                return 0
            step = self._definition(workflow).steps[task.step - 1]
            current = task.claimed_by or (task.assignee if task.assignee_kind == AssigneeKind.USER.value else None)
            target = escalation_target(step, self.organisation, task.org_unit, current)
            task.escalated_at = now
            task.escalated_to_user = target.user
            task.escalated_to_role = target.role
            add_event(
                session,
                events.TaskEscalated(
                    **_deadline_fields(task, workflow),
                    escalated_to_user=target.user,
                    escalated_to_role=target.role,
                ),
            )
            self._audit(
                session,
                workflow.document_id,
                "escalated",
                SYSTEM_USER,
                None,
                {
                    "task_id": task.task_id,
                    "deadline_at": task.deadline_at.isoformat(),
                    "to_user": target.user,
                    "to_role": target.role,
                },
            )
            session.commit()
            return 1

    def _resubmission_due(self, resubmission_id: str, now: datetime) -> int:
        with self._sessions() as session:
            row = session.get(ResubmissionRow, resubmission_id)
            if row is None:
                return 0
            workflow = self._lock(session, row.document_id)
            session.refresh(row)
            if workflow is None or row.due_at is not None:
                return 0
            row.due_at = now
            add_event(
                session,
                events.ResubmissionDue(
                    document_id=uuid.UUID(row.document_id),
                    correlation_id=uuid.UUID(workflow.correlation_id),
                    resubmission_id=row.resubmission_id,
                    user=row.user,
                    due_on=row.due_on.isoformat(),
                    note=row.note,
                ),
            )
            self._audit(
                session,
                row.document_id,
                "resubmission_due",
                SYSTEM_USER,
                None,
                {"resubmission_id": row.resubmission_id, "user": row.user, "on": row.due_on.isoformat()},
            )
            session.commit()
            return 1

    def _delegate(self, absence: AbsenceRow, now: datetime) -> int:
        """Record, once per task and absence, that an absent person's open tasks now show in the deputy's inbox."""
        if not absent_on(self.today(), absence.starts_on, absence.ends_on):
            return 0
        absent = self._actor(absence.user, absence.roles)
        with self._sessions() as session:
            candidates = session.scalars(
                select(TaskRow).where(
                    TaskRow.state == TaskState.OPEN.value,
                    or_(
                        (TaskRow.assignee_kind == AssigneeKind.USER.value) & (TaskRow.assignee == absence.user),
                        TaskRow.escalated_to_user == absence.user,
                        TaskRow.claimed_by == absence.user,
                    ),
                )
            ).all()
            done = set(
                session.scalars(select(DelegationRow.task_id).where(DelegationRow.absence_id == absence.absence_id))
            )
            pending = [t.task_id for t in candidates if t.task_id not in done and reaches(absent, _offer(t))]
        count = 0
        for task_id in pending:
            with self._sessions() as session:
                _task, workflow = self._locked_task(session, task_id)
                if session.get(DelegationRow, (task_id, absence.absence_id)) is not None:
                    continue
                session.add(DelegationRow(task_id=task_id, absence_id=absence.absence_id, at=now))
                self._audit(
                    session,
                    workflow.document_id,
                    "delegated",
                    absence.user,
                    None,
                    {
                        "task_id": task_id,
                        "from": absence.user,
                        "to": absence.deputy,
                        "until": absence.ends_on.isoformat(),
                    },
                )
                session.commit()
                count += 1
        return count

    # --- state and audit -----------------------------------------------------------------------------
    def workflow_state(self, document_id: str) -> dict[str, Any]:
        with self._sessions() as session:
            workflow = session.get(WorkflowRow, document_id)
            if workflow is None:
                raise WorkflowNotFound(document_id)
            definition = self._definition(workflow)
            tasks = session.scalars(
                select(TaskRow)
                .where(TaskRow.document_id == document_id)
                .order_by(TaskRow.run, TaskRow.step, TaskRow.slot)
            ).all()
            current = [t for t in tasks if t.run == workflow.run]
            steps = []
            for number, step in enumerate(definition.steps, start=1):
                step_tasks = [t for t in current if t.step == number]
                approvals = sum(1 for t in step_tasks if t.decision == Decision.APPROVE.value)
                if any(t.state == TaskState.OPEN.value for t in step_tasks):
                    state = "open"
                elif step_tasks and step_complete(step, approvals):
                    state = "completed"
                elif step_tasks:
                    state = "stopped"
                else:
                    state = "pending"
                steps.append(
                    {
                        "step": number,
                        "name": step.name,
                        "type": step.type.value,
                        "mode": step.mode.value,
                        "required_approvals": step.required_approvals(),
                        "approvals": approvals,
                        "state": state,
                        "tasks": [_task_dict(t) for t in step_tasks],
                    }
                )
            open_tasks = [_task_dict(t) for t in current if t.state == TaskState.OPEN.value]
            return {
                "document_id": workflow.document_id,
                "definition": workflow.definition,
                "definition_version": workflow.definition_version,
                "definition_title": definition.title,
                "requested_workflow": workflow.requested_workflow,
                "state": workflow.state,
                "submitted_by": workflow.submitted_by,
                "version": workflow.version,
                "run": workflow.run,
                "current_step": workflow.current_step,
                "title": workflow.document_metadata.get("title", ""),
                "aktenzeichen": workflow.document_metadata.get("aktenzeichen", ""),
                "created_at": workflow.created_at,
                "finished_at": workflow.finished_at,
                "steps": steps,
                "open": open_tasks,
                "earlier_runs": [_task_dict(t) for t in tasks if t.run != workflow.run],
            }

    def audit(self, document_id: str) -> AuditView:
        with self._sessions() as session:
            entries = self._entries(session, document_id)
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

    # --- helpers -------------------------------------------------------------------------------------
    @staticmethod
    def _lock(session: Session, document_id: str) -> WorkflowRow | None:
        """Serialise changes to one document: bump its revision first, then read it fresh."""
        bumped = session.execute(
            update(WorkflowRow)
            .where(WorkflowRow.document_id == document_id)
            .values(revision=WorkflowRow.revision + 1)
            .execution_options(synchronize_session=False)
        ).rowcount
        if bumped != 1:
            return None
        return session.get(WorkflowRow, document_id, populate_existing=True)

    @staticmethod
    def _definition(workflow: WorkflowRow) -> WorkflowDefinition:
        return definition_from_json(workflow.definition_snapshot)

    def _audit(
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
        entry = chain_entry(previous, document_id, action, actor, on_behalf_of, payload, self.clock.now())
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

    @staticmethod
    def _entries(session: Session, document_id: str) -> list[AuditEntry]:
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


def _submitters(workflow: WorkflowRow) -> list[str]:
    return list(workflow.submitters or [workflow.submitted_by])


def _offer(task: TaskRow) -> Offer:
    return Offer(
        assignee_kind=AssigneeKind(task.assignee_kind),
        assignee=task.assignee,
        claimed_by=task.claimed_by,
        escalated_to_user=task.escalated_to_user,
        escalated_to_role=task.escalated_to_role,
    )


def _task_view(task: TaskRow, workflow: WorkflowRow, on_behalf_of: str | None) -> TaskView:
    return TaskView(
        task_id=task.task_id,
        document_id=task.document_id,
        step=task.step,
        offered_to_role=task.offered_to_role,
        state=task.state,
        title=workflow.document_metadata.get("title", ""),
        aktenzeichen=workflow.document_metadata.get("aktenzeichen", ""),
        sha256=workflow.original["sha256"],
        submitted_by=workflow.submitted_by,
        created_at=task.created_at,
        step_name=task.step_name,
        assignee_kind=task.assignee_kind,
        assignee=task.assignee,
        claimed_by=task.claimed_by,
        on_behalf_of=on_behalf_of,
        deadline_at=task.deadline_at,
        escalated=task.escalated_at is not None,
        version=workflow.version,
        definition=workflow.definition,
    )


def _task_dict(task: TaskRow) -> dict[str, Any]:
    return {
        "task_id": task.task_id,
        "run": task.run,
        "step": task.step,
        "slot": task.slot,
        "assignee_kind": task.assignee_kind,
        "assignee": task.assignee,
        "claimed_by": task.claimed_by,
        "state": task.state,
        "deadline_at": task.deadline_at,
        "escalated_to_user": task.escalated_to_user,
        "escalated_to_role": task.escalated_to_role,
        "decided_by": task.decided_by,
        "on_behalf_of": task.on_behalf_of,
        "decision": task.decision,
        "comment": task.comment,
        "decided_at": task.decided_at,
    }


def _deadline_fields(task: TaskRow, workflow: WorkflowRow) -> dict[str, Any]:
    """What reminder and escalation events both say about the task whose deadline is near or past."""
    return {
        "document_id": uuid.UUID(workflow.document_id),
        "correlation_id": uuid.UUID(workflow.correlation_id),
        "task_id": task.task_id,
        "step": task.step,
        "step_name": task.step_name,
        "assignee_kind": task.assignee_kind,
        "assignee": task.claimed_by or task.assignee,
        "deadline_at": task.deadline_at,
    }


def audit_object_key(document_id: str, data: bytes) -> str:
    return f"documents/{document_id}/audit-{hashlib.sha256(data).hexdigest()[:16]}.json"
