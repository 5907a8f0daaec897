"""The search index for clerks and approvers: every document ingest holds, in review and archived.

One entry per document (`search_entries`), written in the unit of work that writes the document, its status or its
OCR text. Matching runs over Snowball stems (services.ingest.domain_search): on SQLite an FTS5 table of stemmed
tokens, on PostgreSQL `tsvector`s of the same stems. Need-to-know (shared.need_to_know.search_scope) is applied in
the query, so what a person may not see is neither listed nor counted in a facet.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Integer,
    Table,
    TextClause,
    case,
    column,
    event,
    false,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.orm import Session

from services.ingest.domain import DocumentStatus, passed_by
from services.ingest.domain_search import (
    FACETS,
    MAX_BODY_CHARS,
    Facets,
    Filters,
    Query,
    fts5_match,
    stemmed_text,
)
from services.ingest.tables import AkteRow, DocumentRow, SearchEntryRow
from shared.db import insert_rows, schema_lock
from shared.events import utcnow
from shared.need_to_know import SearchScope

# SQLite: rowid (the entry's entry_id), meta (stems of title, file name, Aktenzeichen, Akte title, type), body (text).
FTS_TABLE = "search_fts"
TSV_TABLE = "search_tsv"  # PostgreSQL: the same stems as `simple` tsvectors, by entry_id
# A document's stems, written with every upload: the statements built once.
_INSERT_TSV = text(f"INSERT INTO {TSV_TABLE} VALUES (:i, to_tsvector('simple', :m), to_tsvector('simple', :b))")
_INSERT_FTS = text(f"INSERT INTO {FTS_TABLE} (rowid, meta, body) VALUES (:i, :m, :b)")


def create_text_index(engine: Engine) -> None:
    """The stems' table beside `search_entries` (not a model: autogenerate does not know FTS5 or tsvector)."""
    # Replicas starting together would race on CREATE ... IF NOT EXISTS (PostgreSQL checks, then creates).
    with schema_lock(engine), engine.begin() as conn:
        _create_text_index(conn)


def _create_text_index(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS {TSV_TABLE} (entry_id integer PRIMARY KEY,"
                " meta tsvector NOT NULL, body tsvector NOT NULL)"
            )
        )
        conn.execute(text(f"CREATE INDEX IF NOT EXISTS {TSV_TABLE}_all ON {TSV_TABLE} USING gin ((meta || body))"))
        conn.execute(text(f"CREATE INDEX IF NOT EXISTS {TSV_TABLE}_meta ON {TSV_TABLE} USING gin (meta)"))
    else:
        conn.execute(
            text(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
                "meta, body, tokenize = 'unicode61 remove_diacritics 2')"
            )
        )


def _after_create(_table: object, conn: Connection, **_: object) -> None:
    _create_text_index(conn)


# A database made from the models (tests, `create_all`) gets the stems' table with the entries' table.
event.listen(SearchEntryRow.__table__, "after_create", _after_create)


@dataclass(frozen=True)
class SearchPage:
    total: int
    entries: list[SearchEntryRow]
    facets: Facets


# What a result list needs of every hit: its facets, and what it is sorted by.
_LISTED = (
    SearchEntryRow.entry_id,
    SearchEntryRow.status,
    SearchEntryRow.document_type,
    SearchEntryRow.file_plan_class,
    SearchEntryRow.year,
    SearchEntryRow.updated_at,
)


class SearchRepository:
    def __init__(self, session: Session) -> None:
        self._session = session
        self._postgres = session.get_bind().dialect.name == "postgresql"

    def _entry(self, document_id: str) -> SearchEntryRow | None:
        return self._session.scalar(select(SearchEntryRow).where(SearchEntryRow.document_id == document_id))

    # --- writing: in the unit of work of the document ----------------------------------------------------------
    def index(self, row: DocumentRow, body: str | None = None, *, new: bool = False) -> None:
        """Add or refresh a document's entry (a new version replaces the text, `None` keeps the one indexed);
        `new`: a document made in this unit of work, which has no entry to look up."""
        entry = None if new else self._entry(row.document_id)
        fresh = entry is None
        akte = self._session.get(AkteRow, row.aktenzeichen) if row.aktenzeichen else None
        if entry is None:
            entry = SearchEntryRow(document_id=row.document_id, status=DocumentStatus.RECEIVED.value, archived=False)
            entry.body = ""
        entry.title, entry.filename, entry.document_type = row.title, row.filename, row.document_type
        entry.aktenzeichen = row.aktenzeichen or ""
        entry.akte_title = akte.title if akte else ""
        entry.file_plan_class = akte.file_plan_class if akte else ""
        entry.year = row.created_at.year if row.created_at else utcnow().year
        entry.org_unit, entry.submitted_by = row.org_unit or "", row.submitted_by
        entry.confidential = bool(row.confidential)
        if body is not None:
            entry.body = body[:MAX_BODY_CHARS]
        entry.updated_at = utcnow()
        # The entry's entry_id keys its stems: a new one is inserted now (plainly: it is not changed afterwards).
        if fresh:
            insert_rows(self._session, [entry])
        else:
            self._session.flush()
        self._write_stems(entry, fresh=fresh)

    def status_changed(self, document_ids: list[str], status: DocumentStatus) -> None:
        """One UPDATE on the table for documents that reached `status` (no entry loaded, its text may be long; no ORM
        bookkeeping for rows the unit of work does not hold): the status moves on only past what the report passed."""
        table = cast(Table, SearchEntryRow.__table__)
        entries = table.c
        passed = [s.value for s in passed_by(status)]
        values: dict[str, object] = {"updated_at": utcnow()}
        if passed:
            values["status"] = case((entries.status.in_(passed), status.value), else_=entries.status)
        if status is DocumentStatus.ARCHIVED:
            values["archived"] = true()
        self._session.execute(update(table).where(entries.document_id.in_(document_ids)).values(values))

    def text_found(self, document_id: str, body: str) -> None:
        """The OCR worker's text of a scan."""
        entry = self._entry(document_id)
        if entry is None:
            return
        entry.body = body[:MAX_BODY_CHARS]
        entry.updated_at = utcnow()
        self._write_stems(entry)

    def remove(self, document_id: str) -> None:
        entry = self._entry(document_id)
        if entry is None:
            return
        self._delete_stems(entry.entry_id)
        self._session.delete(entry)

    def missing(self, limit: int) -> list[DocumentRow]:
        """Documents without an entry (filed before the index existed): the backfill at start takes them."""
        indexed = select(SearchEntryRow.document_id)
        query = select(DocumentRow).where(DocumentRow.document_id.not_in(indexed)).limit(limit)
        return list(self._session.scalars(query))

    def _write_stems(self, entry: SearchEntryRow, fresh: bool = False) -> None:
        """(Re)write the entry's stems; `fresh`: an entry made in this unit of work, which has none to delete."""
        meta = stemmed_text(" ".join((entry.title, entry.filename, entry.aktenzeichen, entry.akte_title)))
        meta = f"{meta} {stemmed_text(entry.document_type)}"
        body = stemmed_text(entry.body)
        if not fresh:
            self._delete_stems(entry.entry_id)
        values = {"i": entry.entry_id, "m": meta, "b": body}
        # On the connection: the stems are a table of their own, never pending in the session.
        self._session.connection().execute(_INSERT_TSV if self._postgres else _INSERT_FTS, values)

    def _delete_stems(self, entry_id: int) -> None:
        key = "entry_id" if self._postgres else "rowid"
        table = TSV_TABLE if self._postgres else FTS_TABLE
        self._session.execute(text(f"DELETE FROM {table} WHERE {key} = :i"), {"i": entry_id})

    # --- reading -----------------------------------------------------------------------------------------------
    def search(
        self, query: Query, filters: Filters, scope: SearchScope, task_documents: Sequence[str], limit: int, offset: int
    ) -> SearchPage:
        """One query finds every visible hit (with its facet values); the facets are counted and the page cut here."""
        where = [
            self._visible(scope, task_documents),
            *self._filtered(filters),
            *self._matching(query, scope),
        ]
        hits = list(self._session.execute(select(*_LISTED).where(*where)).all())
        facets = Facets()
        for index, name in enumerate(FACETS, start=1):
            facets.add(name, list(Counter(hit[index] for hit in hits).items()))
        hits.sort(key=lambda hit: (hit.updated_at, hit.entry_id), reverse=True)
        page = [hit.entry_id for hit in hits[offset : offset + limit]]
        rows = {
            e.entry_id: e
            for e in self._session.scalars(select(SearchEntryRow).where(SearchEntryRow.entry_id.in_(page)))
        }
        return SearchPage(total=len(hits), entries=[rows[i] for i in page], facets=facets)

    @staticmethod
    def _visible(scope: SearchScope, task_documents: Sequence[str]) -> ColumnElement[bool]:
        """`SearchScope.admits` as SQL."""
        if scope.everything:
            return true()
        e = SearchEntryRow
        return or_(
            e.submitted_by == scope.user,
            e.org_unit.in_(sorted(scope.org_units)) if scope.org_units else false(),
            e.archived.is_(True) if scope.archived else false(),
            e.document_id.in_(list(task_documents)) if task_documents else false(),
        )

    @staticmethod
    def _content(scope: SearchScope) -> ColumnElement[bool]:
        """`SearchScope.opens` as SQL, for documents already visible: whose text may match and be shown."""
        e = SearchEntryRow
        return or_(
            e.confidential.is_(False),
            e.submitted_by == scope.user,
            e.org_unit.in_(sorted(scope.content_org_units)) if scope.content_org_units else false(),
            e.archived.is_(True) if scope.content_archived else false(),
        )

    def _matching(self, query: Query, scope: SearchScope) -> list[ColumnElement[bool]]:
        """Every word in the metadata or text; in the metadata only where the text is not the reader's to see."""
        if query.empty:
            return []
        anywhere, in_meta = self._ids_matching(query, meta_only=False), self._ids_matching(query, meta_only=True)
        e = SearchEntryRow
        return [
            e.entry_id.in_(anywhere.columns(column("entry_id", Integer))),
            or_(self._content(scope), e.entry_id.in_(in_meta.columns(column("entry_id", Integer)))),
        ]

    def _ids_matching(self, query: Query, meta_only: bool) -> TextClause:
        name = "qm" if meta_only else "qa"
        if self._postgres:
            value = " & ".join(f"{term}:*" for term in query.terms)
            vector = "meta" if meta_only else "(meta || body)"
            sql = f"SELECT entry_id FROM {TSV_TABLE} WHERE {vector} @@ to_tsquery('simple', :{name})"
        else:
            value = f"meta : ({fts5_match(query)})" if meta_only else fts5_match(query)
            sql = f"SELECT rowid AS entry_id FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :{name}"
        return text(sql).bindparams(**{name: value})

    @staticmethod
    def _filtered(filters: Filters) -> list[ColumnElement[bool]]:
        e = SearchEntryRow
        conditions = []
        if filters.status:
            conditions.append(e.status == filters.status)
        if filters.document_type:
            conditions.append(e.document_type == filters.document_type)
        if filters.file_plan_class:
            conditions.append(e.file_plan_class == filters.file_plan_class)
        if filters.year is not None:
            conditions.append(e.year == filters.year)
        return conditions
