"""A database an older version created keeps working after the schema grew by nullable columns."""

from pathlib import Path

import pytest
from sqlalchemy import Integer, String, create_engine, inspect
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from shared.db import UtcDateTime, add_missing_columns, make_sessions
from shared.events import utcnow


class OldBase(DeclarativeBase):
    pass


class OldItem(OldBase):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


class NewBase(DeclarativeBase):
    pass


class NewItem(NewBase):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    discarded_by: Mapped[str | None] = mapped_column(String(200))
    discarded_at = mapped_column(UtcDateTime, nullable=True)


class StricterBase(DeclarativeBase):
    pass


class StricterItem(StricterBase):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    owner: Mapped[str] = mapped_column(String(50))


def test_new_nullable_columns_are_added_and_old_rows_stay(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    OldBase.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(OldItem(id=1, name="kept"))
        session.commit()

    sessions = make_sessions(engine, NewBase)

    assert {c["name"] for c in inspect(engine).get_columns("items")} >= {"discarded_by", "discarded_at"}
    with sessions() as session:
        assert session.get(NewItem, 1).name == "kept"
        session.add(NewItem(id=2, name="new", discarded_by="adam", discarded_at=utcnow()))
        session.commit()
    assert add_missing_columns(engine, NewBase) == []  # a second start changes nothing


def test_a_missing_required_column_stops_start_up_with_a_clear_message(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    OldBase.metadata.create_all(engine)
    with pytest.raises(RuntimeError, match="items lacks the required column owner"):
        add_missing_columns(engine, StricterBase)
