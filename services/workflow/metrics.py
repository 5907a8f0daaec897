"""The workflow service's gauge for `GET /metrics`: open tasks by kind (to whom they are offered).

Read through the unit of work when Prometheus scrapes (at most every few seconds; `shared.metrics.CachedReading`).
"""

from collections.abc import Callable

from prometheus_client.core import Metric

from services.workflow.domain import AssigneeKind
from services.workflow.unit_of_work import AbstractWorkflowUnitOfWork
from shared.metrics import CachedReading, by_label


def readings(uow: Callable[[], AbstractWorkflowUnitOfWork]) -> list[CachedReading]:
    def read() -> list[Metric]:
        with uow() as work:
            open_tasks = work.workflows.count_open_tasks_by_kind()
        kinds = [kind.value for kind in AssigneeKind]
        documentation = "Open approval tasks by kind: offered to a user, a role or an org unit"
        return [by_label("eakte_tasks_open", documentation, "kind", kinds, open_tasks)]

    return [CachedReading(read, name="workflow gauges")]
