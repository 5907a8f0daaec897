"""Schema migrations: one Alembic history per service, each with a version table of its own.

The history lives with the service (`services/<name>/migrations/versions/`) and covers its own tables and the
shared ones (`outbox`, `processed_events`, `outbox_dead_letters`). At start (`prepare_schema`):

- an empty database is created at head;
- a database an older release made with `create_all` (tables, no version table) is recognised by its tables
  and columns and stamped with the newest revision it already has, so nobody's data is lost;
- in development the database is then upgraded to head; in production (EAKTE_ENV=production) a schema older
  than head stops start-up with the command that upgrades it (`eakte migrate`): two releases never share a schema.
"""

import importlib.util
import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, DateTime, Engine, MetaData, TypeDecorator, create_engine, inspect, text
from sqlalchemy.orm import DeclarativeBase

from shared.db import InfraBase

log = logging.getLogger(__name__)

SERVICES = ("ingest", "workflow", "archive")
MIGRATE_COMMAND = "eakte migrate"


class SchemaNotCurrent(RuntimeError):
    """The database's schema is not the one this release needs, and start-up may not change it."""


@dataclass(frozen=True)
class ServiceSchema:
    """What one service's database holds: its migration history, its version table and the models it must match."""

    service: str
    metadata: tuple[MetaData, ...]
    location: Path | None = None  # the history's folder; default: the service's `migrations` package

    @property
    def version_table(self) -> str:
        return f"alembic_version_{self.service}"

    @property
    def directory(self) -> Path:
        if self.location is not None:
            return self.location
        spec = importlib.util.find_spec(f"services.{self.service}.migrations")
        if spec is None or not spec.submodule_search_locations:
            raise LookupError(f"service {self.service} has no migrations package")
        return Path(next(iter(spec.submodule_search_locations)))

    def config(self, connection: Connection | None = None) -> Config:
        config = Config()
        config.set_main_option("script_location", str(self.directory))
        config.attributes["schema"] = self
        config.attributes["connection"] = connection
        return config

    def scripts(self) -> ScriptDirectory:
        return ScriptDirectory.from_config(self.config())

    def head(self) -> str:
        head = self.scripts().get_current_head()
        if head is None:
            raise LookupError(f"service {self.service} has no revision")
        return head

    def revisions(self) -> list[str]:
        """Oldest first (the history is linear)."""
        return [script.revision for script in reversed(list(self.scripts().walk_revisions()))]


def schema_of(service: str, *bases: type[DeclarativeBase]) -> ServiceSchema:
    return ServiceSchema(service, (InfraBase.metadata, *(base.metadata for base in bases)))


def service_schema(service: str) -> ServiceSchema:
    """The schema of a service by its name (for `eakte migrate` and the tests): its tables module's base."""
    tables = importlib.import_module(f"services.{service}.tables")
    bases = [value for value in vars(tables).values() if _is_base(value, tables.__name__)]
    return schema_of(service, *bases)


def _is_base(value: Any, module: str) -> bool:
    return (
        isinstance(value, type)
        and issubclass(value, DeclarativeBase)
        and value.__module__ == module
        and DeclarativeBase in value.__bases__
    )


def run_migrations(context: EnvironmentContext) -> None:
    """The body of every service's `env.py`: run on the connection `ServiceSchema.config` carries."""
    schema: ServiceSchema = context.config.attributes["schema"]
    connection: Connection | None = context.config.attributes["connection"]
    if connection is None:
        raise RuntimeError("migrations run through shared.migrations (eakte migrate), not the alembic command")
    context.configure(
        connection=connection,
        target_metadata=list(schema.metadata),
        version_table=schema.version_table,
        render_as_batch=True,  # new revisions work on SQLite (which alters by copying) and PostgreSQL alike
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def _render_item(kind: str, item: Any, _context: Any) -> str | Literal[False]:
    """A revision spells a column type as SQLAlchemy's own (`UtcDateTime` is `DateTime(timezone=True)` to the database),
    so that old revisions never import code that may change."""
    if kind == "type" and isinstance(item, TypeDecorator):
        impl = item.impl_instance
        return f"sa.DateTime(timezone={impl.timezone})" if isinstance(impl, DateTime) else f"sa.{impl!r}"
    return False


def new_revision(schema: ServiceSchema, message: str) -> Path:
    """Write the next revision from what the models have and the head has not (autogenerate); returns its file.

    Review it before committing: autogenerate does not see renames, and data moves are written by hand.
    """
    engine = create_engine("sqlite://")
    with engine.begin() as connection:
        command.upgrade(schema.config(connection), "head")
        number = f"{len(schema.revisions()) + 1:04d}"
        script = command.revision(schema.config(connection), message=message, autogenerate=True, rev_id=number)
    engine.dispose()
    scripts = script if isinstance(script, list) else [script]
    return Path(scripts[0].path) if scripts and scripts[0] is not None else schema.directory


def current_revision(connection: Connection, schema: ServiceSchema) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": schema.version_table})
    return context.get_current_revision()


def prepare_schema(engine: Engine, schema: ServiceSchema, *, production: bool) -> str:
    """Bring the database to head at start (see the module's description); returns the revision it is at."""
    with engine.begin() as connection:
        _one_migrator_at_a_time(connection, schema)
        head = schema.head()
        current = current_revision(connection, schema)
        if current is None and _service_tables(connection, schema):
            current = recognise(connection, schema)
            if production and current != head:
                raise SchemaNotCurrent(_old_message(schema, f"an unversioned schema matching {current}", head))
            log.info("%s: database made without migrations matches revision %s; stamping it", schema.service, current)
            command.stamp(schema.config(connection), current)
        if current == head:
            return head
        if current is not None and current not in schema.revisions():
            raise SchemaNotCurrent(
                f"the {schema.service} database is at revision {current}, which this release does not know "
                "(made by a newer release?); start the release that made it"
            )
        if production and current is not None:
            raise SchemaNotCurrent(_old_message(schema, f"revision {current}", head))
        log.info("%s: migrating the database from %s to %s", schema.service, current or "empty", head)
        command.upgrade(schema.config(connection), "head")
    return head


def upgrade(engine: Engine, schema: ServiceSchema) -> tuple[str | None, str]:
    """`eakte migrate`: bring one service's database to head, whatever the environment; (before, after)."""
    with engine.connect() as connection:
        before = current_revision(connection, schema)
        if before is None and _service_tables(connection, schema):
            before = recognise(connection, schema)  # made without migrations: the revision it matches
    return before, prepare_schema(engine, schema, production=False)


def _old_message(schema: ServiceSchema, found: str, head: str) -> str:
    return (
        f"the {schema.service} database has {found}, this release needs {head}; "
        f"upgrade it first with `{MIGRATE_COMMAND} --service {schema.service}` (or `{MIGRATE_COMMAND}` for all)"
    )


def _one_migrator_at_a_time(connection: Connection, schema: ServiceSchema) -> None:
    """Replicas starting together on PostgreSQL take turns (the lock ends with the transaction)."""
    if connection.dialect.name == "postgresql":
        key = zlib.crc32(schema.version_table.encode())
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _service_tables(connection: Connection, schema: ServiceSchema) -> set[str]:
    known = {table for metadata in schema.metadata for table in metadata.tables}
    return known & set(inspect(connection).get_table_names())


def recognise(connection: Connection, schema: ServiceSchema) -> str:
    """The newest revision whose tables and columns a database made without migrations has, all of them."""
    inspector = inspect(connection)
    present = {
        table: {column["name"] for column in inspector.get_columns(table)} for table in inspector.get_table_names()
    }
    matching = [
        revision
        for revision, expected in columns_by_revision(schema).items()
        if all(columns <= present.get(table, set()) for table, columns in expected.items())
    ]
    if not matching:
        raise SchemaNotCurrent(
            f"the {schema.service} database has tables but no version table ({schema.version_table}), and its "
            "tables match no revision of this release: restore a backup or migrate it by hand"
        )
    return matching[-1]


def columns_by_revision(schema: ServiceSchema) -> dict[str, dict[str, set[str]]]:
    """Each revision's tables and their columns, oldest first, by replaying the history on an in-memory SQLite."""
    found: dict[str, dict[str, set[str]]] = {}
    engine = create_engine("sqlite://")
    with engine.begin() as connection:
        for revision in schema.revisions():
            command.upgrade(schema.config(connection), revision)
            inspector = inspect(connection)
            found[revision] = {
                table: {column["name"] for column in inspector.get_columns(table)}
                for table in inspector.get_table_names()
                if table != schema.version_table
            }
    engine.dispose()
    return found


def differences(engine: Engine, schema: ServiceSchema) -> Sequence[Any]:
    """What autogenerate would still write: the models and the database (at head) disagree (`alembic check`)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": schema.version_table, "compare_type": True}
        )
        return list(compare_metadata(context, list(schema.metadata)))  # type: ignore[arg-type]
