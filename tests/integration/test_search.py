"""The search for clerks and approvers on the real stack: German stems, in review and archived, need-to-know.

Each document is a readable PDF (shared.record_pdf) whose text carries a word made for this run, so that only this
module's documents match; the search must find them by another form of a word ("Anträge" for "Antrag").
"""

import secrets
import string

import httpx
import pytest

from shared.record_pdf import Section, record_pdf
from tests.integration.conftest import Api, wait_for

BAU = "50"  # org unit of class 50.10
OTHER = "20"  # org unit of class 20.30


def _marker() -> str:
    return "Kennung" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(10))


def _pdf(title: str, text: str) -> bytes:
    return record_pdf(title, [Section("Inhalt", [("Betreff", title)], text)], "Testdokument")


def _upload(api: Api, user: str, org_unit: str, file_plan_class: str, title: str, text: str, workflow: str) -> str:
    response = api.http.post(
        f"{api.stack.url('ingest')}/api/v1/documents",
        headers=api.headers(user, "clerk", org_units=[org_unit]),
        files={"file": ("antrag.pdf", _pdf(title, text), "application/pdf")},
        data={"workflow": workflow, "file_plan_class": file_plan_class, "title": title, "document_type": "Antrag"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["document_id"])


def _search(api: Api, headers: dict[str, str], q: str, **params: str) -> dict:
    response = api.http.get(f"{api.stack.url('ingest')}/api/v1/search", headers=headers, params={"q": q, **params})
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture(scope="module")
def filed(api: Api) -> dict[str, str]:
    marker = _marker()
    ids = {
        "marker": marker,
        "in_review": _upload(
            api, "paula", BAU, "50.10", "Carport Gartenstraße", f"Antrag auf Baugenehmigung. {marker}", "default"
        ),
        "archived": _upload(
            api, "paula", BAU, "50.10", "Bescheid Carport", f"Der Antrag wird genehmigt. {marker}", "none"
        ),
        "other": _upload(
            api, "kira", OTHER, "20.30", "Sondernutzung Markt", f"Antrag auf Sondernutzung. {marker}", "none"
        ),
    }
    admin = api.headers("adam", "admin")
    for name in ("archived", "other"):
        url = f"{api.stack.url('ingest')}/api/v1/documents/{ids[name]}"
        wait_for(lambda u=url: api.http.get(u, headers=admin).json()["status"] == "archived", timeout_s=90)
    url = f"{api.stack.url('ingest')}/api/v1/documents/{ids['in_review']}"
    wait_for(lambda: api.http.get(url, headers=admin).json()["status"] == "in_review", timeout_s=60)
    return ids


def test_a_clerk_finds_their_org_units_documents_in_review_and_archived_by_another_word_form(
    api: Api, filed: dict[str, str]
) -> None:
    clerk = api.headers("sven", "clerk", org_units=[BAU])
    found = wait_for(lambda: (r := _search(api, clerk, f"Anträge {filed['marker']}"))["total"] == 2 and r, timeout_s=60)
    assert {hit["document_id"] for hit in found["hits"]} == {filed["in_review"], filed["archived"]}
    statuses = {entry["value"]: entry["count"] for entry in found["facets"]["status"]}
    assert statuses == {"in_review": 1, "archived": 1}
    assert {e["value"]: e["count"] for e in found["facets"]["file_plan_class"]} == {"50.10": 2}
    assert all("<mark>Antrag</mark>" in hit["snippet"] for hit in found["hits"])


def test_another_org_units_document_never_appears_not_even_in_facet_counts(api: Api, filed: dict[str, str]) -> None:
    clerk = api.headers("sven", "clerk", org_units=[BAU])
    other = api.headers("kira", "clerk", org_units=[OTHER])
    wait_for(lambda: _search(api, other, filed["marker"])["total"] == 1, timeout_s=60)
    mine = _search(api, clerk, filed["marker"])
    assert filed["other"] not in {hit["document_id"] for hit in mine["hits"]}
    assert "20.30" not in {e["value"] for e in mine["facets"]["file_plan_class"]}
    assert sum(e["count"] for e in mine["facets"]["status"]) == mine["total"] == 2
    theirs = _search(api, other, filed["marker"])
    assert [hit["document_id"] for hit in theirs["hits"]] == [filed["other"]]
    assert {e["value"]: e["count"] for e in theirs["facets"]["file_plan_class"]} == {"20.30": 1}


def test_facets_narrow_and_the_records_office_finds_only_archived(api: Api, filed: dict[str, str]) -> None:
    clerk = api.headers("sven", "clerk", org_units=[BAU])
    wait_for(lambda: _search(api, clerk, filed["marker"])["total"] == 2, timeout_s=60)
    archived = _search(api, clerk, filed["marker"], status="archived")
    assert [hit["document_id"] for hit in archived["hits"]] == [filed["archived"]]
    officer = _search(api, api.headers("rita", "records_officer"), filed["marker"])
    assert {hit["document_id"] for hit in officer["hits"]} == {filed["archived"], filed["other"]}


def test_the_search_needs_a_token(api: Api) -> None:
    url = f"{api.stack.url('ingest')}/api/v1/search"
    assert httpx.get(url, params={"q": "Antrag"}).status_code == 401
