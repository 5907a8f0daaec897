"""The pipeline once more with every service on PostgreSQL, the database docker-compose runs.

Uses its own Kafka, MinIO and a throwaway PostgreSQL cluster, so the SQLite stack's consumers
never see these documents.
"""

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from devstack.postgres import PostgresServer
from devstack.processes import free_port
from devstack.stack import SERVICES, Ports, Stack
from tests.integration.conftest import JWT_SECRET, Api
from tests.integration.flows import upload_approve_download


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    # Not under pytest's tmp dir: as root, the server runs as `postgres`, which cannot enter that one.
    data_dir = Path(tempfile.mkdtemp(prefix="eakte-pg-"))
    server = PostgresServer(data_dir, free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def pg_api(tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer) -> Iterator[Api]:
    urls = {name: postgres.create_database(f"eakte_{name}") for name in SERVICES}
    stack = Stack(tmp_path_factory.mktemp("pg-stack"), Ports.free(), jwt_secret=JWT_SECRET, database_urls=urls)
    try:
        stack.start_infra()
        stack.start_services()
        client = Api(stack)
        yield client
        client.http.close()
    finally:
        stack.stop()


def test_pipeline_on_postgresql(pg_api: Api, pdf: Path, postgres: PostgresServer) -> None:
    document_id = upload_approve_download(pg_api, pdf)

    # The state really lives in PostgreSQL, one database per service, and no SQLite file was made.
    for name, table in (("ingest", "documents"), ("workflow", "workflows"), ("archive", "archived_documents")):
        engine = create_engine(postgres.url(f"eakte_{name}").replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as conn:
            found = conn.execute(text(f"SELECT count(*) FROM {table} WHERE document_id = :d"), {"d": document_id})
            assert found.scalar_one() == 1, f"{name} has no row in PostgreSQL"
        engine.dispose()
    assert not list(pg_api.stack.data_dir.glob("*.db"))


def test_archive_search_uses_postgresql_full_text_search(pg_api: Api, pdf: Path) -> None:
    document_id = upload_approve_download(pg_api, pdf)  # titled "Bauantrag Müller"
    url = f"{pg_api.stack.url('archive')}/api/v1/archive/search"
    records = pg_api.headers("rita", "records_officer")
    # Full text (PostgreSQL tsvector, German configuration) together with the Aktenzeichen prefix filter.
    found = pg_api.http.get(url, headers=records, params={"q": "Müller", "aktenzeichen": "63.01-"}).json()
    assert document_id in {i["document_id"] for i in found["items"]} and found["total"] >= 1
    none = pg_api.http.get(url, headers=records, params={"q": "Nichtvorhandenwort"}).json()
    assert none["total"] == 0
