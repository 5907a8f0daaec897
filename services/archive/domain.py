"""The archive domain: integrity rules for what may enter the archive. Imports nothing of Kafka, MinIO or HTTP."""

from dataclasses import dataclass


@dataclass(frozen=True)
class IntegrityFailure:
    """Why a document must not be archived (BSI TR-RESISCAN: the intake fingerprint must still hold)."""

    reason: str


def check_fixity(
    expected_sha256: str, expected_size: int, actual_sha256: str, actual_size: int
) -> IntegrityFailure | None:
    if actual_sha256 != expected_sha256:
        return IntegrityFailure(f"sha256 mismatch: intake {expected_sha256}, stored object {actual_sha256}")
    if actual_size != expected_size:
        return IntegrityFailure(f"size mismatch: intake {expected_size} bytes, stored object {actual_size} bytes")
    return None


def archive_key(document_id: str, inbox_key: str) -> str:
    """Where a document's file lies in the archive bucket: same file name as in the inbox, per document."""
    return f"documents/{document_id}/{inbox_key.rsplit('/', 1)[-1]}"
