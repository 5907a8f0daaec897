"""Database plumbing every service uses: engine, session factory, outbox and processed-event tables.

Each service owns its own database; these tables exist in each of them (created by its migrations).
"""

import contextlib
import functools
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    Column,
    CursorResult,
    DateTime,
    Dialect,
    Engine,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    TypeDecorator,
    create_engine,
    event,
    insert,
    inspect,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.schema import ColumnDefault
from sqlalchemy.sql.dml import Insert

from shared.events import utcnow


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that comes back timezone-aware (UTC) on SQLite too, which stores no zone."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, _dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: store timezone-aware UTC timestamps only")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, _dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class InfraBase(DeclarativeBase):
    pass


class OutboxMessage(InfraBase):
    """A message written in the same transaction as the state change it announces (transactional outbox)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(200))
    key: Mapped[bytes] = mapped_column(LargeBinary)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    # Replicas on PostgreSQL: which relay holds the row for sending, and until when (shared.outbox).
    claimed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # The W3C traceparent of the span that wrote the row: the relay publishes the row under it (shared.tracing).
    traceparent: Mapped[str | None] = mapped_column(String(55), nullable=True)


class OutboxDeadLetter(InfraBase):
    """An outbox row the broker refused (too large, or failing again and again), moved aside so later rows flow on.

    The whole payload stays here for IT to inspect or replay; lists show its size, SHA-256 and a cut prefix.
    """

    __tablename__ = "outbox_dead_letters"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    outbox_id: Mapped[int] = mapped_column(Integer)
    topic: Mapped[str] = mapped_column(String(200))
    key: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    payload_sha256: Mapped[str] = mapped_column(String(64))
    payload_prefix: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    reason: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    moved_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)


class ProcessedEvent(InfraBase):
    """Which events a consumer has already applied, so that a redelivery changes nothing."""

    __tablename__ = "processed_events"

    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True)


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def serialize_sqlite_writers(engine: Engine, timeout_s: float = 30.0) -> None:
    """Queue this process's SQLite write transactions on one lock instead of SQLite's busy-wait.

    SQLite allows one writer; waiting writers sleep and retry (up to 100 ms a round) with no fairness, so under
    concurrent writes one transaction can starve for seconds. Taking a process lock at the first write statement
    and releasing it at commit/rollback makes writers take turns promptly. No effect on other databases.
    """
    if engine.dialect.name != "sqlite":
        return
    lock = threading.Lock()
    key = "eakte_write_lock_held"

    @event.listens_for(engine, "before_cursor_execute")
    def _take(conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: Any) -> None:
        if not conn.info.get(key) and statement.lstrip()[:7].upper().startswith(_WRITES):
            if not lock.acquire(timeout=timeout_s):
                raise TimeoutError(f"no SQLite write turn within {timeout_s} s")
            conn.info[key] = True

    def _give_back(info: dict[str, Any]) -> None:
        if info.pop(key, False):
            lock.release()

    @event.listens_for(engine, "commit")
    def _committed(conn: Any) -> None:
        _give_back(conn.info)

    @event.listens_for(engine, "rollback")
    def _rolled_back(conn: Any) -> None:
        _give_back(conn.info)

    @event.listens_for(engine.pool, "reset")
    def _reset(_dbapi_connection: Any, record: Any, _state: Any) -> None:
        _give_back(record.info)


def insert_rows(session: Session, rows: Sequence[DeclarativeBase]) -> None:
    """Insert new rows of one model with a plain INSERT (one executemany for several) instead of the session's
    flush, whose bookkeeping was most of the cost of a row written once and not changed afterwards.

    The rows stay outside the session: a later change to them is not written, and the session finds them by
    querying. Pending rows of the session are flushed first (a row may refer to them). A column a row leaves unset
    gets its default, set on the row too; a single row gets its generated primary key.
    """
    if not rows:
        return
    model = _plain_model(type(rows[0]))
    _set_defaults(model, rows)
    # What is still unset in every row is left to the database (the generated key, a server default); every row
    # gives the same columns.
    props = [(key, c) for key, c in model.props if not (_has_default(c) and all(getattr(r, key) is None for r in rows))]
    values = [{column.key: getattr(row, key) for key, column in props} for row in rows]
    generated = insert_values(session, model.table, values)
    key_columns = list(model.table.primary_key)
    if generated is not None and len(key_columns) == 1 and getattr(rows[0], model.key_of[key_columns[0].key]) is None:
        setattr(rows[0], model.key_of[key_columns[0].key], generated)


def _set_defaults(model: "_PlainModel", rows: Sequence[DeclarativeBase]) -> None:
    """A column with a default in Python (a value or a function) that a row leaves unset: its default, on the row.
    (No nullable column of ours has a default: None is never a value meant to be kept there.)"""
    for key, column in model.props:
        default = column.default
        if not isinstance(default, ColumnDefault):
            continue
        for row in rows:
            if getattr(row, key) is None:
                # A function is kept wrapped to take the execution context; ours need none.
                setattr(row, key, default.arg(None) if default.is_callable else default.arg)


def insert_values(session: Session, table: Table, values: Sequence[dict[str, Any]]) -> Any:
    """Insert rows given as column key -> value (every row the same keys) with one statement, an executemany for
    several. Returns a single row's generated primary key (None for several, or none generated).

    On SQLite the statement goes to the driver as it is, each value converted by its column's type: SQLAlchemy's
    execution of a compiled INSERT cost as much again as the statement (~90 us each, measured), for the rows
    every document writes in every service. Pending rows of the session are written first (a row may refer to
    them)."""
    session.flush()
    dialect = session.get_bind().dialect
    if dialect.name != "sqlite":
        if len(values) > 1:
            session.execute(_insert_of(table), list(values))
            return None
        inserted = cast(CursorResult[Any], session.execute(_insert_of(table), values[0])).inserted_primary_key
        return inserted[0] if inserted else None
    keys = tuple(values[0])
    statement, converters = _sqlite_insert(table, keys, dialect)
    params = [
        tuple(_converted(row[key], convert) for key, convert in zip(keys, converters, strict=True)) for row in values
    ]
    connection = session.connection()
    if len(params) > 1:
        connection.exec_driver_sql(statement, params)
        return None
    return connection.exec_driver_sql(statement, params[0]).lastrowid


def _converted(value: Any, convert: Any) -> Any:
    return value if convert is None else convert(value)


@functools.cache
def _insert_of(table: Table) -> Insert:
    return insert(table)


@functools.lru_cache(maxsize=256)
def _sqlite_insert(table: Table, keys: tuple[str, ...], dialect: Dialect) -> tuple[str, list[Any]]:
    """The INSERT of these columns in the driver's parameter style, and each column's value conversion."""
    quote = dialect.identifier_preparer
    columns = [table.c[key] for key in keys]
    names = ", ".join(quote.quote(column.name) for column in columns)
    statement = f"INSERT INTO {quote.format_table(table)} ({names}) VALUES ({', '.join('?' for _ in columns)})"
    return statement, [column.type.bind_processor(dialect) for column in columns]


@dataclass(frozen=True)
class _PlainModel:
    """What `insert_rows` needs of a model, looked up once: its table and (attribute, column) pairs."""

    table: Table
    props: list[tuple[str, Column[Any]]]
    key_of: dict[str, str]  # column key -> attribute name


@functools.cache
def _plain_model(model: type[DeclarativeBase]) -> _PlainModel:
    mapper = inspect(model)
    table = cast(Table, mapper.local_table)
    props = [(prop.key, cast(Column[Any], prop.columns[0])) for prop in mapper.column_attrs]
    for _, column in props:
        if isinstance(column.default, ColumnDefault) and column.default.is_clause_element:
            raise TypeError(f"{table.name}.{column.name}: a SQL expression as default is not supported by insert_rows")
    return _PlainModel(table, props, {column.key: key for key, column in props})


def _has_default(column: Column[Any]) -> bool:
    return column.primary_key or column.default is not None or column.server_default is not None


def make_sessions(engine: Engine, *service_bases: type[DeclarativeBase]) -> sessionmaker[Session]:
    """Tables straight from the models (the shared ones and the given bases) and a session factory: for tests.

    The services never use it: their schema comes from their migrations (`shared.migrations.prepare_schema`).
    """
    with schema_lock(engine):  # several processes starting together on one database take turns
        InfraBase.metadata.create_all(engine)
        for base in service_bases:
            base.metadata.create_all(engine)
    return sessionmaker(engine, expire_on_commit=False)


SCHEMA_LOCK_ID = 0x45414B5445  # "EAKTE": the PostgreSQL advisory lock schema changes are made under


@contextlib.contextmanager
def schema_lock(engine: Engine) -> Iterator[None]:
    """On PostgreSQL, one process at a time changes the schema (a session advisory lock); no-op elsewhere."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": SCHEMA_LOCK_ID})
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": SCHEMA_LOCK_ID})
