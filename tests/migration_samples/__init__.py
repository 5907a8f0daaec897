"""A database as the previous release (ca83606, before migrations) left it: its DDL, and rows in its tables.

The `*.sql` files are what that release's `create_all` emitted, per service and dialect; they do not come from the
migrations, so an upgrade test starts from what users really have.
"""

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, select, text

HERE = Path(__file__).parent
RELEASE = "ca83606"


def create_previous_release(engine: Engine, service: str) -> None:
    ddl = (HERE / f"{service}_{RELEASE}.{engine.dialect.name}.sql").read_text()
    statements = [part.strip() for part in ddl.split(";")]
    with engine.begin() as connection:
        for statement in statements:
            body = "\n".join(line for line in statement.splitlines() if not line.startswith("--")).strip()
            if body:
                connection.execute(text(body))


def _value(python_type: type, number: int) -> Any:
    values: dict[type, Any] = {
        int: 40 + number,
        str: f"Wert {number}",
        bool: True,
        bytes: b"\x00payload",
        datetime: datetime(2026, 11, 20, 9, 30, number, tzinfo=UTC),
        date: date(2026, 12, 1),
    }
    return values.get(python_type, {"org_unit": "Bauamt", "n": number})  # JSON reflects as `object`


def insert_rows(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """One row in every table without foreign keys (every column filled); returns them as read back."""
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.begin() as connection:
        for table in metadata.sorted_tables:
            if table.foreign_keys:
                continue
            row = {column.name: _value(column.type.python_type, number) for number, column in enumerate(table.columns)}
            connection.execute(table.insert().values(**row))
    return read_rows(engine, {name: [] for name, table in metadata.tables.items() if not table.foreign_keys})


def read_rows(engine: Engine, tables: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The rows of these tables, each with only the columns the previous release had (`tables` maps names)."""
    metadata = MetaData()
    metadata.reflect(engine, only=list(tables))
    with engine.connect() as connection:
        return {
            name: [dict(row._mapping) for row in connection.execute(select(metadata.tables[name]))] for name in tables
        }
