"""The inbox's rules: which tasks a filter keeps, in which order, the figures above the list, and a page of it.

Pure rules over any task-like value (`InboxEntry`); the workflow service applies them to its `TaskView`s
and answers one page, so a browser never receives hundreds of tasks at once.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

DUE_SOON = timedelta(days=1)  # "bald fällig": the deadline is within a day
MAX_PAGE = 200


class Due(StrEnum):
    ANY = ""
    OVERDUE = "overdue"  # the deadline has passed
    DUE_SOON = "due_soon"  # the deadline is within `DUE_SOON`, not yet passed


class SortKey(StrEnum):
    DEADLINE = "deadline"  # tasks without a deadline last
    RECEIVED = "received"  # when the task came in
    TITLE = "title"  # the document's title, case-insensitive


class InboxEntry(Protocol):
    @property
    def task_id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def aktenzeichen(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def deadline_at(self) -> datetime | None: ...
    @property
    def step_name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def org_unit(self) -> str: ...
    @property
    def on_behalf_of(self) -> str | None: ...


Entry = TypeVar("Entry", bound=InboxEntry)


@dataclass(frozen=True)
class InboxQuery:
    due: Due = Due.ANY
    step: str = ""  # a step's name (`step_label`); empty: all steps
    org_unit: str = ""  # empty: all org units
    text: str = ""  # part of the title or Aktenzeichen, any case; empty: all
    sort: SortKey = SortKey.DEADLINE
    descending: bool = False
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class InboxCounts:
    total: int
    overdue: int
    due_soon: int
    deputy: int


@dataclass(frozen=True)
class InboxPage(Generic[Entry]):
    total: int  # how many tasks the filter keeps (all pages)
    items: list[Entry]
    counts: InboxCounts  # figures of the whole inbox, unfiltered
    steps: list[str]  # the step names in the inbox, for the step filter
    org_units: list[str]  # the org units in the inbox, for the org unit filter


def step_label(entry: InboxEntry) -> str:
    """What the step filter names: the step's name, or the task's kind (a resubmission has no step)."""
    return entry.step_name or entry.kind


def due_state(deadline: datetime | None, now: datetime) -> Due:
    if deadline is None:
        return Due.ANY
    if deadline < now:
        return Due.OVERDUE
    if deadline < now + DUE_SOON:
        return Due.DUE_SOON
    return Due.ANY


def keeps(entry: InboxEntry, query: InboxQuery, now: datetime) -> bool:
    if query.due is not Due.ANY and due_state(entry.deadline_at, now) is not query.due:
        return False
    if query.step and step_label(entry) != query.step:
        return False
    if query.org_unit and entry.org_unit != query.org_unit:
        return False
    wanted = query.text.strip().casefold()
    return not wanted or wanted in entry.title.casefold() or wanted in entry.aktenzeichen.casefold()


def sort_key(sort: SortKey) -> Callable[[InboxEntry], tuple[Any, ...]]:
    """The order of the list; ties keep a stable order by when the task came in and its id."""
    if sort is SortKey.TITLE:
        return lambda e: (e.title.casefold(), e.created_at, e.task_id)
    if sort is SortKey.RECEIVED:
        return lambda e: (e.created_at, e.task_id)
    return lambda e: (e.deadline_at is None, e.deadline_at or e.created_at, e.created_at, e.task_id)


def counts_of(entries: Sequence[InboxEntry], now: datetime) -> InboxCounts:
    states = [due_state(e.deadline_at, now) for e in entries]
    return InboxCounts(
        total=len(entries),
        overdue=states.count(Due.OVERDUE),
        due_soon=states.count(Due.DUE_SOON),
        deputy=sum(1 for e in entries if e.on_behalf_of),
    )


def inbox_page(entries: Sequence[Entry], query: InboxQuery, now: datetime) -> InboxPage[Entry]:
    """One page of the inbox under the filter, in the chosen order (tasks without a deadline last, ascending)."""
    kept = [e for e in entries if keeps(e, query, now)]
    if query.sort is SortKey.DEADLINE and query.descending:
        with_deadline = sorted((e for e in kept if e.deadline_at), key=sort_key(query.sort), reverse=True)
        kept = with_deadline + sorted((e for e in kept if not e.deadline_at), key=sort_key(SortKey.RECEIVED))
    else:
        kept.sort(key=sort_key(query.sort), reverse=query.descending)
    limit = max(1, min(query.limit, MAX_PAGE))
    offset = max(0, query.offset)
    return InboxPage(
        total=len(kept),
        items=kept[offset : offset + limit],
        counts=counts_of(entries, now),
        steps=sorted({step_label(e) for e in entries if step_label(e)}),
        org_units=sorted({e.org_unit for e in entries if e.org_unit}),
    )
