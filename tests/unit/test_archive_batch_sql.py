"""The archive's batch on its real SQL unit of work (SQLite): the rows a batch writes with a statement per table."""

import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from services.archive import archiving, domain
from services.archive.archiving import CONSUMER, Intake
from services.archive.search import SearchIndex
from services.archive.tables import ArchiveBase
from services.archive.unit_of_work import SqlArchiveUnitOfWork
from shared.db import make_engine, make_sessions
from shared.events import utcnow
from tests.unit.fakes_archive import FakePackages, FakeSources
from tests.unit.test_archive_service_layer import PDF, _approved


def _units_of_work(tmp_path: Path) -> Callable[[], SqlArchiveUnitOfWork]:
    engine = make_engine(f"sqlite:///{tmp_path / 'archive.db'}")
    sessions, index = make_sessions(engine, ArchiveBase), SearchIndex(engine)
    return lambda: SqlArchiveUnitOfWork(sessions, index)


def test_a_batch_records_each_new_package_once_and_skips_the_archived_ones(tmp_path: Path) -> None:
    uow = _units_of_work(tmp_path)
    sources, packages = FakeSources(), FakePackages()
    intake = Intake(sources, packages, None)
    earlier = _approved(sources, title="Früher archiviert")
    assert archiving.archive(uow(), earlier, intake)
    new = [_approved(sources, data=PDF + bytes([n]), title=f"Bauantrag Nummer{n}") for n in range(3)]
    again = earlier.model_copy(update={"event_id": uuid.uuid4()})
    twice = new[0].model_copy(update={"event_id": uuid.uuid4()})

    assert archiving.archive_many(uow(), [*new, again, twice], intake) == 5

    with uow() as work:
        for n, event in enumerate(new):
            document_id = str(event.document_id)
            row = work.documents.get(document_id)
            assert row is not None and row.sha256 == event.original.sha256
            original = next(f for f in row.files if f.path == row.original_path)
            assert (original.path, original.sha256) == ("data/original.pdf", event.original.sha256)
            hits = work.documents.search(domain.SearchQuery(text=f"Nummer{n}"))[1]
            assert [hit.document_id for hit in hits] == [document_id]
            assert work.evidence.queued_at(document_id) is not None
        assert work.evidence.count() == 4  # the earlier one and the three new ones, each once
        ids = [str(e.document_id) for e in [earlier, *new]] + [str(uuid.uuid4())]
        assert work.documents.archived_among(ids) == set(ids[:-1])
        assert work.processed_among(CONSUMER, [again.event_id, twice.event_id]) == {again.event_id, twice.event_id}


def test_a_package_already_waiting_for_its_evidence_record_keeps_its_place(tmp_path: Path) -> None:
    uow = _units_of_work(tmp_path)
    queued = utcnow() - timedelta(days=1)
    with uow() as work:
        work.evidence.add_all({"waiting": queued})
        work.commit()
    with uow() as work:
        work.evidence.add_all({"waiting": utcnow(), "new": utcnow()})
        work.commit()
    with uow() as work:
        assert work.evidence.queued_at("waiting") == queued
        assert work.evidence.queued_at("new") is not None
        assert work.evidence.count() == 2
