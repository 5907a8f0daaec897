"""Full-text search over archived documents: SQLite FTS5 by default, PostgreSQL full-text search on PostgreSQL."""

import re

from sqlalchemy import ColumnElement, Engine, column, text
from sqlalchemy.orm import Session

from services.archive.tables import ArchivedDocumentRow
from shared.db import schema_lock

WORD = re.compile(r"\w+", re.UNICODE)


class SearchIndex:
    def __init__(self, engine: Engine) -> None:
        self._postgres = engine.dialect.name == "postgresql"
        # Replicas starting together would race on CREATE ... IF NOT EXISTS (PostgreSQL checks, then creates).
        with schema_lock(engine), engine.begin() as conn:
            if self._postgres:
                conn.execute(
                    text(
                        "CREATE TABLE IF NOT EXISTS archive_text (document_id varchar(36) PRIMARY KEY,"
                        " body text NOT NULL, tsv tsvector GENERATED ALWAYS AS (to_tsvector('german', body)) STORED)"
                    )
                )
                conn.execute(text("CREATE INDEX IF NOT EXISTS archive_text_tsv ON archive_text USING gin (tsv)"))
            else:
                conn.execute(
                    text(
                        "CREATE VIRTUAL TABLE IF NOT EXISTS archive_fts USING fts5("
                        "document_id UNINDEXED, body, tokenize = 'unicode61 remove_diacritics 2')"
                    )
                )

    def add_all(self, session: Session, bodies: dict[str, str]) -> None:
        """Index each document's text (document id -> text): one statement for all."""
        table = "archive_text" if self._postgres else "archive_fts"
        rows = [{"d": document_id, "b": body} for document_id, body in bodies.items()]
        if rows:
            session.execute(text(f"INSERT INTO {table} (document_id, body) VALUES (:d, :b)"), rows)

    def remove(self, session: Session, document_id: str) -> None:
        table = "archive_text" if self._postgres else "archive_fts"
        session.execute(text(f"DELETE FROM {table} WHERE document_id = :d"), {"d": document_id})

    def matching(self, query: str) -> ColumnElement[bool]:
        """A condition on archived documents: every word of `query` occurs in the document's text."""
        words = WORD.findall(query)
        if not words:
            return ArchivedDocumentRow.document_id.is_(None)
        if self._postgres:
            sub = text("SELECT document_id FROM archive_text WHERE tsv @@ plainto_tsquery('german', :q)")
            return ArchivedDocumentRow.document_id.in_(sub.bindparams(q=" ".join(words)).columns(column("document_id")))
        # FTS5: each word a quoted term (no operators from user input); a trailing * also finds longer words.
        fts = " ".join(f'"{w}"*' for w in words)
        sub = text("SELECT document_id FROM archive_fts WHERE archive_fts MATCH :q")
        return ArchivedDocumentRow.document_id.in_(sub.bindparams(q=fts).columns(column("document_id")))
