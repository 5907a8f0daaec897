"""The archive service's own tables."""

from datetime import datetime

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import UtcDateTime


class ArchiveBase(DeclarativeBase):
    pass


class ArchivedDocumentRow(ArchiveBase):
    __tablename__ = "archived_documents"

    document_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    correlation_id: Mapped[str] = mapped_column(String(36))
    bucket: Mapped[str] = mapped_column(String(100))
    object_key: Mapped[str] = mapped_column(String(500))
    version_id: Mapped[str | None] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(100), default="application/pdf")
    rendition_key: Mapped[str | None] = mapped_column(String(500))
    rendition_sha256: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(500))
    aktenzeichen: Mapped[str] = mapped_column(String(100), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    submitted_by: Mapped[str] = mapped_column(String(200))
    decisions: Mapped[list] = mapped_column(JSON)
    archived_at: Mapped[datetime] = mapped_column(UtcDateTime)
