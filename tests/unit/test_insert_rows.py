"""`shared.db.insert_rows` on a real SQLite database: new rows written plainly, with the defaults the ORM would give."""

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.tables import AkteRow, DocumentRow, IngestBase, SearchEntryRow
from shared.db import insert_rows, make_engine, make_sessions


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
