"""The ingest service's unit of work: its repositories, the outbox and the processed events in one transaction."""

from sqlalchemy.orm import Session

from services.ingest.fitconnect_repository import FitConnectRepository
from services.ingest.open311_repository import Open311Repository
from services.ingest.preview_repository import PreviewJobRepository
from services.ingest.repositories import (
    DocumentRepository,
    FilingRepository,
    IntakeItemRepository,
    MailMessageRepository,
    OcrJobRepository,
    QuarantineRepository,
)
from services.ingest.search import SearchRepository
from shared.unit_of_work import SqlUnitOfWork


class IngestUnitOfWork(SqlUnitOfWork):
    documents: DocumentRepository
    filing: FilingRepository
    quarantine: QuarantineRepository
    ocr_jobs: OcrJobRepository
    intake_items: IntakeItemRepository
    open311: Open311Repository
    mail_messages: MailMessageRepository
    fitconnect: FitConnectRepository
    previews: PreviewJobRepository
    search: SearchRepository

    def _open_repositories(self, session: Session) -> None:
        self.documents = DocumentRepository(session)
        self.filing = FilingRepository(session)
        self.quarantine = QuarantineRepository(session)
        self.ocr_jobs = OcrJobRepository(session)
        self.intake_items = IntakeItemRepository(session)
        self.open311 = Open311Repository(session)
        self.mail_messages = MailMessageRepository(session)
        self.fitconnect = FitConnectRepository(session)
        self.previews = PreviewJobRepository(session)
        self.search = SearchRepository(session)
