"""What the browser portal needs from ingest: a clerk's own documents, viewing one, and discarding quarantine."""

import hashlib
import uuid
from datetime import datetime
from urllib.parse import quote

import httpx
import pytest
from minio.error import S3Error

from devstack.stack import Stack
from shared.storage import ObjectStore
from tests.conftest import unique_bytes
from tests.integration.conftest import Api

ITEM_FIELDS = {
    "document_id",
    "title",
    "document_type",
    "aktenzeichen",
    "filename",
    "status",
    "version",
    "workflow",
    "submitted_by",
    "created_at",
    "updated_at",
    "source",  # the channel it came through (issue 15)
}


def _someone(name: str) -> str:
    """A user of this test alone: the stack is shared, and lists must not see other tests' uploads."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def _upload(api: Api, user: str, name: str, data: bytes, workflow: str = "none", **fields: str) -> httpx.Response:
    return api.http.post(
        f"{api.stack.url('ingest')}/api/v1/documents",
        headers=api.headers(user, "clerk"),
        files={"file": (name, data, "application/octet-stream")},
        data={"workflow": workflow, **fields},
    )


def _upload_pdf(api: Api, user: str, workflow: str = "none", **fields: str) -> str:
    response = _upload(api, user, "brief.pdf", unique_bytes("sf__minimal-document.pdf"), workflow, **fields)
    assert response.status_code == 201, response.text
    return response.json()["document_id"]


def _list(api: Api, user: str, *roles: str, **params: str | int) -> httpx.Response:
    return api.http.get(
        f"{api.stack.url('ingest')}/api/v1/documents",
        headers=api.headers(user, *(roles or ("clerk",))),
        params=params,
    )


def _content(api: Api, document_id: str, role: str = "clerk", user: str = "vera", **params: str) -> httpx.Response:
    return api.http.get(
        f"{api.stack.url('ingest')}/api/v1/documents/{document_id}/content",
        headers=api.headers(user, role),
        params=params,
    )


def test_clerk_sees_own_documents_newest_first_with_their_current_status(api: Api) -> None:
    clerk, colleague = _someone("lena"), _someone("tom")
    filed = _upload_pdf(api, clerk, workflow="none", title="Mitteilung Stadtwerke", document_type="mitteilung")
    in_review = _upload_pdf(api, clerk, workflow="default", title="Antrag Meier")
    theirs = _upload_pdf(api, colleague)
    # Need-to-know: lena's documents belong to no org unit; she reads them back as their submitter.
    api.wait_status(filed, "archived", timeout_s=60, user=clerk)
    api.wait_status(in_review, "in_review", user=clerk)

    listing = _list(api, clerk)
    assert listing.status_code == 200, listing.text
    body = listing.json()
    assert (body["total"], body["limit"], body["offset"]) == (2, 20, 0)
    assert [i["document_id"] for i in body["items"]] == [in_review, filed]
    newest, oldest = body["items"]
    assert set(newest) == ITEM_FIELDS
    assert (newest["status"], newest["title"], newest["workflow"]) == ("in_review", "Antrag Meier", "default")
    assert (oldest["status"], oldest["document_type"], oldest["filename"]) == ("archived", "mitteilung", "brief.pdf")
    assert {i["submitted_by"] for i in body["items"]} == {clerk} and {i["version"] for i in body["items"]} == {1}
    # updated_at is the time of the document's latest history entry, as its detail view shows it.
    latest = max(datetime.fromisoformat(h["at"]) for h in api.document(filed, user=clerk)["history"])
    assert datetime.fromisoformat(oldest["updated_at"]) == latest > datetime.fromisoformat(oldest["created_at"])

    archived = _list(api, clerk, status="archived").json()
    assert archived["total"] == 1 and [i["document_id"] for i in archived["items"]] == [filed]
    assert _list(api, clerk, status="rejected").json() == {"total": 0, "limit": 20, "offset": 0, "items": []}
    unknown = _list(api, clerk, status="lost")
    assert unknown.status_code == 422 and unknown.json()["error"] == "invalid_request"

    assert [i["document_id"] for i in _list(api, colleague).json()["items"]] == [theirs]
    snooping = _list(api, clerk, submitted_by=colleague)
    assert snooping.status_code == 403 and snooping.json()["error"] == "forbidden"


def test_pages_cover_every_document_once_and_the_total_stays_right(api: Api) -> None:
    clerk = _someone("paula")
    uploaded = [_upload_pdf(api, clerk) for _ in range(5)]

    pages = [_list(api, clerk, limit=2, offset=offset).json() for offset in (0, 2, 4)]
    assert [p["total"] for p in pages] == [5, 5, 5]
    assert [(p["limit"], p["offset"]) for p in pages] == [(2, 0), (2, 2), (2, 4)]
    assert [len(p["items"]) for p in pages] == [2, 2, 1]
    assert [i["document_id"] for p in pages for i in p["items"]] == list(reversed(uploaded))

    beyond = _list(api, clerk, offset=10).json()
    assert beyond["total"] == 5 and beyond["items"] == []
    for bad in ({"limit": 0}, {"limit": 201}, {"offset": -1}):
        assert _list(api, clerk, **bad).status_code == 422, bad


def test_admin_may_list_someone_elses_documents_and_approvers_may_not_list(api: Api) -> None:
    clerk, admin = _someone("emil"), _someone("adam")
    document_id = _upload_pdf(api, clerk)

    theirs = _list(api, admin, "admin", submitted_by=clerk).json()
    assert theirs["total"] == 1 and theirs["items"][0]["document_id"] == document_id
    assert _list(api, admin, "admin").json()["total"] == 0  # without submitted_by: the admin's own

    for role in ("approver", "records_officer"):
        refused = _list(api, "anton", role)
        assert refused.status_code == 403 and refused.json()["error"] == "forbidden", role
    assert api.http.get(f"{api.stack.url('ingest')}/api/v1/documents").status_code == 401


def test_content_gives_back_the_exact_original_to_whoever_may_open_it(api: Api) -> None:
    data = unique_bytes("sf__minimal-document.pdf")
    owner = _someone("lena")
    response = _upload(api, owner, "Bescheid März.pdf", data)
    assert response.status_code == 201, response.text
    document_id = response.json()["document_id"]

    # Need-to-know: its submitter and an admin (the other roles: tests/integration/test_authorization_documents.py).
    for user, role in ((owner, "clerk"), ("adam", "admin")):
        content = _content(api, document_id, role, user=user, original="true")
        assert content.status_code == 200, (role, content.text)
        assert hashlib.sha256(content.content).hexdigest() == hashlib.sha256(data).hexdigest()
        assert content.headers["x-content-sha256"] == response.json()["sha256"]
    assert content.headers["content-type"] == "application/pdf"
    assert content.headers["content-disposition"] == "inline; filename*=UTF-8''" + quote("Bescheid März.pdf", safe="")
    assert content.headers["x-content-type-options"] == "nosniff"
    # A PDF has no rendition: the view is the original itself.
    assert _content(api, document_id, user=owner).content == data
    assert _content(api, document_id).status_code == 404  # vera, a clerk of no org unit, does not see it

    missing = _content(api, str(uuid.uuid4()), user=owner)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_an_image_is_shown_as_its_pdf_and_the_original_stays_available(api: Api) -> None:
    image = unique_bytes("tess__8071_093.3B.tif")
    owner = _someone("lena")
    response = _upload(api, owner, "scan.tif", image)
    assert response.status_code == 201, response.text
    document_id = response.json()["document_id"]

    shown = _content(api, document_id, user=owner)
    assert shown.status_code == 200 and shown.content.startswith(b"%PDF-")
    assert shown.headers["content-type"] == "application/pdf"
    assert shown.headers["content-disposition"] == "inline; filename*=UTF-8''scan.pdf"
    assert shown.headers["x-content-sha256"] == hashlib.sha256(shown.content).hexdigest()

    original = _content(api, document_id, user=owner, original="true")
    assert original.content == image and original.headers["content-type"] == "image/tiff"
    assert original.headers["x-content-sha256"] == hashlib.sha256(image).hexdigest() == response.json()["sha256"]
    assert original.headers["content-disposition"] == "inline; filename*=UTF-8''scan.tif"


def _quarantine(api: Api, path: str = "", method: str = "GET", role: str = "admin", **params: str) -> httpx.Response:
    return api.http.request(
        method,
        f"{api.stack.url('ingest')}/api/v1/quarantine{path}",
        headers=api.headers("adam", role),
        params=params,
    )


def test_admin_discards_a_held_item_its_bytes_go_and_its_record_stays(api: Api, stack: Stack) -> None:
    word_file = b"PK\x03\x04" + uuid.uuid4().bytes * 8
    refused = _upload(api, "clara", "Antrag.docx.pdf", word_file)
    assert refused.status_code == 422 and refused.json()["reason"] == "unsupported_type"
    quarantine_id = refused.json()["quarantine_id"]
    settings = stack.settings()
    client = ObjectStore(settings).client
    assert client.stat_object(settings.quarantine_bucket, f"{quarantine_id}/content").size == len(word_file)

    for role in ("clerk", "approver", "records_officer"):
        forbidden = _quarantine(api, f"/{quarantine_id}/discard", "POST", role)
        assert forbidden.status_code == 403, role
    assert _quarantine(api, f"/{quarantine_id}").json()["state"] == "held"

    discarded = _quarantine(api, f"/{quarantine_id}/discard", "POST")
    assert discarded.status_code == 200, discarded.text
    item = discarded.json()
    assert (item["state"], item["discarded_by"], item["reason"]) == ("discarded", "adam", "unsupported_type")
    assert item["discarded_at"] is not None and item["released_as"] is None
    assert (item["original_name"], item["uploaded_by"], item["size"]) == ("Antrag.docx.pdf", "clara", len(word_file))
    assert item["sha256"] == hashlib.sha256(word_file).hexdigest()
    assert _quarantine(api, f"/{quarantine_id}").json() == item

    with pytest.raises(S3Error) as gone:
        client.stat_object(settings.quarantine_bucket, f"{quarantine_id}/content")
    assert gone.value.code == "NoSuchKey"
    assert _quarantine(api, f"/{quarantine_id}/content").status_code == 404

    discarded_ids = {i["quarantine_id"] for i in _quarantine(api, state="discarded", limit="500").json()["items"]}
    held_ids = {i["quarantine_id"] for i in _quarantine(api, state="held", limit="500").json()["items"]}
    assert quarantine_id in discarded_ids and quarantine_id not in held_ids

    for again in ("discard", "release"):
        refused_again = _quarantine(api, f"/{quarantine_id}/{again}", "POST")
        assert refused_again.status_code == 404 and refused_again.json()["error"] == "not_found", again
    assert _quarantine(api, f"/{uuid.uuid4()}/discard", "POST").status_code == 404


def test_quarantine_items_that_were_never_discarded_say_so(api: Api) -> None:
    refused = _upload(api, "clara", "leer.pdf", b"")
    item = _quarantine(api, f"/{refused.json()['quarantine_id']}").json()
    assert (item["state"], item["discarded_by"], item["discarded_at"]) == ("held", None, None)
