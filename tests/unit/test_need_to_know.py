"""Who may see a document, and who may open its content: the rule every service asks."""

import pytest

from shared.need_to_know import DocumentFacts, Reader, may_open, may_see, may_see_akte, visible

SOCIAL = DocumentFacts(org_unit="50", submitters=frozenset({"clara"}), task_holders=frozenset({"anton"}))
PERSONNEL = DocumentFacts(org_unit="10", submitters=frozenset({"paula"}), confidential=True, archived=True)


def reader(user: str, *roles: str, units: tuple[str, ...] = ()) -> Reader:
    return Reader(user, frozenset(roles), frozenset(units))


@pytest.mark.parametrize(
    ("who", "sees"),
    [
        (reader("clara", "clerk"), True),  # the submitter, even without an org unit
        (reader("bert", "clerk", units=("50",)), True),  # a clerk of the owning org unit
        (reader("erik", "clerk", units=("63",)), False),  # a clerk of another org unit
        (reader("nobody", "clerk"), False),  # a person without an org unit is a member of none
        (reader("anton", "approver"), True),  # has or had a task on it
        (reader("berta", "approver", units=("50",)), False),  # an approver without a task, even of the unit
        (reader("rita", "records_officer"), False),  # not archived yet
        (reader("ada", "admin"), True),
    ],
)
def test_who_sees_a_document(who: Reader, sees: bool) -> None:
    assert may_see(who, SOCIAL) is sees


def test_the_records_office_sees_what_is_archived() -> None:
    archived = DocumentFacts(org_unit="50", archived=True)
    assert may_see(reader("rita", "records_officer"), archived)


def test_confidential_content_only_for_the_owning_unit_and_the_records_office() -> None:
    assert may_see(reader("ada", "admin"), PERSONNEL) and not may_open(reader("ada", "admin"), PERSONNEL)
    assert may_open(reader("hans", "clerk", units=("10",)), PERSONNEL)
    assert may_open(reader("rita", "records_officer"), PERSONNEL)
    assert may_open(reader("paula", "clerk"), PERSONNEL)
    assert not may_open(reader("erik", "clerk", units=("63",)), PERSONNEL)


def test_what_one_may_not_see_one_may_not_open() -> None:
    assert not may_open(reader("erik", "clerk", units=("63",)), SOCIAL)


def test_an_akte_is_seen_by_its_unit_the_records_office_and_admins() -> None:
    assert may_see_akte(reader("bert", "clerk", units=("50",)), "50")
    assert not may_see_akte(reader("erik", "clerk", units=("63",)), "50")
    assert not may_see_akte(reader("nobody", "clerk"), "")
    assert may_see_akte(reader("rita", "records_officer"), "50") and may_see_akte(reader("ada", "admin"), "50")


def test_lists_keep_only_what_the_reader_may_see() -> None:
    other = DocumentFacts(org_unit="63")
    assert visible(reader("bert", "clerk", units=("50",)), [("a", SOCIAL), ("b", other)]) == ["a"]
