"""The Poststelle mailbox on a real IMAP server (Dovecot on loopback): an e-mail becomes one Vorgang.

The ingest service of the shared stack is restarted with the mailbox settings for this module (and without them
afterwards). Messages are delivered as a mail server would store them: IMAP APPEND into the INBOX.
"""

import email
import email.policy
import imaplib
import io
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from pypdf import PdfReader

from devstack.dovecot import DovecotServer
from devstack.processes import free_port
from devstack.stack import Stack
from tests.conftest import unique_bytes
from tests.integration.conftest import Api, wait_for

USER, PASSWORD = "poststelle@stadt.example.org", "postfach-test-secret"
DONE = "Erledigt"
CLERK = "poststelle"  # EAKTE_MAIL_SUBMITTED_BY: the mailbox's documents are this clerk's to list


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotServer]:
    # Not under pytest's tmp dir: as root, mail is stored as `nobody`, who cannot enter that one.
    data_dir = Path(tempfile.mkdtemp(prefix="eakte-dovecot-"))
    server = DovecotServer(data_dir, free_port(), {USER: PASSWORD})
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def mailbox(stack: Stack, dovecot: DovecotServer) -> Iterator[DovecotServer]:
    env = {
        "EAKTE_MAIL_IMAP_URL": dovecot.url("INBOX"),
        "EAKTE_MAIL_USER": USER,
        "EAKTE_MAIL_PASSWORD": PASSWORD,
        "EAKTE_MAIL_POLL_S": "0.5",
        "EAKTE_MAIL_DONE_FOLDER": DONE,
        "EAKTE_MAIL_SUBMITTED_BY": CLERK,
    }
    stack.restart_service("ingest", **env)
    try:
        yield dovecot
    finally:
        stack.restart_service("ingest")  # the other tests run without a mailbox


def _message(subject: str, attachments: list[tuple[str, bytes, str]]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Erika Mustermann <erika.mustermann@example.org>"
    message["To"] = "Gewerbeamt <gewerbe@stadt.example.org>"
    message["Subject"] = subject
    message["Message-ID"] = f"<{uuid.uuid4()}@example.org>"
    message.set_content("Sehr geehrte Damen und Herren,\n\nanbei meine Gewerbeanmeldung für die Bäckerei.\n\nGrüße")
    for filename, data, content_type in attachments:
        maintype, subtype = content_type.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message


def _imap(server: DovecotServer) -> imaplib.IMAP4:
    imap = imaplib.IMAP4("127.0.0.1", server.port, timeout=10)
    imap.login(USER, PASSWORD)
    return imap


def _deliver(server: DovecotServer, message: EmailMessage) -> None:
    with _imap(server) as imap:
        status, _ = imap.append("INBOX", None, None, message.as_bytes())
        assert status == "OK"


def _count(server: DovecotServer, folder: str, message_id: str) -> int:
    with _imap(server) as imap:
        status, _ = imap.select(f'"{folder}"', readonly=True)
        if status != "OK":
            return 0
        _, found = imap.uid("SEARCH", "HEADER", "Message-ID", f'"{message_id}"')
        return len(found[0].split())


def _documents(api: Api, subject: str) -> list[dict]:
    response = api.http.get(
        f"{api.stack.url('ingest')}/api/v1/documents", headers=api.headers(CLERK, "clerk"), params={"limit": 200}
    )
    response.raise_for_status()
    return [d for d in response.json()["items"] if subject in d["title"] or d["title"].endswith(subject)]


def _quarantined(api: Api, filename: str) -> list[dict]:
    response = api.http.get(
        f"{api.stack.url('ingest')}/api/v1/quarantine", headers=api.headers("adam", "admin"), params={"limit": 500}
    )
    response.raise_for_status()
    return [q for q in response.json()["items"] if q["original_name"] == filename]


def test_an_email_with_a_hostile_attachment_files_the_rest_and_lands_in_the_done_folder(
    api: Api, mailbox: DovecotServer, stack: Stack
) -> None:
    tag = uuid.uuid4().hex[:8]
    subject = f"Gewerbeanmeldung Bäckerei {tag}"
    good, hostile = f"Anmeldung-{tag}.pdf", f"Rechnung-{tag}.pdf"
    disguised_program = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + uuid.uuid4().bytes * 64
    message = _message(
        subject,
        [
            (good, unique_bytes("sf__minimal-document.pdf"), "application/pdf"),
            (hostile, disguised_program, "application/pdf"),  # a Windows program posing as a PDF
        ],
    )
    _deliver(mailbox, message)

    # The message and the good attachment are filed, together in one new Vorgang of the routed class.
    filed = wait_for(lambda: len(found := _documents(api, tag)) == 2 and found, timeout_s=60)
    by_name = {d["filename"]: d for d in filed}
    assert {d["source"] for d in filed} == {"email"}  # the portal shows it as the channel „E-Mail“
    assert good in by_name
    eml = next(d for name, d in by_name.items() if name.endswith(".eml"))
    details = [api.document(d["document_id"], CLERK) for d in filed]
    assert {d["vorgang_id"] for d in details} != {""} and len({d["vorgang_id"] for d in details}) == 1
    assert {d["aktenzeichen"][:5] for d in details} == {"32.20"}  # gewerbe@… routes to Gewerbeangelegenheiten
    assert api.document(eml["document_id"], CLERK)["content_type"] == "message/rfc822"
    assert eml["title"] == f"E-Mail: {subject}"

    # The hostile one is held in quarantine with the reason; its sibling filed all the same.
    held = wait_for(lambda: _quarantined(api, hostile), timeout_s=30)
    assert [(q["reason"], q["source"]) for q in held] == [("unsupported_type", "email")]

    # The message is moved to the done folder, never deleted.
    message_id = str(message["Message-ID"])
    wait_for(lambda: _count(mailbox, DONE, message_id) == 1, timeout_s=30)
    assert _count(mailbox, "INBOX", message_id) == 0

    # The message's record: the .eml as original, its rendering (headers and text, in German) as the PDF shown.
    headers = api.headers(CLERK, "clerk")
    url = f"{api.stack.url('ingest')}/api/v1/documents/{eml['document_id']}/content"
    shown = api.http.get(url, headers=headers)
    assert shown.status_code == 200 and shown.headers["content-type"].startswith("application/pdf")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(shown.content)).pages)
    assert subject in text and "Erika Mustermann" in text and "Bäckerei" in text and good in text
    original = api.http.get(url, headers=headers, params={"original": "true"})
    assert original.status_code == 200
    kept = email.message_from_bytes(original.content, policy=email.policy.default)
    assert kept["Message-ID"] == message["Message-ID"] and len(list(kept.iter_attachments())) == 2

    # A restart with the same message delivered again (same Message-ID) files nothing twice.
    stack.restart_service("ingest", **stack.extra_env["ingest"])
    _deliver(mailbox, message)
    wait_for(lambda: _count(mailbox, DONE, message_id) == 2, timeout_s=30)
    assert _count(mailbox, "INBOX", message_id) == 0
    assert len(_documents(api, tag)) == 2
    assert len(_quarantined(api, hostile)) == 1


def test_an_encrypted_pdf_attachment_is_quarantined_and_a_message_without_attachments_is_filed(
    api: Api, mailbox: DovecotServer
) -> None:
    tag = uuid.uuid4().hex[:8]
    encrypted = _encrypted_pdf()
    message = _message(f"Rückfrage {tag}", [(f"geschuetzt-{tag}.pdf", encrypted, "application/pdf")])
    del message["To"]
    message["To"] = "info@stadt.example.org"  # no route: the default Akte of the Poststelle
    _deliver(mailbox, message)

    filed = wait_for(lambda: _documents(api, tag), timeout_s=60)
    assert [d["filename"].endswith(".eml") for d in filed] == [True]
    assert api.document(filed[0]["document_id"], CLERK)["aktenzeichen"].startswith("00.10-")
    held = wait_for(lambda: _quarantined(api, f"geschuetzt-{tag}.pdf"), timeout_s=30)
    assert held[0]["reason"] == "encrypted"

    # Approved, the message is archived with its channel (the archive search shows it) and its .eml original.
    eml_id = filed[0]["document_id"]
    task = api.task_for(eml_id)
    assert api.decide(task["task_id"], "approve").status_code == 200
    archived = wait_for(lambda: (r := api.archived(eml_id)).status_code == 200 and r.json(), timeout_s=60)
    assert (archived["source"], archived["content_type"]) == ("email", "message/rfc822")


def _encrypted_pdf() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.encrypt(user_password=f"geheim-{uuid.uuid4()}", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
