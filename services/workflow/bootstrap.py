"""The workflow's composition root: builds every part once, with the unit of work it works through.

`app.create_app` calls it with the SQL unit of work; the unit tests with a fake one.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, tzinfo

from sqlalchemy.exc import IntegrityError

from services.workflow.absences import Absences
from services.workflow.audit_log import AuditLog, PutAudit
from services.workflow.clock import Clock
from services.workflow.context import WorkflowContext
from services.workflow.domain import Organisation, Registry
from services.workflow.resubmissions import Resubmissions
from services.workflow.runs import Runs
from services.workflow.scheduler import Scheduler
from services.workflow.service import WorkflowService
from services.workflow.starting import Starting, register_versions
from services.workflow.unit_of_work import AbstractWorkflowUnitOfWork
from services.workflow.visibility import Visibility

UowFactory = Callable[[], AbstractWorkflowUnitOfWork]


@dataclass(frozen=True)
class Workflow:
    """Everything the entrypoints (routes, Kafka handlers, the scheduler loop) call."""

    uow: UowFactory  # a new unit of work for each call of a service function
    context: WorkflowContext
    starting: Starting
    tasks: WorkflowService
    absences: Absences
    resubmissions: Resubmissions
    visibility: Visibility
    scheduler: Scheduler
    audit_log: AuditLog
    versions: dict[str, int]


def bootstrap(
    uow: UowFactory,
    clock: Clock,
    registry: Registry,
    organisation: Organisation,
    digests: dict[str, str],
    put_audit: PutAudit | None = None,
    audit_inline_max_bytes: int = 256 * 1024,
    zone: tzinfo = UTC,
) -> Workflow:
    audit_log = AuditLog(clock, put_audit, audit_inline_max_bytes)
    context = WorkflowContext(clock, organisation, audit_log, zone)
    runs = Runs(context)
    absences = Absences(context)
    visibility = Visibility(context, absences)
    resubmissions = Resubmissions(context, visibility)
    try:
        versions = register_versions(uow(), registry, digests)
    except IntegrityError:  # a replica starting at the same moment registered them first: take its numbers
        versions = register_versions(uow(), registry, digests)
    return Workflow(
        uow=uow,
        context=context,
        starting=Starting(context, runs, registry, versions),
        tasks=WorkflowService(context, runs, absences, resubmissions, visibility),
        absences=absences,
        resubmissions=resubmissions,
        visibility=visibility,
        scheduler=Scheduler(context, absences, resubmissions),
        audit_log=audit_log,
        versions=versions,
    )
