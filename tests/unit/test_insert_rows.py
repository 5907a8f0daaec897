"""`shared.db.insert_rows` on a real SQLite database: new rows written plainly, with the defaults the ORM would give."""

from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import Table, select
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.tables import AkteRow, DocumentRow, IngestBase, SearchEntryRow
from shared.db import OutboxMessage, insert_rows, insert_values, make_engine, make_sessions


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    return make_sessions(make_engine(f"sqlite:///{tmp_path / 'rows.db'}"), IngestBase)


def document(document_id: str, aktenzeichen: str | None = None) -> DocumentRow:
    return DocumentRow(
        document_id=document_id,
        correlation_id="c" * 36,
        sha256="0" * 64,
        size=10,
        bucket="inbox",
        object_key=f"{document_id}/original.pdf",
        filename="brief.pdf",
        workflow="none",
        pages=1,
        submitted_by="clerk",
        aktenzeichen=aktenzeichen,
    )


def test_a_row_gets_its_defaults_and_generated_key_and_is_stored(sessions: sessionmaker[Session]) -> None:
    row, entry = document("d" * 36), SearchEntryRow(document_id="d" * 36, year=2026)
    with sessions() as session:
        insert_rows(session, [row])
        insert_rows(session, [entry])
        session.commit()
    assert row.version == 1 and row.content_type == "application/pdf" and row.created_at is not None
    assert entry.entry_id is not None and entry.status == "received"
    with sessions() as session:
        stored = session.get_one(DocumentRow, "d" * 36)
        assert (stored.version, stored.source, stored.created_at) == (1, "upload", row.created_at)
        assert session.scalar(select(SearchEntryRow.document_id).where(SearchEntryRow.entry_id == entry.entry_id))


def test_pending_rows_it_refers_to_are_written_first_and_a_rollback_takes_all_back(
    sessions: sessionmaker[Session],
) -> None:
    akte = AkteRow(aktenzeichen="01.02-1", title="Akte", file_plan_class="01.02", year=2026, seq=1, created_by="clerk")
    with sessions() as session:
        session.add(akte)  # pending: the document's foreign key needs it in the table first
        insert_rows(session, [document("a" * 36, "01.02-1"), document("b" * 36, "01.02-1")])
        assert session.scalar(select(DocumentRow.aktenzeichen).where(DocumentRow.document_id == "b" * 36))
        session.rollback()
    with sessions() as session:
        assert session.scalars(select(DocumentRow)).all() == []
        assert session.get(AkteRow, "01.02-1") is None


def test_nothing_to_insert_writes_nothing(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        insert_rows(session, [])
        session.commit()
        assert session.scalars(select(DocumentRow)).all() == []


def test_each_value_is_stored_as_its_column_type_says_and_reads_back_the_same(
    sessions: sessionmaker[Session],
) -> None:
    """Times stay UTC-aware, booleans and bytes stay what they were, an unset column is NULL (several rows at once
    and one row alone)."""
    at = datetime(2026, 12, 1, 6, 30, 15, 123456, tzinfo=UTC)
    rows = [
        {
            "topic": "documents.ingested",
            "key": b"k\x00\xff",
            "payload": b'{"a": 1}',
            "created_at": at,
            "traceparent": None,
        },
        {
            "topic": "documents.approved",
            "key": b"",
            "payload": "Übergabe".encode(),
            "created_at": at,
            "traceparent": "t",
        },
    ]
    confidential = document("c" * 36)
    confidential.confidential = True
    with sessions() as session:
        insert_values(session, cast(Table, OutboxMessage.__table__), rows)
        generated = insert_values(session, cast(Table, OutboxMessage.__table__), [rows[0]])
        insert_rows(session, [confidential])
        session.commit()
    with sessions() as session:
        stored = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        assert [(m.topic, m.key, m.payload, m.created_at, m.traceparent) for m in stored] == [
            (r["topic"], r["key"], r["payload"], at, r["traceparent"]) for r in [*rows, rows[0]]
        ]
        assert stored[-1].id == generated and all(m.published_at is None for m in stored)
        document_row = session.get_one(DocumentRow, "c" * 36)
        assert document_row.confidential is True and document_row.created_at.tzinfo is not None


def test_several_rows_each_get_the_defaults_none_of_them_set(sessions: sessionmaker[Session]) -> None:
    rows = [document("e" * 36), document("f" * 36)]
    rows[1].title = "Bauantrag"
    with sessions() as session:
        insert_rows(session, rows)
        session.commit()
    assert [r.version for r in rows] == [1, 1] and all(r.created_at is not None for r in rows)
    with sessions() as session:
        stored = {r.document_id: r for r in session.scalars(select(DocumentRow))}
        assert stored["f" * 36].title == "Bauantrag" and stored["e" * 36].source == "upload"
