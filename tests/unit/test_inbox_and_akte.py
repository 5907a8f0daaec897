"""Issue 17 points 3 and 5 without the stack: the inbox's filters, order and paging; deciding several tasks,
each checked and audited by itself; the portal's inbox and Akte pages as a person reads them."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest

from services.portal.akte_routes import akte_timeline, upload_link
from services.portal.inbox import InboxFilter, outcome_text
from services.workflow.bootstrap import Workflow
from services.workflow.domain import Decision
from services.workflow.domain.inbox import Due, InboxQuery, SortKey, due_state, inbox_page
from tests.unit.fakes_workflow import FakeWorkflowUnitOfWork, build_workflow
from tests.unit.test_portal import FakeServices, csrf_of, make_client, sign_in
from tests.unit.test_workflow_service_layer import APPROVER, ORG, REGISTRY, _start

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


@pytest.fixture
def services() -> FakeServices:
    return FakeServices()


@dataclass(frozen=True)
class Entry:
    task_id: str
    title: str
    created_at: datetime
    deadline_at: datetime | None
    step_name: str = "Schlusszeichnung"
    kind: str = "approval"
    org_unit: str = "50"
    on_behalf_of: str | None = None
    aktenzeichen: str = "50.10-2026/0001"


ENTRIES = [
    Entry("a", "Zuschuss", NOW - timedelta(days=3), NOW - timedelta(hours=2)),  # overdue
    Entry("b", "antrag", NOW - timedelta(days=1), NOW + timedelta(hours=5), org_unit="20"),  # due soon
    Entry("c", "Bescheid", NOW - timedelta(days=2), NOW + timedelta(days=4), step_name="Mitzeichnung"),
    Entry("d", "Akte", NOW - timedelta(hours=1), None, kind="resubmission", step_name="", on_behalf_of="hugo"),
]


def _ids(query: InboxQuery) -> list[str]:
    return [e.task_id for e in inbox_page(ENTRIES, query, NOW).items]


def test_due_soon_is_within_a_day_and_overdue_is_past_the_deadline() -> None:
    assert due_state(NOW - timedelta(seconds=1), NOW) is Due.OVERDUE
    assert due_state(NOW + timedelta(hours=23), NOW) is Due.DUE_SOON
    assert due_state(NOW + timedelta(days=1), NOW) is Due.ANY
    assert due_state(None, NOW) is Due.ANY


def test_inbox_filters_by_due_step_and_org_unit() -> None:
    assert _ids(InboxQuery(due=Due.OVERDUE)) == ["a"]
    assert _ids(InboxQuery(due=Due.DUE_SOON)) == ["b"]
    assert _ids(InboxQuery(step="Mitzeichnung")) == ["c"]
    assert _ids(InboxQuery(step="resubmission")) == ["d"]  # a resubmission has no step: its kind stands in
    assert _ids(InboxQuery(org_unit="20")) == ["b"]
    assert _ids(InboxQuery(org_unit="50", step="Schlusszeichnung")) == ["a"]
    assert _ids(InboxQuery(text=" ANTRAG ")) == ["b"] and len(_ids(InboxQuery(text="2026/0001"))) == 4


def test_inbox_sorts_by_deadline_received_or_title_and_tasks_without_deadline_come_last() -> None:
    assert _ids(InboxQuery()) == ["a", "b", "c", "d"]
    assert _ids(InboxQuery(descending=True)) == ["c", "b", "a", "d"]
    assert _ids(InboxQuery(sort=SortKey.RECEIVED)) == ["a", "c", "b", "d"]
    assert _ids(InboxQuery(sort=SortKey.RECEIVED, descending=True)) == ["d", "b", "c", "a"]
    assert _ids(InboxQuery(sort=SortKey.TITLE)) == ["d", "b", "c", "a"]  # case does not matter


def test_inbox_pages_on_the_server_and_counts_the_whole_inbox() -> None:
    many = [Entry(f"t{i:03}", f"Antrag {i:03}", NOW - timedelta(minutes=i), None) for i in range(230)]
    page = inbox_page(many, InboxQuery(sort=SortKey.TITLE, limit=50, offset=200), NOW)
    assert page.total == 230 and [e.task_id for e in page.items] == [f"t{i:03}" for i in range(200, 230)]
    assert inbox_page(many, InboxQuery(limit=10_000), NOW).items.__len__() == 200  # never more than a page
    filtered = inbox_page(ENTRIES, InboxQuery(due=Due.OVERDUE), NOW)
    assert filtered.total == 1
    assert (filtered.counts.total, filtered.counts.overdue, filtered.counts.due_soon, filtered.counts.deputy) == (
        4,
        1,
        1,
        1,
    )
    assert filtered.steps == ["Mitzeichnung", "Schlusszeichnung", "resubmission"]
    assert filtered.org_units == ["20", "50"]


# --- deciding several tasks: the service layer ----------------------------------------------------------


@pytest.fixture
def fake() -> tuple[Workflow, FakeWorkflowUnitOfWork]:
    uow = FakeWorkflowUnitOfWork()
    return build_workflow(uow, REGISTRY, ORG)[0], uow


def test_approving_several_decides_and_audits_each_task_and_reports_each_refusal(fake) -> None:
    wf, uow = fake
    theirs = [_start(wf) for _ in range(3)]
    own = _start(wf, by="anton")  # anton submitted it: four-eyes refuses him this one
    tasks = {d: uow.workflows.open_tasks_of(d)[0].task_id for d in [*theirs, own]}
    chosen = [tasks[d] for d in [theirs[0], own, theirs[1], theirs[2]]] + ["no-such-task", tasks[theirs[0]]]
    outcomes = wf.tasks.decide_many(wf.uow, chosen, "anton", APPROVER, Decision.APPROVE, "Alles geprüft")
    assert [(o.task_id, o.error) for o in outcomes] == [
        (tasks[theirs[0]], ""),
        (tasks[own], "four_eyes"),
        (tasks[theirs[1]], ""),
        (tasks[theirs[2]], ""),
        ("no-such-task", "not_found"),
    ]  # each task once, in the order chosen
    for document_id in theirs:
        assert uow.workflows.get(document_id).state == "approved"
        assert uow.audit.actions(document_id).count("decided") == 1
        decided = next(e for e in uow.audit.entries(document_id) if e.action == "decided")
        assert decided.actor == "anton" and decided.payload["comment"] == "Alles geprüft"
    assert "decided" not in uow.audit.actions(own) and uow.workflows.get(own).state == "in_review"


def test_the_inbox_page_of_the_service_carries_the_org_unit_and_pages(fake) -> None:
    wf, _uow = fake
    for _ in range(5):
        _start(wf)
    page = wf.tasks.inbox(wf.uow(), "anton", APPROVER, InboxQuery(limit=2, offset=4))
    assert page.total == 5 and len(page.items) == 1 and page.counts.total == 5
    assert page.steps == ["Schlusszeichnung"]


# --- the portal -----------------------------------------------------------------------------------------


def test_the_inbox_address_reads_german_words_and_unknown_values_fall_back() -> None:
    chosen = InboxFilter.of({"faellig": "ueberfaellig", "sortierung": "titel", "reihenfolge": "ab", "seite": "3"})
    assert chosen.api_params() == {
        "due": "overdue",
        "step": "",
        "org_unit": "",
        "text": "",
        "sort": "title",
        "order": "desc",
        "limit": 100,
        "offset": 200,
    }
    odd = InboxFilter.of({"faellig": "gestern", "sortierung": "<x>", "reihenfolge": "?", "seite": "-4"})
    assert odd == InboxFilter()
    assert InboxFilter().page_link() == "/aufgaben?seite="
    assert parse_qs(chosen.link(seite=1).split("?")[1]) == {
        "faellig": ["ueberfaellig"],
        "sortierung": ["titel"],
        "reihenfolge": ["ab"],
    }


def test_each_outcome_of_a_bulk_approval_reads_in_german() -> None:
    assert outcome_text({"ok": True}) == "freigegeben"
    assert outcome_text({"ok": False, "error": "four_eyes"}).startswith("Vier-Augen-Prinzip")
    assert "nicht (mehr) in Ihrem Posteingang" in outcome_text({"ok": False, "error": "not_found"})
    assert outcome_text({"ok": False, "error": "odd"}) == "Die Aufgabe konnte nicht freigegeben werden."


INBOX = {
    "total": 1,
    "limit": 50,
    "offset": 0,
    "counts": {"total": 1, "overdue": 0, "due_soon": 0, "deputy": 0},
    "steps": ["Schlusszeichnung"],
    "org_units": ["50"],
    "items": [
        {
            "task_id": "t1",
            "document_id": "d1",
            "title": "Bauantrag",
            "aktenzeichen": "63.10-2026/0001",
            "step": 1,
            "step_name": "Schlusszeichnung",
            "kind": "approval",
            "assignee_kind": "role",
            "assignee": "approver",
            "on_behalf_of": None,
            "submitted_by": "clara",
            "created_at": "2026-11-23T10:00:00+00:00",
            "deadline_at": None,
        }
    ],
}


def test_inbox_page_asks_the_workflow_for_one_filtered_page(services: FakeServices) -> None:
    services.answers[("GET", "/api/v1/inbox")] = (200, INBOX)
    client = make_client(services)
    sign_in(client, "anton", "approver")
    page = client.get("/aufgaben?faellig=bald&schritt=Schlusszeichnung&einheit=50&sortierung=eingang&seite=2&suche=Bau")
    assert page.status_code == 200 and "Bauantrag" in page.text
    assert 'href="/akten/63.10-2026/0001"' in page.text and 'name="task_id" value="t1"' in page.text
    asked = services.calls[-1].url.params
    assert (asked["due"], asked["step"], asked["org_unit"], asked["sort"], asked["offset"]) == (
        "due_soon",
        "Schlusszeichnung",
        "50",
        "received",
        "100",
    )
    assert asked["text"] == "Bau"


def test_bulk_approval_sends_the_chosen_tasks_and_shows_each_outcome(services: FakeServices) -> None:
    results = [
        {"task_id": "t1", "ok": True, "workflow_state": "approved", "error": "", "reason": ""},
        {"task_id": "t2", "ok": False, "workflow_state": "", "error": "already_decided", "reason": "x"},
    ]
    answer = {"decision": "approve", "decided": 1, "refused": 1, "results": results}
    services.answers[("POST", "/api/v1/tasks/decisions")] = (200, answer)
    services.answers[("GET", "/api/v1/inbox")] = (200, INBOX)
    client = make_client(services)
    sign_in(client, "anton", "approver")
    csrf = csrf_of(client.get("/aufgaben").text)
    form = {"csrf_token": csrf, "task_id": ["t1", "t2"], "comment": " passt ", "title.t1": "Bauantrag"}
    page = client.post("/aufgaben/sammelfreigabe", data=form)
    assert page.status_code == 200
    assert "1 freigegeben, 1 nicht freigegeben." in page.text
    assert "Bauantrag</strong>: freigegeben" in page.text and "bereits entschieden" in page.text
    sent = services.calls[-1]
    assert sent.url.path == "/api/v1/tasks/decisions"
    assert sent.read() == b'{"task_ids":["t1","t2"],"decision":"approve","comment":"passt"}'
    services.calls.clear()
    empty = client.post("/aufgaben/sammelfreigabe", data={"csrf_token": csrf}, follow_redirects=True)
    assert "mindestens eine Aufgabe" in empty.text
    assert not [c for c in services.calls if c.method == "POST"]


AKTE = {
    "aktenzeichen": "63.10-2026/0001",
    "title": "Neubau Kita Lindenstraße",
    "file_plan_class": {"number": "63.10", "title": "Baugenehmigungen", "retention_years": 30, "disposal": "archive"},
    "created_by": "clara",
    "created_at": "2026-11-20T09:00:00+00:00",
    "org_unit": "63",
    "vorgaenge": [
        {
            "vorgang_id": "v1",
            "title": "Bauantrag",
            "created_at": "2026-11-20T09:00:00+00:00",
            "documents": [
                {
                    "document_id": "d1",
                    "title": "Antrag",
                    "filename": "antrag.pdf",
                    "status": "in_review",
                    "version": 2,
                    "source": "email",
                    "document_type": "Antrag",
                    "created_at": "2026-11-20T09:00:00+00:00",
                    "history": [
                        {"status": "received", "at": "2026-11-20T09:00:00+00:00", "by": "clara"},
                        {"status": "in_review", "at": "2026-11-22T09:00:00+00:00", "by": "system"},
                    ],
                },
                {
                    "document_id": "d2",
                    "title": "",
                    "filename": "plan.pdf",
                    "status": "received",
                    "version": 1,
                    "source": "upload",
                    "document_type": "",
                    "created_at": "2026-11-21T09:00:00+00:00",
                    "history": [{"status": "received", "at": "2026-11-21T09:00:00+00:00", "by": "carl"}],
                },
            ],
        }
    ],
}


def test_akte_timeline_runs_across_all_documents_in_time_order() -> None:
    events = akte_timeline(AKTE)
    assert [(e.document_id, e.status) for e in events] == [("d1", "received"), ("d2", "received"), ("d1", "in_review")]
    assert events[1].title == "plan.pdf" and events[2].vorgang == "Bauantrag"
    assert upload_link("63.10-2026/0001", "v1") == "/erfassen?aktenzeichen=63.10-2026%2F0001&vorgang_id=v1"


def test_akte_page_shows_facts_vorgaenge_documents_and_actions(services: FakeServices) -> None:
    services.answers[("GET", "/api/v1/akten/63.10-2026/0001")] = (200, AKTE)
    client = make_client(services)
    sign_in(client, "clara", "clerk")
    page = client.get("/akten/63.10-2026/0001")
    assert page.status_code == 200
    for text in ("Neubau Kita Lindenstraße", "63.10 – Baugenehmigungen", "30 Jahre, danach Abgabe an das Archiv"):
        assert text in page.text
    assert "In Prüfung" in page.text and "E-Mail" in page.text and "<td>2</td>" in page.text
    assert "vorgang_id=v1" in page.text and 'name="vorgang_title"' in page.text
    assert 'href="/dokumente/d2">plan.pdf</a>' in page.text  # a document without a title shows its file name


def test_akte_page_of_another_org_unit_is_not_found(services: FakeServices) -> None:
    client = make_client(services)  # the ingest service answers 404 (need-to-know), as for a missing Akte
    sign_in(client, "kira", "clerk")
    page = client.get("/akten/63.10-2026/0001")
    assert page.status_code == 404 and "Neubau" not in page.text


def test_upload_page_presets_the_akte_and_vorgang_from_the_address(services: FakeServices) -> None:
    services.answers[("GET", "/api/v1/akten")] = (200, {"total": 0, "items": []})
    services.answers[("GET", "/api/v1/fileplan")] = (200, [])
    client = make_client(services)
    sign_in(client, "clara", "clerk")
    page = client.get("/erfassen?aktenzeichen=63.10-2026/0001&vorgang_title=Widerspruch")
    assert 'value="63.10-2026/0001"' in page.text and 'value="Widerspruch"' in page.text
