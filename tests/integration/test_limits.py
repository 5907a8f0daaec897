"""No unbounded work before the caller is known, and a poison row never stops the line (real stack)."""

import json
import re
import select
import socket
import sqlite3
import uuid
from urllib.parse import urlsplit

import httpx

from devstack.stack import Stack
from tests.conftest import unique_bytes
from tests.integration.conftest import Api, TopicReader, wait_for

MiB = 1024 * 1024


def _answer_while_sending(url: str, head: list[tuple[bytes, bytes]], total: int, chunk: int = MiB) -> tuple[int, int]:
    """POST `total` body bytes in chunks, watching for an answer between them; the status and the bytes sent.

    A server that reads the whole body before it answers is only heard from after the last chunk.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = [f"POST {parts.path} HTTP/1.1".encode(), f"Host: {host}:{port}".encode(), b"Connection: close"]
    request += [name + b": " + value for name, value in head]
    sent = 0
    with socket.create_connection((host, port), timeout=30) as conn:
        conn.sendall(b"\r\n".join(request) + b"\r\n\r\n")
        while sent < total and not select.select([conn], [], [], 0.05)[0]:
            try:
                conn.sendall(b"x" * min(chunk, total - sent))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += min(chunk, total - sent)
        answer = conn.recv(4096)
    status = re.match(rb"HTTP/1\.1 (\d{3})", answer)
    assert status, answer
    return int(status.group(1)), sent


def _bearer(api: Api, user: str = "clara", *roles: str) -> bytes:
    return api.headers(user, *(roles or ("clerk",)))["Authorization"].encode()


def test_a_large_body_without_a_token_is_refused_before_it_is_read(api: Api, stack: Stack) -> None:
    total = 120 * MiB
    head = [(b"Content-Type", b"application/json"), (b"Content-Length", str(total).encode())]
    status, sent = _answer_while_sending(f"{stack.url('ingest')}/api/v1/akten", head, total)
    assert status == 401
    assert sent < total  # the answer came while the body was still on its way
    assert api.http.get(f"{stack.url('ingest')}/health").status_code == 200


def test_a_json_body_over_the_limit_gets_413_while_it_streams(api: Api, stack: Stack) -> None:
    url = f"{stack.url('ingest')}/api/v1/akten"
    declared = api.http.post(url, headers=api.headers("clara", "clerk"), content=b"{" + b" " * (2 * MiB) + b"}")
    assert declared.status_code == 413 and declared.json()["error"] == "too_large"
    # Chunked, no length announced: refused once the count passes the limit, not at the end.
    total = 50 * MiB
    head = [
        (b"Authorization", _bearer(api)),
        (b"Content-Type", b"application/json"),
        (b"Transfer-Encoding", b"chunked"),
    ]
    status, sent = _answer_while_sending_chunked(url, head, total)
    assert status == 413
    assert sent < total


def _answer_while_sending_chunked(url: str, head: list[tuple[bytes, bytes]], total: int) -> tuple[int, int]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = [f"POST {parts.path} HTTP/1.1".encode(), f"Host: {host}:{port}".encode(), b"Connection: close"]
    request += [name + b": " + value for name, value in head]
    sent = 0
    chunk = b"%x\r\n" % (256 * 1024) + b" " * (256 * 1024) + b"\r\n"
    with socket.create_connection((host, port), timeout=30) as conn:
        conn.sendall(b"\r\n".join(request) + b"\r\n\r\n")
        while sent < total and not select.select([conn], [], [], 0.05)[0]:
            try:
                conn.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 256 * 1024
        answer = conn.recv(4096)
    status = re.match(rb"HTTP/1\.1 (\d{3})", answer)
    assert status, answer
    return int(status.group(1)), sent


def test_malformed_headers_get_4xx_never_500(api: Api, stack: Stack) -> None:
    url = f"{stack.url('ingest')}/api/v1/akten"
    for name, value in [
        (b"Authorization", "Bearer tökén".encode()),
        (b"Authorization", b"Bearer \xff\xfe"),
        (b"Authorization", b"\xc3\xa4"),
    ]:
        status, _sent = _answer_while_sending(url, [(name, value), (b"Content-Length", b"0")], 0)
        assert status == 401, value
    status, _sent = _answer_while_sending(url, [(b"Authorization", _bearer(api)), (b"Content-Length", b"12abc")], 0)
    assert 400 <= status < 500


def _portal_session(api: Api, stack: Stack) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=stack.url("portal"), timeout=30)
    page = client.get("/anmelden").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf
    signed = client.post("/anmelden", data={"csrf_token": csrf.group(1), "user": "clara", "roles": ["clerk"]})
    assert signed.status_code in (200, 303)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/erfassen").text)
    assert token
    return client, token.group(1)


def test_the_portal_refuses_a_non_ascii_csrf_header_with_4xx(api: Api, stack: Stack) -> None:
    client, _token = _portal_session(api, stack)
    cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items()).encode()
    head = [
        (b"Cookie", cookie),
        (b"X-CSRF-Token", "tökén".encode() + b"\xff"),
        (b"Content-Type", b"application/x-www-form-urlencoded"),
        (b"Content-Length", b"0"),
    ]
    status, _sent = _answer_while_sending(f"{stack.url('portal')}/abwesenheit", head, 0)
    assert 400 <= status < 500


def test_the_portal_refuses_an_upload_without_session_or_csrf_before_parsing_it(api: Api, stack: Stack) -> None:
    total = 60 * MiB
    head = [(b"Content-Type", b"multipart/form-data; boundary=b"), (b"Content-Length", str(total).encode())]
    status, sent = _answer_while_sending(f"{stack.url('portal')}/erfassen", head, total)
    assert status == 403 and sent < total
    client, _token = _portal_session(api, stack)
    cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items()).encode()
    status, sent = _answer_while_sending(f"{stack.url('portal')}/erfassen", [(b"Cookie", cookie), *head], total)
    assert status == 403 and sent < total  # signed in, but the token is missing: still not parsed


def _ingested(topics: TopicReader, *document_ids: str) -> bool:
    seen = {m.get("document_id") for m in topics.messages("documents.ingested")}  # other tests put raw messages there
    return set(document_ids) <= seen


def _later_upload(api: Api, stack: Stack, tag: str) -> str:
    answer = api.http.post(
        f"{stack.url('ingest')}/api/v1/documents",
        headers=api.headers("clara", "clerk"),
        files={"file": (f"spaeter-{tag}.pdf", unique_bytes("qpdf__minimal.pdf"), "application/pdf")},
        data={"workflow": "none"},
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["document_id"])


def test_a_sidecar_with_a_3_mb_title_is_taken_in_and_later_documents_flow_on(
    api: Api, stack: Stack, topics: TopicReader
) -> None:
    assert stack.hotfolder is not None
    root = stack.hotfolder
    tag = uuid.uuid4().hex[:8]
    (root / f"riesig-{tag}.json").write_text(json.dumps({"title": "T" * 3 * MiB}))
    (root / f"riesig-{tag}.pdf").write_bytes(unique_bytes("sf__minimal-document.pdf"))
    receipt_path = root / "processed" / f"riesig-{tag}.pdf.receipt.json"
    receipt = json.loads(wait_for(lambda: receipt_path.exists() and receipt_path.read_text(), timeout_s=60))
    document_id = receipt["document_id"]
    document = api.http.get(
        f"{stack.url('ingest')}/api/v1/documents/{document_id}", headers=api.headers("adam", "admin")
    ).json()
    assert document["title"] == "T" * 500  # cut by the one rule for every intake path
    later = _later_upload(api, stack, tag)
    assert wait_for(lambda: _ingested(topics, document_id, later), timeout_s=60)


def test_an_outbox_row_the_broker_refuses_is_moved_aside_and_later_rows_flow_on(
    api: Api, stack: Stack, topics: TopicReader
) -> None:
    """A row larger than the broker accepts (written straight into the outbox, as an older version could)."""
    tag = uuid.uuid4().hex[:8]
    poison = json.dumps({"document_id": f"poison-{tag}", "padding": "P" * 3 * MiB}).encode()
    with sqlite3.connect(stack.data_dir / "ingest.db", timeout=30) as db:
        db.execute(
            "INSERT INTO outbox (topic, key, payload, created_at) VALUES (?, ?, ?, CURRENT_TIMESTAMP)",
            ("documents.ingested", f"poison-{tag}".encode(), poison),
        )
    later = _later_upload(api, stack, tag)
    assert wait_for(lambda: _ingested(topics, later), timeout_s=60)
    admin = api.headers("adam", "admin")
    url = f"{stack.url('ingest')}/api/v1/outbox/dead-letters"
    letters = wait_for(
        lambda: [i for i in api.http.get(url, headers=admin).json()["items"] if i["key"] == f"poison-{tag}"]
    )
    assert letters[0]["size"] == len(poison) and letters[0]["topic"] == "documents.ingested"
    assert "MessageSizeTooLarge" in letters[0]["reason"]
    assert api.http.get(url, headers=api.headers("clara", "clerk")).status_code == 403
    assert api.http.get(url).status_code == 401
