"""Page previews on the real stack: rendered after intake, served with the document's need-to-know, and a hostile
PDF ends as "no preview" instead of a hang."""

import io
import sqlite3

import httpx
from PIL import Image

from tests.conftest import unique_bytes
from tests.integration.conftest import Api, wait_for
from tests.preview_pdfs import nested_forms_pdf

PAULA = ("paula", "clerk")
ORG = ["50"]


def _ingest(api: Api) -> str:
    return f"{api.stack.url('ingest')}/api/v1"


def _upload(api: Api, name: str, data: bytes, content_type: str = "application/pdf") -> str:
    response = api.http.post(
        f"{_ingest(api)}/documents",
        headers=api.headers(*PAULA, org_units=ORG),
        files={"file": (name, data, content_type)},
        data={"file_plan_class": "50.10", "title": f"Vorschau {name}", "workflow": "none"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["document_id"])


def _pages(api: Api, document_id: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return api.http.get(
        f"{_ingest(api)}/documents/{document_id}/pages",
        headers=api.headers(*PAULA, org_units=ORG) if headers is None else headers,
    )


def _finished(api: Api, document_id: str, timeout_s: float = 60) -> dict:
    return wait_for(
        lambda: (body := _pages(api, document_id).json())["state"] != "pending" and body, timeout_s=timeout_s
    )


def _image(api: Api, document_id: str, page: int, size: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return api.http.get(
        f"{_ingest(api)}/documents/{document_id}/pages/{page}.png",
        params={"size": size},
        headers=api.headers(*PAULA, org_units=ORG) if headers is None else headers,
    )


def test_a_pdf_taken_in_gets_a_thumbnail_and_a_large_image_of_each_page(api: Api) -> None:
    document_id = _upload(api, "zwei-seiten.pdf", unique_bytes("ocr__tagged.pdf"))
    pages = _finished(api, document_id)
    assert pages["state"] == "done" and pages["count"] == 2 and pages["total_pages"] == 2, pages
    assert pages["render_ms"] is not None and pages["render_ms"] > 0
    large, thumb = _image(api, document_id, 2, "large"), _image(api, document_id, 2, "thumb")
    assert large.status_code == 200 and large.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(large.content)) as image:
        assert image.format == "PNG" and image.size[0] > 1000 and image.size[1] > image.size[0]  # A4 upright
        assert image.convert("L").getextrema()[0] < 100  # something is drawn on the page
    with Image.open(io.BytesIO(thumb.content)) as image:
        assert max(image.size) == 200
    assert _image(api, document_id, 3, "large").status_code == 404  # there is no third page


def test_a_scanned_image_previews_its_pdf_rendition(api: Api) -> None:
    document_id = _upload(api, "foto.jpg", unique_bytes("sf__image.jpg"), "image/jpeg")
    pages = _finished(api, document_id)
    assert pages["state"] == "done" and pages["count"] == 1, pages
    with Image.open(io.BytesIO(_image(api, document_id, 1, "large").content)) as image:
        assert image.size[0] > image.size[1]  # the 300x200 photo stays landscape


def test_page_images_have_the_need_to_know_of_the_content(api: Api) -> None:
    document_id = _upload(api, "vertraulich.pdf", unique_bytes("sf__minimal-document.pdf"))
    assert _finished(api, document_id)["state"] == "done"
    other_org = api.headers("kira", "clerk", org_units=["20"])
    assert _pages(api, document_id, other_org).status_code == 404
    assert _image(api, document_id, 1, "large", other_org).status_code == 404
    assert _image(api, document_id, 1, "thumb", {}).status_code == 401
    same_org = api.headers("sven", "clerk", org_units=ORG)
    assert _image(api, document_id, 1, "thumb", same_org).status_code == 200
    assert _pages(api, "00000000-0000-0000-0000-000000000000").status_code == 404


def test_a_hostile_pdf_ends_as_no_preview_not_a_hang(api: Api) -> None:
    document_id = _upload(api, "feindlich.pdf", nested_forms_pdf())
    pages = _finished(api, document_id, timeout_s=90)
    assert pages["state"] == "failed" and pages["count"] == 0 and pages["error"], pages
    assert _image(api, document_id, 1, "large").status_code == 404
    # The renderer is free again: the next document still gets its preview.
    following = _upload(api, "danach.pdf", unique_bytes("sf__minimal-document.pdf"))
    assert _finished(api, following)["state"] == "done"


def test_a_document_from_before_previews_is_backfilled_by_an_admin(api: Api) -> None:
    document_id = _upload(api, "alt.pdf", unique_bytes("sf__minimal-document.pdf"))
    assert _finished(api, document_id)["state"] == "done"
    # As if taken in before previews existed: no job row (the ingest database is SQLite in the test stack).
    with sqlite3.connect(api.stack.data_dir / "ingest.db", timeout=30) as db:
        db.execute("DELETE FROM preview_jobs WHERE document_id = ?", (document_id,))
    url = f"{_ingest(api)}/previews/backfill"
    assert api.http.post(url, headers=api.headers(*PAULA, org_units=ORG)).status_code == 403
    answer = api.http.post(url, headers=api.headers("adam", "admin"))
    assert answer.status_code == 200 and answer.json()["queued"] >= 1
    assert _finished(api, document_id)["state"] == "done"
    assert api.http.post(url, headers=api.headers("adam", "admin")).json()["queued"] == 0  # nothing left


def test_a_document_without_a_preview_job_is_queued_when_asked(api: Api) -> None:
    document_id = _upload(api, "nachgefragt.pdf", unique_bytes("sf__minimal-document.pdf"))
    assert _finished(api, document_id)["state"] == "done"
    with sqlite3.connect(api.stack.data_dir / "ingest.db", timeout=30) as db:
        db.execute("DELETE FROM preview_jobs WHERE document_id = ?", (document_id,))
    assert _pages(api, document_id).json()["state"] == "pending"
    assert _finished(api, document_id)["state"] == "done"


def test_the_preview_queue_is_a_gauge_for_it(api: Api) -> None:
    document_id = _upload(api, "gezaehlt.pdf", unique_bytes("sf__minimal-document.pdf"))
    assert _finished(api, document_id)["state"] == "done"
    scraped = wait_for(
        lambda: (
            (text := api.http.get(f"{api.stack.url('ingest')}/metrics").text)
            and 'eakte_preview_queue{state="done"}' in text
            and text
        ),
        timeout_s=30,
    )
    done = next(line for line in scraped.splitlines() if line.startswith('eakte_preview_queue{state="done"}'))
    assert float(done.split()[-1]) >= 1
