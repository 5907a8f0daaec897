"""The search index on PostgreSQL (what docker-compose runs): migrated schema, `tsvector`s of the same Snowball
stems, need-to-know and facets in the query: the same answers as on SQLite (tests/unit/test_search.py)."""

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect
from sqlalchemy.orm import sessionmaker

from devstack.postgres import PostgresServer
from devstack.processes import free_port
from services.archive.search import SearchIndex
from services.ingest.domain import DocumentStatus
from services.ingest.domain_search import Filters
from services.ingest.search import create_text_index
from services.ingest.searching import SearchService
from services.ingest.tables import IngestBase
from services.ingest.unit_of_work import IngestUnitOfWork
from shared.db import make_engine
from shared.migrations import prepare_schema, schema_of
from tests.together import all_at_once
from tests.unit.test_search import ADMIN, CLERK_BAU, UowFactory, _file


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    data_dir = Path(tempfile.mkdtemp(prefix="eakte-pg-search-"))  # not under pytest's tmp: the server's user
    running = PostgresServer(data_dir, free_port())
    try:
        running.start()
        yield running
    finally:
        running.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def uow_factory(server: PostgresServer) -> Iterator[UowFactory]:
    engine = make_engine(server.create_database("eakte_ingest"))
    prepare_schema(engine, schema_of("ingest", IngestBase), production=False)
    create_text_index(engine)
    yield lambda: IngestUnitOfWork(sessionmaker(engine, expire_on_commit=False))
    engine.dispose()


def test_replicas_starting_together_each_find_the_text_tables(server: PostgresServer) -> None:
    """Four processes' start-up at once (as `make up` with replicas): none fails on the other's CREATE."""
    url = server.create_database("eakte_start")
    engines = [make_engine(url) for _ in range(4)]

    def start(engine: Engine) -> None:
        create_text_index(engine)
        SearchIndex(engine)

    failures = all_at_once(start, engines)
    assert failures == []
    with engines[0].connect() as conn:
        tables = set(inspect(conn).get_table_names())
    assert {"search_tsv", "archive_text"} <= tables
    for engine in engines:
        engine.dispose()


def test_stems_facets_and_need_to_know_on_postgresql(uow_factory: UowFactory) -> None:
    ours = _file(uow_factory(), "Bauantrag Müller", "bauamt", "Der Antrag auf Baugenehmigung für ein Carport.")
    archived = _file(uow_factory(), "Bescheid Carport", "bauamt", "Antrag genehmigt.", DocumentStatus.ARCHIVED)
    _file(uow_factory(), "Anträge Sondernutzung", "ordnungsamt", "Antrag auf Sondernutzung", document_type="Geheim")
    result = SearchService().search(uow_factory(), CLERK_BAU, "Anträge", Filters())
    assert {hit.document_id for hit in result.hits} == {ours, archived}
    assert dict(result.facets["status"]) == {"in_review": 1, "archived": 1}
    assert dict(result.facets["document_type"]) == {"Antrag": 2}
    narrowed = SearchService().search(uow_factory(), CLERK_BAU, "Baugenehm", Filters(status="in_review"))
    assert [hit.document_id for hit in narrowed.hits] == [ours]
    assert "<mark>Baugenehmigung</mark>" in narrowed.hits[0].snippet


def test_a_confidential_text_is_not_matched_for_an_admin_on_postgresql(uow_factory: UowFactory) -> None:
    _file(uow_factory(), "Personalakte Kern", "personal", "Abmahnung wegen Verspätung", confidential=True)
    assert SearchService().search(uow_factory(), ADMIN, "Abmahnungen", Filters()).total == 0
    assert SearchService().search(uow_factory(), ADMIN, "Personalakte Kern", Filters()).total == 1
