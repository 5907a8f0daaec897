"""The workflow service's own tables."""

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import UtcDateTime
from shared.events import utcnow


class WorkflowBase(DeclarativeBase):
    pass


class WorkflowRow(WorkflowBase):
    """One document's approval run, with what the archive will need (from `documents.ingested`)."""

    __tablename__ = "workflows"

    document_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    correlation_id: Mapped[str] = mapped_column(String(36))
    definition: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(20))
    submitted_by: Mapped[str] = mapped_column(String(200))
    original: Mapped[dict] = mapped_column(JSON)
    rendition: Mapped[dict | None] = mapped_column(JSON)
    document_metadata: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class TaskRow(WorkflowBase):
    __tablename__ = "tasks"

    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("workflows.document_id"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    offered_to_role: Mapped[str] = mapped_column(String(50))
    state: Mapped[str] = mapped_column(String(20), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decision: Mapped[str | None] = mapped_column(String(20))
    comment: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
