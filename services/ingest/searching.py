"""The search for clerks and approvers (`GET /api/v1/search`, the portal's /suche): service layer.

Every document ingest holds, in review and archived, matched by Snowball stems of its metadata and text, narrowed
by facets, and filtered by need-to-know in the query (shared.need_to_know.search_scope); an approver's documents
with a task are the workflow's to name (asked with their own token).
"""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError

from services.ingest.access import Caller
from services.ingest.domain import DocumentStatus
from services.ingest.domain_search import Filters, Query, parse_query, snippet
from services.ingest.tables import SearchEntryRow
from services.ingest.unit_of_work import IngestUnitOfWork
from shared.need_to_know import DocumentFacts, SearchScope, search_scope

log = logging.getLogger(__name__)

# The caller's bearer token -> the ids of the documents they have a task on (the workflow's answer).
TaskDocuments = Callable[[str], frozenset[str]]
MAX_LIMIT = 100
BACKFILL_BATCH = 200


@dataclass(frozen=True)
class SearchHit:
    document_id: str
    title: str
    filename: str
    aktenzeichen: str
    akte_title: str
    document_type: str
    file_plan_class: str
    year: int
    status: str
    snippet: str  # HTML: escaped text, each hit in <mark>


@dataclass(frozen=True)
class SearchResult:
    query: str
    total: int
    hits: list[SearchHit]
    # facet -> [(value, count)], most first: status, document_type, file_plan_class, year
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)


class SearchService:
    def __init__(self, task_documents: TaskDocuments | None = None) -> None:
        self._task_documents = task_documents

    def search(
        self, uow: IngestUnitOfWork, caller: Caller, text: str, filters: Filters, limit: int = 20, offset: int = 0
    ) -> SearchResult:
        query = parse_query(text)
        scope = search_scope(caller.reader)
        tasks = self._tasks_of(caller, scope)
        with uow:
            page = uow.search.search(query, filters, scope, sorted(tasks), min(max(limit, 1), MAX_LIMIT), offset)
            opens = [scope.opens(_facts(entry), entry.document_id in tasks) for entry in page.entries]
            hits = [_hit(entry, query, may) for entry, may in zip(page.entries, opens, strict=True)]
        return SearchResult(query=query.text, total=page.total, hits=hits, facets=page.facets.counts)

    def _tasks_of(self, caller: Caller, scope: SearchScope) -> frozenset[str]:
        if scope.everything or "approver" not in caller.reader.roles or not caller.token:
            return frozenset()
        return self._task_documents(caller.token) if self._task_documents else frozenset()


def _facts(entry: SearchEntryRow) -> DocumentFacts:
    return DocumentFacts(
        org_unit=entry.org_unit,
        submitters=frozenset({entry.submitted_by}),
        archived=entry.archived,
        confidential=entry.confidential,
    )


def _hit(entry: SearchEntryRow, query: Query, opens: bool) -> SearchHit:
    texts = [entry.body if opens else "", entry.title, entry.filename, entry.akte_title]
    return SearchHit(
        document_id=entry.document_id,
        title=entry.title,
        filename=entry.filename,
        aktenzeichen=entry.aktenzeichen,
        akte_title=entry.akte_title,
        document_type=entry.document_type,
        file_plan_class=entry.file_plan_class,
        year=entry.year,
        status=entry.status,
        snippet=snippet(texts, query),
    )


def backfill_batch(uow: IngestUnitOfWork) -> int:
    """Index up to BACKFILL_BATCH documents filed before the index existed (metadata and status); how many."""
    with uow:
        rows = uow.search.missing(BACKFILL_BATCH)
        for row in rows:
            uow.search.index(row, "")
            for entry in row.history:
                uow.search.status_changed([row.document_id], DocumentStatus(entry.status))
    return len(rows)


class SearchBackfill:
    """A background job at start: indexes what is missing, then ends."""

    def __init__(self, uow_factory: Callable[[], IngestUnitOfWork]) -> None:
        self._uow_factory = uow_factory

    async def run(self) -> None:
        total, clashes = 0, 0
        while clashes < 5:
            try:
                done = await asyncio.to_thread(backfill_batch, self._uow_factory())
            except IntegrityError:  # something else indexed some of them meanwhile: take the batch again
                clashes += 1
                continue
            total += done
            if done < BACKFILL_BATCH:
                break
        if total:
            log.info("search index: %d documents filed before it were added", total)
