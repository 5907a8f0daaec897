"""The archive's unit of work: its repositories, the outbox and the processed events in one transaction."""

from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from services.archive.repositories import (
    AccessLog,
    DeletionRecords,
    Documents,
    EvidenceQueue,
    FixityLog,
    SqlAccessLog,
    SqlDeletionRecords,
    SqlDocuments,
    SqlEvidenceQueue,
    SqlFixityLog,
    SqlXdomeaProcesses,
    XdomeaProcesses,
)
from services.archive.search import SearchIndex
from shared.unit_of_work import SqlUnitOfWork, UnitOfWork


class ArchiveUnitOfWork(UnitOfWork):
    """What the archive's service layer works through (the SQL version below, a fake in the unit tests)."""

    documents: Documents
    access_log: AccessLog
    deletions: DeletionRecords
    processes: XdomeaProcesses
    evidence: EvidenceQueue
    fixity: FixityLog


class SqlArchiveUnitOfWork(ArchiveUnitOfWork, SqlUnitOfWork):
    def __init__(
        self, sessions: sessionmaker[Session], index: SearchIndex, notify: Callable[[], None] = lambda: None
    ) -> None:
        super().__init__(sessions, notify)
        self._index = index

    def _open_repositories(self, session: Session) -> None:
        self.documents = SqlDocuments(session, self._index)
        self.access_log = SqlAccessLog(session)
        self.deletions = SqlDeletionRecords(session)
        self.processes = SqlXdomeaProcesses(session)
        self.evidence = SqlEvidenceQueue(session)
        self.fixity = SqlFixityLog(session)
