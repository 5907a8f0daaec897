"""Defence in depth: the archive takes in only the inbox's own objects of the document, with intake's fingerprint.

An insider who can produce `documents.approved` must not get a quarantined file, another document's file or a
swapped file archived under a COMPLIANCE lock: such events go to the dead-letter topic with the reason.
"""

import hashlib
import uuid

import pytest

from services.archive import archiving
from services.archive.archiving import Intake
from shared.events import DocumentApproved, DocumentMetadata, OcrResult, StoredObject
from tests.unit.fakes_archive import FakeArchiveUnitOfWork, FakePackages, FakeSources

PDF = b"%PDF-1.7 the original\n"


@pytest.fixture
def uow() -> FakeArchiveUnitOfWork:
    return FakeArchiveUnitOfWork()


@pytest.fixture
def sources() -> FakeSources:
    return FakeSources(bucket="inbox")


@pytest.fixture
def packages() -> FakePackages:
    return FakePackages()


def _approved(document_id: uuid.UUID, original: StoredObject, **fields: object) -> DocumentApproved:
    metadata = DocumentMetadata(title="Bauantrag", filename="antrag.pdf", retention_years=10)
    return DocumentApproved.model_validate(
        {
            "document_id": document_id,
            "correlation_id": uuid.uuid4(),
            "original": original,
            "metadata": metadata,
            "submitted_by": "clara",
            "decisions": [],
        }
        | fields
    )


def _archive(uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages, event: DocumentApproved) -> str:
    assert archiving.archive(uow, event, Intake(sources, packages))
    if not uow.dead_letters:
        return ""
    [letter] = uow.dead_letters
    assert not packages.objects and not uow.documents.rows and not uow.events
    return letter.reason


def test_the_documents_own_inbox_object_with_intakes_fingerprint_is_archived(
    uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages
) -> None:
    document_id = uuid.uuid4()
    original = sources.put("inbox", f"documents/{document_id}/antrag.pdf", PDF)

    assert _archive(uow, sources, packages, _approved(document_id, original)) == ""
    assert packages.content(str(document_id), "data/original.pdf") == PDF


def test_an_object_in_the_quarantine_bucket_is_refused(
    uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages
) -> None:
    document_id = uuid.uuid4()
    quarantined = sources.put("quarantine", f"documents/{document_id}/antrag.pdf", PDF)

    reason = _archive(uow, sources, packages, _approved(document_id, quarantined))

    assert reason == f"source not in the inbox bucket inbox: quarantine/documents/{document_id}/antrag.pdf"


@pytest.mark.parametrize(
    "key",
    [
        "documents/{other}/antrag.pdf",
        "antrag.pdf",
        "documents/{own}x/antrag.pdf",
        "documents/{own}/../{other}/antrag.pdf",
        "documents/{own}//antrag.pdf",
    ],
)
def test_an_object_outside_the_documents_own_prefix_is_refused(
    uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages, key: str
) -> None:
    document_id, other = uuid.uuid4(), uuid.uuid4()
    foreign = sources.put("inbox", key.format(own=document_id, other=other), PDF)

    reason = _archive(uow, sources, packages, _approved(document_id, foreign))

    assert reason.startswith(f"source not under this document's key prefix documents/{document_id}/")


def test_a_sha256_other_than_the_one_recorded_at_intake_is_refused(
    uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages
) -> None:
    """The object was swapped and the event forged to match the new bytes: intake's record still differs."""
    document_id = uuid.uuid4()
    recorded = hashlib.sha256(b"what intake received").hexdigest()
    swapped = sources.put("inbox", f"documents/{document_id}/antrag.pdf", PDF, recorded_sha256=recorded)

    reason = _archive(uow, sources, packages, _approved(document_id, swapped))

    assert f"recorded {recorded}, event {swapped.sha256}" in reason
    assert reason.startswith("data/original.pdf: sha256 differs from intake's record")


def test_an_object_without_a_recorded_sha256_is_refused(
    uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages
) -> None:
    document_id = uuid.uuid4()
    unrecorded = sources.put("inbox", f"documents/{document_id}/antrag.pdf", PDF, recorded_sha256="")

    reason = _archive(uow, sources, packages, _approved(document_id, unrecorded))

    assert "no SHA-256 recorded at intake" in reason


def test_every_referenced_object_is_checked_not_only_the_original(
    uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages
) -> None:
    document_id = uuid.uuid4()
    original = sources.put("inbox", f"documents/{document_id}/antrag.pdf", PDF)
    foreign_text = sources.put("quarantine", "elsewhere/ocr.txt", b"text")
    own_pdf = sources.put("inbox", f"documents/{document_id}/ocr.pdf", PDF)
    event = _approved(document_id, original, ocr={"derivative": own_pdf, "text": foreign_text, "languages": "deu"})
    assert isinstance(event.ocr, OcrResult)

    reason = _archive(uow, sources, packages, event)

    assert reason == "source not in the inbox bucket inbox: quarantine/elsewhere/ocr.txt"


def test_a_large_audit_trail_is_read_only_from_the_documents_own_prefix(
    uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages
) -> None:
    document_id, other = uuid.uuid4(), uuid.uuid4()
    original = sources.put("inbox", f"documents/{document_id}/antrag.pdf", PDF)
    audit = sources.put("inbox", f"documents/{other}/audit-0001.json", b"[]")

    reason = _archive(uow, sources, packages, _approved(document_id, original, audit_ref=audit))

    assert reason == f"source not under this document's key prefix documents/{document_id}/: inbox/{audit.key}"
