"""Need-to-know in the ingest service layer (services.ingest.access) on the fakes: who sees which document."""

import uuid
from pathlib import Path

import pytest

from services.ingest.access import Caller, DocumentAccess
from services.ingest.domain import DocumentStatus
from services.ingest.fileplan import Disposal, FilePlan, FilePlanClass, FilePlanError, parse_file_plan
from services.ingest.filing import FilingService
from services.ingest.history import StatusChange, record_statuses
from services.ingest.uploads import Accepted
from shared.errors import NotFound
from shared.events import DocumentIngested, utcnow
from shared.need_to_know import Reader
from tests.unit.test_ingest_service_layer import Harness, _text_pdf

PLAN = FilePlan(
    {
        "50.10": FilePlanClass("50.10", "Sozialhilfe", 10, Disposal.DESTROY, org_unit="50"),
        "10.20": FilePlanClass("10.20", "Personalakten", 30, Disposal.DESTROY, org_unit="10", confidential=True),
        "63.01": FilePlanClass("63.01", "Baugenehmigungen", 30, Disposal.ARCHIVE),
    }
)


def _caller(user: str, role: str, *org_units: str, token: str = "") -> Caller:
    return Caller(Reader(user, frozenset({role}), frozenset(org_units)), token)


CLARA = _caller("clara", "clerk")  # the submitter, a member of no org unit
SVEN = _caller("sven", "clerk", "50")
KIRA = _caller("kira", "clerk", "20")
ANNA = _caller("anna", "approver", token="anna-token")
RITA = _caller("rita", "records_officer")
ADAM = _caller("adam", "admin")


class Tasks:
    """The workflow adapter's stand-in: who has or had a task on which document."""

    def __init__(self) -> None:
        self.holders: dict[str, set[str]] = {}
        self.asked: list[tuple[str, str]] = []

    def __call__(self, document_id: str, token: str) -> bool:
        self.asked.append((document_id, token))
        return token.removesuffix("-token") in self.holders.get(document_id, set())


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    harness = Harness(tmp_path)
    harness.filing = FilingService(PLAN)
    harness.service._filing = harness.filing
    return harness


def _upload(harness: Harness, words: str, plan_class: str, org_unit: str = "") -> str:
    outcome = harness.ingest(_text_pdf(words), new_akte_class=plan_class, org_unit=org_unit)
    assert isinstance(outcome, Accepted)
    return outcome.document_id


def _sees(access: DocumentAccess, harness: Harness, caller: Caller, document_id: str, content: bool = False) -> bool:
    try:
        access.require(harness.uow, caller, document_id, content)
    except NotFound:
        return False
    return True


def test_an_akte_and_its_documents_belong_to_the_class_org_unit_and_the_event_says_so(harness: Harness) -> None:
    document_id = _upload(harness, "Antrag", "50.10", org_unit="20")
    row = harness.uow.documents.rows[document_id]
    assert (row.org_unit, row.confidential) == ("50", False)
    akte = harness.filing.akte(harness.uow, row.aktenzeichen or "")
    assert akte is not None and akte.org_unit == "50"
    [event] = harness.uow.events
    assert isinstance(event, DocumentIngested)
    assert (event.metadata.org_unit, event.metadata.confidential) == ("50", False)


def test_without_a_class_org_unit_the_creator_s_first_org_unit_owns_the_akte(harness: Harness) -> None:
    document_id = _upload(harness, "Bauantrag", "63.01", org_unit="20")
    assert harness.uow.documents.rows[document_id].org_unit == "20"
    unfiled = harness.ingest(_text_pdf("Lose"), org_unit="30")
    assert isinstance(unfiled, Accepted) and harness.uow.documents.rows[unfiled.document_id].org_unit == "30"
    nowhere = _upload(harness, "Niemand", "63.01")
    assert harness.uow.documents.rows[nowhere].org_unit is None


def test_who_sees_a_document_of_org_unit_50(harness: Harness) -> None:
    document_id = _upload(harness, "Antrag", "50.10")
    access = DocumentAccess()
    seen = {c.reader.user: _sees(access, harness, c, document_id) for c in (CLARA, SVEN, KIRA, ANNA, RITA, ADAM)}
    assert seen == {"clara": True, "sven": True, "kira": False, "anna": False, "rita": False, "adam": True}
    record_statuses(harness.uow, [StatusChange(uuid.uuid4(), document_id, DocumentStatus.ARCHIVED, utcnow(), "system")])
    assert _sees(access, harness, RITA, document_id)


def test_an_approver_sees_a_document_only_when_the_workflow_says_they_hold_a_task(harness: Harness) -> None:
    document_id = _upload(harness, "Antrag", "50.10")
    tasks = Tasks()
    access = DocumentAccess(tasks)
    assert not _sees(access, harness, ANNA, document_id)
    tasks.holders[document_id] = {"anna"}
    assert _sees(access, harness, ANNA, document_id) and _sees(access, harness, ANNA, document_id, content=True)
    assert tasks.asked[-1] == (document_id, "anna-token")
    assert not _sees(access, harness, KIRA, document_id)
    assert all(token == "anna-token" for _, token in tasks.asked)  # clerks are never asked about


def test_confidential_content_is_for_the_owning_org_unit_not_for_admins(harness: Harness) -> None:
    document_id = _upload(harness, "Personalakte", "10.20")
    access = DocumentAccess()
    hanna = _caller("hanna", "clerk", "10")
    assert _sees(access, harness, ADAM, document_id) and not _sees(access, harness, ADAM, document_id, content=True)
    assert _sees(access, harness, hanna, document_id, content=True)
    assert _sees(access, harness, CLARA, document_id, content=True)


def test_an_unknown_document_and_a_hidden_one_are_the_same_not_found(harness: Harness) -> None:
    document_id = _upload(harness, "Antrag", "50.10")
    access = DocumentAccess()
    with pytest.raises(NotFound) as hidden:
        access.require(harness.uow, KIRA, document_id)
    with pytest.raises(NotFound) as unknown:
        access.require(harness.uow, KIRA, "00000000-0000-0000-0000-000000000000")
    assert (hidden.value.code, str(hidden.value)) == (unknown.value.code, str(unknown.value))
    assert not access.duplicate_visible(harness.uow, KIRA, document_id)
    assert access.duplicate_visible(harness.uow, SVEN, document_id)


def test_an_akte_lists_only_the_documents_the_caller_may_see(harness: Harness) -> None:
    first = harness.ingest(_text_pdf("Eins"), new_akte_class="50.10")
    assert isinstance(first, Accepted) and first.aktenzeichen
    otto = harness.ingest(_text_pdf("Zwei"), aktenzeichen=first.aktenzeichen, submitted_by="otto")
    assert isinstance(otto, Accepted)
    access = DocumentAccess()
    listed = harness.filing.contents(harness.uow, first.aktenzeichen, access.row_filter(CLARA, with_history=True))
    assert [d.document_id for v in listed for d in v.documents] == [first.document_id]
    everything = harness.filing.contents(harness.uow, first.aktenzeichen, access.row_filter(SVEN, with_history=True))
    assert {d.document_id for v in everything for d in v.documents} == {first.document_id, otto.document_id}
    assert access.may_see_akte(SVEN, "50") and not access.may_see_akte(CLARA, "50")
    assert access.akten_scope(SVEN) == frozenset({"50"}) and access.akten_scope(RITA) is None


def test_the_akten_list_is_scoped_to_the_caller_s_org_units(harness: Harness) -> None:
    _upload(harness, "Antrag", "50.10")
    _upload(harness, "Bauantrag", "63.01", org_unit="20")
    total, akten = harness.filing.akten(harness.uow, None, 10, 0, frozenset({"50"}))
    assert total == 1 and [a.org_unit for a in akten] == ["50"]
    assert harness.filing.akten(harness.uow, None, 10, 0, None)[0] == 2
    assert harness.filing.akten(harness.uow, None, 10, 0, frozenset())[0] == 0


def test_the_file_plan_reads_org_unit_and_confidential() -> None:
    plan = parse_file_plan(
        {
            "classes": [
                {
                    "number": "10.20",
                    "title": "P",
                    "retention_years": 30,
                    "disposal": "destroy",
                    "org_unit": "10",
                    "confidential": True,
                },
                {"number": "63.01", "title": "B", "retention_years": 30, "disposal": "archive"},
            ]
        }
    )
    assert plan.classes["10.20"].org_unit == "10" and plan.classes["10.20"].confidential
    assert plan.classes["63.01"].org_unit == "" and not plan.classes["63.01"].confidential
    with pytest.raises(FilePlanError, match="confidential"):
        parse_file_plan(
            {
                "classes": [
                    {
                        "number": "10.20",
                        "title": "P",
                        "retention_years": 1,
                        "disposal": "destroy",
                        "confidential": "yes",
                    }
                ]
            }
        )


def test_the_shipped_file_plan_marks_personnel_files_confidential() -> None:
    from services.ingest.fileplan import load_file_plan

    plan = load_file_plan(Path(__file__).resolve().parents[2] / "config" / "aktenplan.yaml")
    assert plan.classes["10.20"].confidential and plan.classes["50.10"].org_unit == "50"


def test_a_batch_is_its_uploader_s_and_the_admins() -> None:
    from services.ingest.domain import may_see_batch

    assert may_see_batch("paula", frozenset({"clerk"}), {"paula"})
    assert may_see_batch("adam", frozenset({"admin"}), {"paula"})
    assert not may_see_batch("sven", frozenset({"clerk"}), {"paula"})
