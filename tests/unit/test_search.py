"""The search for clerks and approvers: German stems, snippets, need-to-know in the query, facets, backfill."""

import itertools
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import sessionmaker

from services.ingest.access import Caller
from services.ingest.domain import DocumentStatus
from services.ingest.domain_search import Filters, parse_query, snippet, stem
from services.ingest.searching import SearchService, backfill_batch
from services.ingest.tables import AkteRow, DocumentRow, IngestBase
from services.ingest.unit_of_work import IngestUnitOfWork
from shared.db import make_engine
from shared.events import utcnow
from shared.need_to_know import DocumentFacts, Reader, may_open, may_see, search_scope

UowFactory = Callable[[], IngestUnitOfWork]


def test_german_stems_find_other_forms_of_a_word() -> None:
    assert stem("Anträge") == stem("Antrag") == stem("Antrages")
    assert stem("Baugenehmigungen") == stem("Baugenehmigung")


def test_a_snippet_escapes_html_and_marks_the_hits() -> None:
    text = "Vorab <script>alert('x')</script> & mehr: Ihr Antrag auf Sondernutzung ist eingegangen."
    html = snippet([text], parse_query("Anträge"))
    assert "<mark>Antrag</mark>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html and "&amp;" in html


def test_a_snippet_without_a_hit_shows_the_beginning_escaped() -> None:
    assert snippet(["", "<b>Titel</b>"], parse_query("Zaun")) == "&lt;b&gt;Titel&lt;/b&gt;"


def test_operators_in_the_query_are_words_not_syntax() -> None:
    query = parse_query('Antrag OR "x" NEAR(')
    assert all(term.isalnum() for term in query.terms)


READERS = [
    Reader("anna", frozenset({"clerk"}), frozenset({"bauamt"})),
    Reader("anna", frozenset({"approver"}), frozenset({"bauamt"})),
    Reader("rita", frozenset({"records_officer"})),
    Reader("adam", frozenset({"admin"}), frozenset({"bauamt"})),
    Reader("otto", frozenset({"clerk", "approver"}), frozenset({"ordnungsamt"})),
]
FACTS = [
    DocumentFacts(org_unit=unit, submitters=frozenset(subs), archived=archived, confidential=confidential)
    for unit, subs, archived, confidential in itertools.product(
        ["", "bauamt", "ordnungsamt"], [(), ("anna",), ("otto",)], [False, True], [False, True]
    )
]


@pytest.mark.parametrize("reader", READERS, ids=lambda r: f"{r.user}-{'+'.join(sorted(r.roles))}")
def test_the_search_scope_answers_as_need_to_know_does(reader: Reader) -> None:
    scope = search_scope(reader)
    for facts, task in itertools.product(FACTS, [False, True]):
        holders = frozenset({reader.user}) if task else frozenset()
        with_task = DocumentFacts(facts.org_unit, facts.submitters, holders, facts.archived, facts.confidential)
        approver_task = task and "approver" in reader.roles
        assert scope.admits(facts, approver_task) == may_see(reader, with_task), facts
        assert scope.opens(facts, approver_task) == may_open(reader, with_task), facts


@pytest.fixture
def uow_factory(tmp_path: Path) -> UowFactory:
    engine = make_engine(f"sqlite:///{tmp_path / 'ingest.db'}")
    IngestBase.metadata.create_all(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    return lambda: IngestUnitOfWork(sessions)


def _file(
    uow: IngestUnitOfWork,
    title: str,
    org_unit: str,
    body: str = "",
    status: DocumentStatus = DocumentStatus.IN_REVIEW,
    confidential: bool = False,
    document_type: str = "Antrag",
    indexed: bool = True,
) -> str:
    document_id = str(uuid.uuid4())
    aktenzeichen = f"{org_unit}-{document_id[:8]}"
    with uow:
        uow.filing.add_akte(
            AkteRow(
                aktenzeichen=aktenzeichen,
                file_plan_class="63.10" if org_unit == "bauamt" else "32.40",
                year=2026,
                seq=int(document_id[:7], 16),
                title=f"Akte {title}",
                created_by="anna",
                org_unit=org_unit,
            )
        )
    with uow:
        row = DocumentRow(
            document_id=document_id,
            correlation_id=document_id,
            sha256="0" * 64,
            size=1,
            bucket="inbox",
            object_key=f"{document_id}/original.pdf",
            filename=f"{title}.pdf",
            title=title,
            document_type=document_type,
            aktenzeichen=aktenzeichen,
            workflow="default",
            pages=1,
            submitted_by="poststelle",
            created_at=utcnow(),
            org_unit=org_unit,
            confidential=confidential,
        )
        uow.documents.add(row)
        uow.documents.add_status(document_id, DocumentStatus.RECEIVED, utcnow(), "poststelle")
        if indexed:
            uow.search.index(row, body)
        for reached in (DocumentStatus.IN_REVIEW, DocumentStatus.APPROVED, DocumentStatus.ARCHIVED):
            if LIFECYCLE.index(reached) <= LIFECYCLE.index(status):
                uow.documents.add_status(document_id, reached, utcnow(), "workflow")
                if indexed:
                    uow.search.status_changed([document_id], reached)
    return document_id


LIFECYCLE = [DocumentStatus.RECEIVED, DocumentStatus.IN_REVIEW, DocumentStatus.APPROVED, DocumentStatus.ARCHIVED]
CLERK_BAU = Caller(Reader("bernd", frozenset({"clerk"}), frozenset({"bauamt"})))
ADMIN = Caller(Reader("adam", frozenset({"admin"})))


def test_a_clerk_finds_their_org_units_documents_only_also_in_facet_counts(uow_factory: UowFactory) -> None:
    ours = _file(uow_factory(), "Bauantrag Müller", "bauamt", "Der Antrag auf Baugenehmigung für ein Carport.")
    archived = _file(uow_factory(), "Bescheid Carport", "bauamt", "Antrag genehmigt.", DocumentStatus.ARCHIVED)
    _file(uow_factory(), "Anträge Sondernutzung", "ordnungsamt", "Antrag auf Sondernutzung", document_type="Geheim")
    result = SearchService().search(uow_factory(), CLERK_BAU, "Anträge", Filters())
    assert {hit.document_id for hit in result.hits} == {ours, archived}
    assert result.total == 2
    assert dict(result.facets["status"]) == {"in_review": 1, "archived": 1}
    assert dict(result.facets["document_type"]) == {"Antrag": 2}
    assert dict(result.facets["file_plan_class"]) == {"63.10": 2}
    assert dict(result.facets["year"]) == {str(utcnow().year): 2}
    assert all("<mark>Antrag</mark>" in hit.snippet for hit in result.hits)


def test_facet_filters_narrow_the_hits(uow_factory: UowFactory) -> None:
    _file(uow_factory(), "Antrag eins", "bauamt", "Antrag")
    archived = _file(uow_factory(), "Antrag zwei", "bauamt", "Antrag", DocumentStatus.ARCHIVED)
    result = SearchService().search(uow_factory(), CLERK_BAU, "antrag", Filters(status="archived"))
    assert [hit.document_id for hit in result.hits] == [archived]
    assert SearchService().search(uow_factory(), CLERK_BAU, "antrag", Filters(year=1999)).total == 0


def test_a_confidential_documents_text_is_neither_matched_nor_shown_to_an_admin(uow_factory: UowFactory) -> None:
    secret = _file(uow_factory(), "Personalakte Meier", "personal", "Abmahnung wegen Verspätung", confidential=True)
    assert SearchService().search(uow_factory(), ADMIN, "Abmahnung", Filters()).total == 0
    [hit] = SearchService().search(uow_factory(), ADMIN, "Personalakte", Filters()).hits
    assert hit.document_id == secret and "Abmahnung" not in hit.snippet
    member = Caller(Reader("paula", frozenset({"clerk"}), frozenset({"personal"})))
    [hit] = SearchService().search(uow_factory(), member, "Abmahnungen", Filters()).hits
    assert "<mark>Abmahnung</mark>" in hit.snippet


def test_an_approver_finds_the_documents_of_their_tasks_only(uow_factory: UowFactory) -> None:
    task = _file(uow_factory(), "Antrag mit Aufgabe", "bauamt", "Antrag")
    _file(uow_factory(), "Antrag ohne Aufgabe", "bauamt", "Antrag")
    approver = Caller(Reader("alex", frozenset({"approver"})), token="t")
    service = SearchService(lambda token: frozenset({task}) if token == "t" else frozenset())
    result = service.search(uow_factory(), approver, "Antrag", Filters())
    assert [hit.document_id for hit in result.hits] == [task]
    assert dict(result.facets["status"]) == {"in_review": 1}


def test_a_records_officer_finds_archived_documents_only(uow_factory: UowFactory) -> None:
    _file(uow_factory(), "Antrag offen", "bauamt", "Antrag")
    archived = _file(uow_factory(), "Antrag archiviert", "bauamt", "Antrag", DocumentStatus.ARCHIVED)
    officer = Caller(Reader("rita", frozenset({"records_officer"})))
    assert [h.document_id for h in SearchService().search(uow_factory(), officer, "Antrag", Filters()).hits] == [
        archived
    ]


def test_status_reports_out_of_order_leave_the_furthest_status_in_the_index(uow_factory: UowFactory) -> None:
    """Topics are read in any order: `archived` before `approved` (or a `returned` entry) never moves it back."""
    late = _file(uow_factory(), "Antrag spät", "bauamt", "Antrag")
    uow = uow_factory()
    with uow:
        for reported in (DocumentStatus.ARCHIVED, DocumentStatus.APPROVED, DocumentStatus.RETURNED):
            uow.search.status_changed([late], reported)
    result = SearchService().search(uow_factory(), CLERK_BAU, "Antrag", Filters())
    assert dict(result.facets["status"]) == {"archived": 1}
    officer = Caller(Reader("rita", frozenset({"records_officer"})))
    assert [h.document_id for h in SearchService().search(uow_factory(), officer, "Antrag", Filters()).hits] == [late]


def test_a_purged_document_leaves_the_index(uow_factory: UowFactory) -> None:
    gone = _file(uow_factory(), "Antrag alt", "bauamt", "Antrag")
    uow = uow_factory()
    with uow:
        uow.search.remove(gone)
    assert SearchService().search(uow_factory(), CLERK_BAU, "Antrag", Filters()).total == 0


def test_ocr_text_makes_a_scan_findable(uow_factory: UowFactory) -> None:
    scan = _file(uow_factory(), "Scan 0001", "bauamt", "")
    assert SearchService().search(uow_factory(), CLERK_BAU, "Widerspruch", Filters()).total == 0
    uow = uow_factory()
    with uow:
        uow.search.text_found(scan, "Hiermit lege ich Widerspruch ein.")
    [hit] = SearchService().search(uow_factory(), CLERK_BAU, "Widersprüche", Filters()).hits
    assert hit.document_id == scan and "<mark>Widerspruch</mark>" in hit.snippet


def test_the_backfill_indexes_documents_filed_before_the_search(uow_factory: UowFactory) -> None:
    old = _file(uow_factory(), "Altbestand Gutachten", "bauamt", status=DocumentStatus.ARCHIVED, indexed=False)
    assert SearchService().search(uow_factory(), CLERK_BAU, "Gutachten", Filters()).total == 0
    assert backfill_batch(uow_factory()) == 1
    assert backfill_batch(uow_factory()) == 0
    [hit] = SearchService().search(uow_factory(), CLERK_BAU, "Gutachten", Filters()).hits
    assert hit.document_id == old and hit.status == "archived"


def test_the_text_layer_of_a_born_digital_pdf_is_read_at_inspection(tmp_path: Path) -> None:
    from services.ingest.inspection import inspect_pdf
    from shared.record_pdf import Section, record_pdf

    path = tmp_path / "antrag.pdf"
    path.write_bytes(record_pdf("Antrag", [Section("Inhalt", [], "Ich beantrage eine Sondernutzungserlaubnis.")], "x"))
    verdict = inspect_pdf(str(path), 10)
    assert verdict["ok"] and verdict["has_text"]
    assert "Sondernutzungserlaubnis" in verdict["text"]
