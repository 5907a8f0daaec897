"""The duplicate rule: the same bytes are one document, unless a deliberate copy goes into another Akte."""

from services.ingest.domain import StoredCopy, duplicate_of

COPIES = [StoredCopy("d1", "50.10-2026/0001")]


def test_same_bytes_are_a_duplicate_by_default() -> None:
    assert duplicate_of(COPIES, "", copies_in_other_akte=False) == "d1"
    assert duplicate_of(COPIES, "50.10-2026/0002", copies_in_other_akte=False) == "d1"
    assert duplicate_of([], "", copies_in_other_akte=False) is None


def test_a_deliberate_copy_may_go_into_another_akte_when_allowed() -> None:
    assert duplicate_of(COPIES, "50.10-2026/0002", copies_in_other_akte=True) is None
    assert duplicate_of(COPIES, "50.10-2026/0001", copies_in_other_akte=True) == "d1"
    assert duplicate_of(COPIES, "", copies_in_other_akte=True) == "d1"
