"""The duplicate rule: the same bytes are one document, unless a deliberate copy goes into another Akte."""

from pathlib import Path

from services.ingest.service import IngestService, Upload
from services.ingest.tables import AkteRow, DocumentRow, IngestBase
from shared.db import make_engine, make_sessions
from shared.events import utcnow
from shared.settings import Settings

SHA = "a" * 64


def _service(tmp_path: Path, allow_copies: bool) -> IngestService:
    settings = Settings(data_dir=tmp_path, allow_duplicates_in_other_akte=allow_copies)
    sessions = make_sessions(make_engine("sqlite://"), IngestBase)
    with sessions() as session:
        for aktenzeichen in ("50.10-2026/0001", "50.10-2026/0002"):
            session.add(
                AkteRow(
                    aktenzeichen=aktenzeichen,
                    file_plan_class="50.10",
                    year=2026,
                    seq=int(aktenzeichen[-1]),
                    title="Akte",
                    created_by="clara",
                    created_at=utcnow(),
                )
            )
        session.flush()
        session.add(
            DocumentRow(
                document_id="d1",
                correlation_id="c1",
                sha256=SHA,
                size=1,
                bucket="b",
                object_key="k",
                filename="a.pdf",
                aktenzeichen="50.10-2026/0001",
                workflow="default",
                pages=1,
                submitted_by="clara",
            )
        )
        session.commit()
    # Only the database part of the service is used here: no object store, relay or filing.
    return IngestService(settings, sessions, None, None, None, frozenset({"default"}))  # type: ignore[arg-type]


def test_same_bytes_are_a_duplicate_by_default(tmp_path: Path) -> None:
    service = _service(tmp_path, allow_copies=False)
    assert service._duplicate_of(SHA, Upload(filename="b.pdf", submitted_by="otto")) == "d1"
    other_akte = Upload(filename="b.pdf", submitted_by="otto", aktenzeichen="50.10-2026/0002")
    assert service._duplicate_of(SHA, other_akte) == "d1"
    assert service._duplicate_of("b" * 64, Upload(filename="c.pdf", submitted_by="otto")) is None


def test_a_deliberate_copy_may_go_into_another_akte_when_allowed(tmp_path: Path) -> None:
    service = _service(tmp_path, allow_copies=True)
    other_akte = Upload(filename="b.pdf", submitted_by="otto", aktenzeichen="50.10-2026/0002")
    assert service._duplicate_of(SHA, other_akte) is None
    same_akte = Upload(filename="b.pdf", submitted_by="otto", aktenzeichen="50.10-2026/0001")
    assert service._duplicate_of(SHA, same_akte) == "d1"
    assert service._duplicate_of(SHA, Upload(filename="b.pdf", submitted_by="otto")) == "d1"
