"""The Poststelle mailbox: routing, what a message is made of, and that a message is filed once."""

import email.policy
import json
from email.message import EmailMessage
from pathlib import Path

import pytest
import yaml

from services.ingest.domain import (
    FileKind,
    MailRoute,
    MailRouting,
    Rejection,
    attachment_filename,
    is_mail_message,
    mail_routing,
    message_key,
    message_record,
    read_message,
    sniff,
)
from services.ingest.fileplan import Disposal, FilePlan, FilePlanClass, load_file_plan
from services.ingest.filing import FilingService
from services.ingest.intake import IntakeItem, IntakeState
from services.ingest.mail_poller import imap_location
from services.ingest.mailbox import MANIFEST, FetchedMessage, MailIntake, MailState, part_item_id
from services.ingest.tables import MailMessageRow
from services.ingest.uploads import Upload
from shared.settings import CONFIG_DIR, Settings
from tests.unit.fakes_ingest import FakeIngestUnitOfWork

ROUTING = {
    "routes": [
        {"recipient": "Gewerbe@Stadt.example.org", "file_plan_class": "32.20", "akte_title": "Gewerbe"},
        {"subject": r"\brechnung\b", "file_plan_class": "20.30", "workflow": "rechnung"},
        {"recipient": "bau@stadt.example.org", "subject": "bauantrag", "aktenzeichen": "60.10-2026/0001"},
    ],
    "default": {"file_plan_class": "00.10", "akte_title": "Posteingang"},
}


# --- routing ------------------------------------------------------------------------------------------
def test_a_message_is_routed_by_recipient_in_any_case_then_by_subject_else_to_the_default() -> None:
    routing = mail_routing(ROUTING)
    assert routing.route(["gewerbe@stadt.EXAMPLE.org"], "Anfrage").file_plan_class == "32.20"
    assert routing.route(["info@stadt.example.org"], "Ihre RECHNUNG Nr. 4711").workflow == "rechnung"
    assert routing.route(["info@stadt.example.org"], "Rechnungsprüfung") == routing.default  # a word, not a part
    assert routing.route([], "") == routing.default and routing.default.akte_title == "Posteingang"


def test_the_first_matching_route_wins_and_every_condition_of_a_route_must_hold() -> None:
    routing = mail_routing(ROUTING)
    # Both the recipient rule and the subject rule match: the first listed wins.
    assert routing.route(["gewerbe@stadt.example.org"], "Rechnung").file_plan_class == "32.20"
    assert routing.route(["bau@stadt.example.org"], "Bauantrag Hauptstraße 1").aktenzeichen == "60.10-2026/0001"
    assert routing.route(["bau@stadt.example.org"], "Frage") == routing.default  # recipient alone is not enough


@pytest.mark.parametrize(
    ("document", "complaint"),
    [
        ({"routes": []}, "default"),
        ({"default": {"file_plan_class": "00.10", "recipient": "a@b.de"}}, "takes no condition"),
        ({"routes": [{"file_plan_class": "00.10"}], "default": {"file_plan_class": "00.10"}}, "recipient or subject"),
        ({"default": {"file_plan_class": "00.10", "aktenzeichen": "00.10-2026/0001"}}, "either"),
        ({"default": {"akte_title": "x"}}, "either"),
        ({"routes": [{"subject": "(", "file_plan_class": "1"}], "default": {"file_plan_class": "1"}}, "regular"),
        ({"default": {"file_plan_class": "00.10", "folder": "x"}}, "unknown key"),
        ({"routes": {"a": 1}, "default": {"file_plan_class": "00.10"}}, "list"),
    ],
)
def test_a_broken_routing_is_refused_with_what_is_wrong(document: object, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        mail_routing(document)


def test_the_shipped_routing_names_classes_of_the_shipped_file_plan() -> None:
    routing = mail_routing(yaml.safe_load((CONFIG_DIR / "mail_routing.yaml").read_text(encoding="utf-8")))
    plan = load_file_plan(CONFIG_DIR / "aktenplan.yaml")
    assert all(plan.get(route.file_plan_class) for route in routing.targets())
    assert routing.route(["gewerbe@stadt.example.org"], "x").file_plan_class == "32.20"


# --- what a message is made of --------------------------------------------------------------------------
def _message(**headers: str) -> EmailMessage:
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = "Erika Mustermann <erika@example.org>"
    message["To"] = "Gewerbe <gewerbe@stadt.example.org>"
    message["Cc"] = "kopie@stadt.example.org"
    message["Subject"] = "Anmeldung Bäckerei"
    message["Message-ID"] = "<abc@example.org>"
    for name, value in headers.items():
        del message[name.replace("_", "-")]
        message[name.replace("_", "-")] = value
    message.set_content("Guten Tag,\nanbei die Unterlagen.")
    return message


def test_attachments_are_read_with_clean_names_and_the_body_is_not_one() -> None:
    message = _message(Delivered_To="poststelle@stadt.example.org")
    message.add_attachment(b"%PDF-1.7 a", maintype="application", subtype="pdf", filename="../../etc/Ärger.pdf")
    message.add_attachment(b"\x89PNG\r\n\x1a\nx", maintype="image", subtype="png")  # no name given
    message.add_attachment(b"MZ\x90", maintype="application", subtype="octet-stream", filename="a\x07b.exe")
    read = read_message(message.as_bytes())
    assert [(a.filename, a.data[:3]) for a in read.attachments] == [
        ("Ärger.pdf", b"%PD"),
        ("Anhang-2.png", b"\x89PN"),
        ("ab.exe", b"MZ\x90"),
    ]
    assert read.body == "Guten Tag,\nanbei die Unterlagen."
    assert set(read.recipients) == {
        "gewerbe@stadt.example.org",
        "kopie@stadt.example.org",
        "poststelle@stadt.example.org",
    }
    assert read.subject == "Anmeldung Bäckerei" and read.message_id == "<abc@example.org>"


def test_an_html_only_body_is_shown_as_text_and_a_forwarded_message_is_an_eml_attachment() -> None:
    message = _message()
    message.set_content("<html><style>p{}</style><body><p>Hallo</p><p>Welt &amp; mehr</p></body></html>", "html")
    forwarded = _message(Subject="Weitergeleitet")
    message.add_attachment(forwarded)
    read = read_message(message.as_bytes())
    assert read.body == "Hallo\nWelt & mehr"
    assert [a.filename for a in read.attachments] == ["Anhang-1.eml"]
    assert read_message(read.attachments[0].data).subject == "Weitergeleitet"


def test_a_malformed_message_is_read_as_far_as_it_goes() -> None:
    read = read_message(b"Subject: =?utf-8?q?kaputt\r\nFrom: <<<\r\n\r\n\xff\xfe Text")
    assert read.attachments == () and read.message_id == ""
    assert attachment_filename("   ", 3, "application/x-unknown") == "Anhang-3.bin"


def test_the_record_shows_headers_text_and_the_list_of_attachments_in_german() -> None:
    message = _message()
    message.add_attachment(b"%PDF-1.7", maintype="application", subtype="pdf", filename="Anmeldung.pdf")
    title, sections = message_record(read_message(message.as_bytes()))
    assert title == "E-Mail: Anmeldung Bäckerei"
    headings = [heading for heading, _rows, _text in sections]
    assert headings[:2] == ["Kopfdaten", "Nachricht"] and headings[2].startswith("Anhänge")
    assert ("Von", "Erika Mustermann <erika@example.org>") in sections[0][1]
    assert sections[2][1][0][0] == "Anmeldung.pdf"


def test_a_message_is_known_by_its_message_id_else_by_its_bytes() -> None:
    assert message_key(" <a@b> ", "f" * 64) == "id:<a@b>"
    assert message_key("", "f" * 64) == "sha256:" + "f" * 64


def test_only_the_mailbox_hands_in_messages_and_their_bytes_must_look_like_one() -> None:
    head = b"Return-Path: <a@b.de>\r\nFrom: a@b.de\r\n"
    assert sniff(head, message_expected=True) is FileKind.MESSAGE
    assert isinstance(sniff(head), Rejection)  # an upload of the same bytes is no e-mail
    assert isinstance(sniff(b"MZ\x90\x00binary: yes", message_expected=True), Rejection)
    assert is_mail_message("email", "Antrag.EML") and not is_mail_message("upload", "Antrag.eml")
    assert not is_mail_message("email", "Anmeldung.pdf")
    assert not FileKind.MESSAGE.is_image and FileKind.MESSAGE.extension == "eml"


# --- where the mailbox is ---------------------------------------------------------------------------------
def test_the_mailbox_url_names_tls_host_port_and_folder() -> None:
    assert imap_location("imaps://mail.example.org/INBOX") == imap_location("imaps://mail.example.org:993/INBOX")
    secure = imap_location("imaps://mail.example.org:993/Posteingang%20Stadt")
    assert (secure.secure, secure.host, secure.port, secure.folder) == (
        True,
        "mail.example.org",
        993,
        "Posteingang Stadt",
    )
    assert imap_location("imap://127.0.0.1:1143").folder == "INBOX"
    with pytest.raises(SystemExit, match="loopback"):
        imap_location("imap://mail.example.org/INBOX")
    with pytest.raises(SystemExit, match="imaps://"):
        imap_location("pop3://mail.example.org")


# --- filed once ---------------------------------------------------------------------------------------
class FakeMailMessages:
    def __init__(self) -> None:
        self.rows: dict[str, MailMessageRow] = {}

    def find(self, folder: str, uidvalidity: int, uid: int, message_key: str) -> MailMessageRow | None:
        return next(
            (
                r
                for r in self.rows.values()
                if (r.folder, r.uidvalidity, r.uid) == (folder, uidvalidity, uid) or r.message_key == message_key
            ),
            None,
        )

    def add(self, row: MailMessageRow) -> None:
        self.rows[row.mail_id] = row

    def get(self, mail_id: str) -> MailMessageRow:
        return self.rows[mail_id]

    def in_state(self, state: str) -> list[MailMessageRow]:
        return [r for r in self.rows.values() if r.state == state]

    def ids(self) -> set[str]:
        return set(self.rows)


class FakeQueue:
    def __init__(self) -> None:
        self.items: dict[str, tuple[Path, Upload]] = {}
        self.finishers: dict[str, object] = {}

    def on_finished(self, source: str, finisher: object) -> None:
        self.finishers[source] = finisher

    def known(self, item_ids: list[str]) -> set[str]:
        return set(item_ids) & set(self.items)

    def add(self, item_id: str, source: str, path: Path, upload: Upload, refused: str = "") -> None:
        assert source == "email" and path.exists()
        self.items[item_id] = (path, upload)


PLAN = FilePlan(
    {
        "00.10": FilePlanClass("00.10", "Organisation", 10, Disposal.ARCHIVE),
        "32.20": FilePlanClass("32.20", "Gewerbe", 10, Disposal.DESTROY),
    }
)


@pytest.fixture
def mail(tmp_path: Path) -> tuple[MailIntake, FakeIngestUnitOfWork, FakeQueue]:
    uow = FakeIngestUnitOfWork()
    uow.mail_messages = FakeMailMessages()  # type: ignore[attr-defined]
    queue = FakeQueue()
    routing = mail_routing({"routes": ROUTING["routes"][:1], "default": ROUTING["default"]})
    intake = MailIntake(Settings(data_dir=tmp_path), lambda: uow, queue, FilingService(PLAN), routing)  # type: ignore[arg-type]
    return intake, uow, queue


def _with_attachment() -> bytes:
    message = _message()
    message.add_attachment(b"%PDF-1.7 a", maintype="application", subtype="pdf", filename="Anmeldung.pdf")
    return message.as_bytes()


def test_a_message_becomes_one_vorgang_with_the_eml_first_and_each_attachment(mail: tuple) -> None:
    intake, uow, queue = mail
    mail_id = intake.take(FetchedMessage("INBOX", 7, 1, _with_attachment()))
    row = uow.mail_messages.get(mail_id)
    assert row.state == MailState.QUEUED and row.parts == 2 and row.aktenzeichen.startswith("32.20-")
    assert [v.title for v in uow.filing.vorgaenge.values()] == ["E-Mail: Anmeldung Bäckerei"]
    uploads = [queue.items[part_item_id(mail_id, n)][1] for n in range(2)]
    assert [u.filename for u in uploads] == ["E-Mail - Anmeldung Bäckerei.eml", "Anmeldung.pdf"]
    assert {(u.vorgang_id, u.aktenzeichen, u.source) for u in uploads} == {(row.vorgang_id, row.aktenzeichen, "email")}
    assert [u.document_type for u in uploads] == ["E-Mail", "E-Mail-Anhang"]


def test_a_message_is_never_filed_twice_by_its_place_or_its_message_id(mail: tuple) -> None:
    intake, uow, queue = mail
    raw = _with_attachment()
    first = intake.take(FetchedMessage("INBOX", 7, 1, raw))
    assert intake.take(FetchedMessage("INBOX", 7, 1, raw)) == first  # re-poll before the move
    assert intake.take(FetchedMessage("INBOX", 7, 9, raw)) == first  # delivered again (same Message-ID)
    assert intake.take(FetchedMessage("INBOX", 8, 1, raw)) == first  # UIDVALIDITY changed
    assert len(uow.mail_messages.rows) == 1 and len(queue.items) == 2 and len(uow.filing.vorgaenge) == 1


def test_parts_spooled_before_a_crash_are_queued_once_on_restart(mail: tuple) -> None:
    intake, uow, queue = mail
    mail_id = intake.take(FetchedMessage("INBOX", 7, 1, _with_attachment()))
    lost = part_item_id(mail_id, 1)
    queue.items.pop(lost)  # the crash came between the two parts
    uow.mail_messages.get(mail_id).state = MailState.RECEIVED
    orphan = intake.spool / "never-recorded"
    orphan.mkdir()
    intake.recover()
    assert lost in queue.items and len(queue.items) == 2
    assert uow.mail_messages.get(mail_id).state == MailState.QUEUED
    assert not orphan.exists()


def test_the_spool_of_a_message_is_dropped_when_its_last_part_is_taken_in(mail: tuple) -> None:
    intake, _uow, queue = mail
    mail_id = intake.take(FetchedMessage("INBOX", 7, 1, _with_attachment()))
    folder = intake.spool / mail_id
    assert json.loads((folder / MANIFEST).read_text())[1]["upload"]["filename"] == "Anmeldung.pdf"
    finish = queue.finishers["email"]
    for item_id, (path, upload) in queue.items.items():
        finish(IntakeItem(item_id, "email", None, upload.filename, path, IntakeState.DONE, item_id, None, ""))
    assert not folder.exists()


def test_a_routing_naming_a_missing_class_stops_start_up(tmp_path: Path) -> None:
    uow = FakeIngestUnitOfWork()
    routing = MailRouting((), MailRoute(file_plan_class="99.99"))
    intake = MailIntake(Settings(data_dir=tmp_path), lambda: uow, FakeQueue(), FilingService(PLAN), routing)  # type: ignore[arg-type]
    with pytest.raises(SystemExit, match=r"99\.99"):
        intake.check_routing(frozenset({"default"}))
    good = MailIntake(
        Settings(data_dir=tmp_path),
        lambda: uow,
        FakeQueue(),
        FilingService(PLAN),
        MailRouting((), MailRoute(file_plan_class="00.10", workflow="nope")),
    )  # type: ignore[arg-type]
    with pytest.raises(SystemExit, match="nope"):
        good.check_routing(frozenset({"default"}))


def test_a_message_that_cannot_be_recorded_leaves_no_spool_and_is_taken_again(mail: tuple) -> None:
    intake, uow, queue = mail
    broken = uow.mail_messages.add
    uow.mail_messages.add = lambda row: (_ for _ in ()).throw(RuntimeError("database away"))
    with pytest.raises(RuntimeError):
        intake.take(FetchedMessage("INBOX", 7, 1, _with_attachment()))
    assert list(intake.spool.iterdir()) == [] and queue.items == {}
    uow.mail_messages.add = broken
    mail_id = intake.take(FetchedMessage("INBOX", 7, 1, _with_attachment()))
    assert uow.mail_messages.get(mail_id).state == MailState.QUEUED and len(queue.items) == 2


class FakeImap:
    """The commands MailPoller sends for one message: FETCH, then MOVE."""

    capabilities = ("IMAP4REV1", "MOVE")

    def __init__(self, messages: dict[bytes, bytes]) -> None:
        self.messages = messages
        self.moved: list[str] = []

    def uid(self, command: str, *args: str) -> tuple[str, list]:
        if command == "FETCH":
            raw = self.messages[args[0].encode()]
            return "OK", [(b"1 (UID 1 BODY[] {%d}" % len(raw), raw), b")"]
        if command == "MOVE":
            self.moved.append(args[0])
            return "OK", [b""]
        raise AssertionError(command)


def test_one_message_that_fails_stays_in_the_folder_and_does_not_stop_the_others(mail: tuple) -> None:
    from services.ingest.mail_poller import MailPoller

    intake, uow, _queue = mail
    poller = MailPoller(Settings(mail_imap_url="imap://127.0.0.1:1143/INBOX"), intake)
    imap = FakeImap({b"1": b"poison", b"2": _with_attachment()})
    original_take = intake.take
    intake.take = lambda fetched: original_take(fetched) if fetched.uid != 1 else (_ for _ in ()).throw(KeyError("x"))
    assert [poller._take(imap, 7, uid) for uid in (b"1", b"2")] == [False, True]  # type: ignore[arg-type]
    assert imap.moved == ["2"]
    assert [r.state for r in uow.mail_messages.rows.values()] == [MailState.MOVED]
