"""Schema migrations on PostgreSQL, the database docker-compose runs: the previous release's database is upgraded in
place and keeps its rows; production refuses it until `eakte migrate`; replicas starting together take turns.

A throwaway PostgreSQL cluster (devstack), no broker: the migrations are what is under test.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect

from devstack.postgres import PostgresServer
from devstack.processes import free_port
from shared.db import make_engine
from shared.migrations import SERVICES, SchemaNotCurrent, current_revision, differences, prepare_schema, service_schema
from tests.migration_samples import create_previous_release, insert_rows, read_rows


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    # Not under pytest's tmp dir: as root, the server runs as `postgres`, which cannot enter that one.
    data_dir = Path(tempfile.mkdtemp(prefix="eakte-pg-migrations-"))
    server = PostgresServer(data_dir, free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def engines(postgres: PostgresServer, request: pytest.FixtureRequest) -> Iterator[dict[str, Engine]]:
    suffix = request.node.name.split("[")[0].removeprefix("test_")[:20]
    made = {service: make_engine(postgres.create_database(f"m_{suffix}_{service}")) for service in SERVICES}
    yield made
    for engine in made.values():
        engine.dispose()


def revision(engine: Engine, service: str) -> str | None:
    with engine.connect() as connection:
        return current_revision(connection, service_schema(service))


def test_the_previous_release_is_upgraded_and_keeps_its_rows(engines: dict[str, Engine]) -> None:
    for service, engine in engines.items():
        create_previous_release(engine, service)
        before = insert_rows(engine)
        schema = service_schema(service)

        with pytest.raises(SchemaNotCurrent, match=f"eakte migrate --service {service}"):
            prepare_schema(engine, schema, production=True)
        assert revision(engine, service) is None  # the refusal changed nothing

        assert prepare_schema(engine, schema, production=False) == schema.head()

        after = read_rows(engine, before)
        kept = {name: [{k: row[k] for k in before[name][0]} for row in rows] for name, rows in after.items()}
        assert kept == before, service
        assert "outbox_dead_letters" in inspect(engine).get_table_names()
        assert revision(engine, service) == schema.head()
        assert differences(engine, schema) == [], service
    archive_columns = {c["name"] for c in inspect(engines["archive"]).get_columns("access_log")}
    assert {"query", "hits"} <= archive_columns


def test_replicas_starting_together_on_an_empty_database_migrate_it_once(engines: dict[str, Engine]) -> None:
    schema = service_schema("workflow")
    engine = engines["workflow"]
    results: list[str | BaseException] = []

    def start() -> None:
        try:
            results.append(prepare_schema(engine, schema, production=False))
        except BaseException as exc:  # reported by the assertion below
            results.append(exc)

    replicas = [threading.Thread(target=start) for _ in range(3)]
    for replica in replicas:
        replica.start()
    for replica in replicas:
        replica.join(timeout=60)
    assert results == [schema.head()] * 3
    assert differences(engine, schema) == []


def test_eakte_migrate_upgrades_a_services_database_as_compose_runs_it(
    postgres: PostgresServer, engines: dict[str, Engine], tmp_path: Path
) -> None:
    """`docker compose run --rm archive eakte migrate --service archive`: the service's own database URL."""
    engine = engines["archive"]
    create_previous_release(engine, "archive")
    before = insert_rows(engine)
    url = engine.url.render_as_string(hide_password=False).replace("postgresql+psycopg://", "postgresql://")
    environment = {**os.environ, "EAKTE_DATABASE_URL": url, "EAKTE_DATA_DIR": str(tmp_path), "EAKTE_ENV": "production"}

    done = subprocess.run(
        [sys.executable, "-m", "eakte_cli", "migrate", "--service", "archive"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"archive: 0001 -> {service_schema('archive').head()}"
    assert revision(engine, "archive") == service_schema("archive").head()
    kept = read_rows(engine, before)
    assert {name: [{k: row[k] for k in before[name][0]} for row in rows] for name, rows in kept.items()} == before
    schema = service_schema("archive")
    assert prepare_schema(engine, schema, production=True) == schema.head()  # the new release now starts
