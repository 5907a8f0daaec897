"""Schema migrations on SQLite: the previous release's database is upgraded in place and keeps its rows.

A database of the release before migrations (made by `create_all`, no version table) is recognised, stamped and
upgraded at start in development; production refuses it and names `eakte migrate`, which upgrades it. The last test
is `alembic check`: a model change without a revision fails the suite.
"""

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Column, Engine, MetaData, Text, inspect, text

from eakte_cli import main as eakte
from shared.db import make_engine
from shared.migrations import (
    SERVICES,
    SchemaNotCurrent,
    current_revision,
    differences,
    new_revision,
    prepare_schema,
    recognise,
    service_schema,
)
from shared.service_app import build_runtime
from shared.settings import Settings
from tests.migration_samples import create_previous_release, insert_rows, read_rows

# What this release added to each service's schema since the previous one (tables and nullable columns).
ADDED = {
    "ingest": {"outbox_dead_letters": {"payload"}, "akten": {"org_unit"}, "documents": {"org_unit", "confidential"}},
    "workflow": {"outbox_dead_letters": {"payload"}},
    "archive": {
        "outbox_dead_letters": {"payload"},
        "archived_documents": {"org_unit", "confidential"},
        "access_log": {"query", "hits"},
    },
}


def old_database(tmp_path: Path, service: str) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / f'{service}.db'}")
    create_previous_release(engine, service)
    return engine


def columns(engine: Engine) -> dict[str, set[str]]:
    inspector = inspect(engine)
    return {table: {c["name"] for c in inspector.get_columns(table)} for table in inspector.get_table_names()}


def revision(engine: Engine, service: str) -> str | None:
    with engine.connect() as connection:
        return current_revision(connection, service_schema(service))


@pytest.mark.parametrize("service", SERVICES)
def test_development_start_upgrades_the_previous_release_and_keeps_its_rows(tmp_path: Path, service: str) -> None:
    engine = old_database(tmp_path, service)
    before = insert_rows(engine)
    assert sum(len(rows) for rows in before.values()) >= 3
    schema = service_schema(service)
    assert not set(ADDED[service]["outbox_dead_letters"]) <= columns(engine).get("outbox_dead_letters", set())

    assert prepare_schema(engine, schema, production=False) == schema.head()

    after = read_rows(engine, before)
    assert {name: [{k: row[k] for k in before[name][0]} for row in rows] for name, rows in after.items()} == before
    present = columns(engine)
    for table, added in ADDED[service].items():
        assert added <= present[table], table
    assert revision(engine, service) == schema.head()
    assert f"alembic_version_{service}" in present
    assert differences(engine, schema) == []


@pytest.mark.parametrize("service", SERVICES)
def test_an_unversioned_database_is_recognised_by_its_tables(tmp_path: Path, service: str) -> None:
    schema = service_schema(service)
    engine = old_database(tmp_path, service)
    with engine.connect() as connection:
        assert recognise(connection, schema) == schema.revisions()[0]
    # What the add-missing-columns stopgap left behind: the whole current schema, no version table.
    current = make_engine(f"sqlite:///{tmp_path / 'current.db'}")
    for metadata in schema.metadata:
        metadata.create_all(current)
    with current.connect() as connection:
        assert recognise(connection, schema) == schema.head()
    assert prepare_schema(current, schema, production=True) == schema.head()  # stamping only: allowed


def test_tables_that_match_no_revision_stop_start_up(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'odd.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE documents (document_id VARCHAR(36) PRIMARY KEY)")
    with pytest.raises(SchemaNotCurrent, match="match no revision"):
        prepare_schema(engine, service_schema("ingest"), production=False)


def test_production_refuses_the_previous_release_and_names_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old_database(tmp_path, "ingest")
    settings = Settings(env="production", data_dir=tmp_path)
    with pytest.raises(SystemExit) as stopped:
        build_runtime("ingest", settings, *_bases("ingest"))
    assert stopped.value.code == 2
    message = capsys.readouterr().err
    assert "refusing to start (EAKTE_ENV=production)" in message
    assert "eakte migrate --service ingest" in message
    assert "alembic_version_ingest" not in columns(make_engine(f"sqlite:///{tmp_path / 'ingest.db'}"))


def test_a_development_start_upgrades_the_previous_release(tmp_path: Path) -> None:
    engine = old_database(tmp_path, "archive")
    before = insert_rows(engine)
    runtime = build_runtime("archive", Settings(data_dir=tmp_path), *_bases("archive"))
    assert revision(engine, "archive") == service_schema("archive").head()
    with runtime.sessions() as session:
        logged = session.execute(text("SELECT user, action, query, hits FROM access_log")).all()
    assert [tuple(row) for row in logged] == [
        (before["access_log"][0]["user"], before["access_log"][0]["action"], None, None)
    ]


def test_production_creates_an_empty_database_at_head(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    schema = service_schema("archive")
    assert prepare_schema(engine, schema, production=True) == schema.head()
    assert differences(engine, schema) == []


def test_eakte_migrate_upgrades_every_service_then_production_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    engines = {service: old_database(tmp_path, service) for service in SERVICES}
    monkeypatch.setenv("EAKTE_DATA_DIR", str(tmp_path))
    from shared.settings import get_settings

    get_settings.cache_clear()
    try:
        assert eakte(["migrate", "--service", "workflow"]) == 0
        assert revision(engines["workflow"], "workflow") == service_schema("workflow").head()
        assert revision(engines["ingest"], "ingest") is None
        assert eakte(["migrate"]) == 0
    finally:
        get_settings.cache_clear()
    output = capsys.readouterr().out
    head = service_schema("ingest").head()
    assert f"ingest: 0001 -> {head}" in output and f"workflow: at {service_schema('workflow').head()}" in output
    for service, engine in engines.items():
        schema = service_schema(service)
        assert revision(engine, service) == schema.head()
        assert prepare_schema(engine, schema, production=True) == schema.head()


@pytest.mark.parametrize("service", SERVICES)
def test_the_models_and_the_migration_head_agree(tmp_path: Path, service: str) -> None:
    """`alembic check`: a table or column changed in tables.py without a revision fails here."""
    engine = make_engine(f"sqlite:///{tmp_path / 'head.db'}")
    schema = service_schema(service)
    prepare_schema(engine, schema, production=False)
    assert differences(engine, schema) == []


def _bases(service: str) -> list[type]:
    import importlib

    tables = importlib.import_module(f"services.{service}.tables")
    return [getattr(tables, f"{service.capitalize()}Base")]


def test_eakte_migrate_new_writes_the_revision_a_model_change_needs(tmp_path: Path) -> None:
    """The README's way to add a revision: change tables.py, run `eakte migrate --service S --new "…"`."""
    original = service_schema("archive")
    shutil.copytree(original.directory, tmp_path / "migrations")
    changed = MetaData()
    for metadata in original.metadata:
        for table in metadata.tables.values():
            table.to_metadata(changed)
    changed.tables["access_log"].append_column(Column("reason", Text, nullable=True))
    schema = replace(original, metadata=(changed,), location=tmp_path / "migrations")

    following = f"{len(original.revisions()) + 1:04d}"  # heads may be named, e.g. 0006_fixity
    written = new_revision(schema, "access log reason")

    assert written.name.startswith(following) and written.parent == tmp_path / "migrations" / "versions"
    assert "batch_op.add_column(sa.Column('reason', sa.Text()" in written.read_text()
    engine = make_engine(f"sqlite:///{tmp_path / 'next.db'}")
    assert prepare_schema(engine, schema, production=False) == following
    assert differences(engine, schema) == []
