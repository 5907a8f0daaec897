"""`eakte dlq` and `eakte outbox retry`: ids, dates, the printed tables and the exit codes (no broker needed)."""

import hashlib
from datetime import UTC, datetime

import httpx
import pytest

from eakte_cli import main, repair
from shared.dead_letters import LetterId, StoredLetter, parse_before, parse_letter_id
from shared.events import DeadLetter
from shared.kafka_acl import PRINCIPALS, rules_for


def test_a_letter_id_names_topic_partition_and_offset() -> None:
    letter = parse_letter_id("documents.ingested.dlq/2/17")
    assert letter == LetterId("documents.ingested.dlq", 2, 17)
    assert str(letter) == "documents.ingested.dlq/2/17"
    assert parse_letter_id(str(letter)) == letter  # printed as parsed


@pytest.mark.parametrize("text", ["2/17", "2-17", "documents.ingested.dlq/2/17", "documents.ingested/2/17"])
def test_within_a_topic_the_short_forms_name_the_same_letter(text: str) -> None:
    for topic in ("documents.ingested", "documents.ingested.dlq"):
        assert parse_letter_id(text, topic) == LetterId("documents.ingested.dlq", 2, 17)


@pytest.mark.parametrize("text", ["", "17", "2/17", "topic/x/1", "documents.ingested.dlq/2/-1", "a/b"])
def test_a_malformed_letter_id_is_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(ValueError, match="dead-letter id"):
        parse_letter_id(text)


def test_a_letter_of_another_topic_is_refused() -> None:
    with pytest.raises(ValueError, match=r"not one of documents\.approved\.dlq"):
        parse_letter_id("documents.ingested.dlq/0/1", "documents.approved")


def test_a_date_is_midnight_utc_and_a_time_without_zone_is_utc() -> None:
    assert parse_before("2026-11-30") == datetime(2026, 11, 30, tzinfo=UTC)
    assert parse_before("2026-11-30T08:15") == datetime(2026, 11, 30, 8, 15, tzinfo=UTC)
    assert parse_before("2026-11-30T08:15:00+01:00") == datetime(2026, 11, 30, 7, 15, tzinfo=UTC)


@pytest.mark.parametrize("text", ["yesterday", "30.11.2026", "2026-13-01", ""])
def test_a_bad_date_exits_with_2_and_says_the_expected_form(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dlq", "purge", "--topic", "documents.ingested", "--before", text]) == 2
    assert "expected YYYY-MM-DD" in capsys.readouterr().err


def test_a_malformed_id_exits_with_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dlq", "show", "nonsense"]) == 2
    assert main(["dlq", "replay", "--topic", "documents.ingested", "--id", "x"]) == 2
    assert "not a dead-letter id" in capsys.readouterr().err


def _stored(reason: str = "unknown workflow 'x'", truncated: bool = False) -> StoredLetter:
    payload = b'{"event_id": "e1"}'
    letter = DeadLetter(
        source_topic="documents.ingested",
        consumer="workflow",
        reason=reason,
        payload=payload.decode(),
        document_id="d-1",
        payload_sha256=hashlib.sha256(payload).hexdigest(),
        payload_size=len(payload),
        payload_truncated=truncated,
        source_partition=3 if not truncated else None,
        source_offset=41 if not truncated else None,
    )
    moment = datetime(2026, 11, 30, 2, 10, 11, tzinfo=UTC)
    return StoredLetter(LetterId("documents.ingested.dlq", 0, 5), moment, b"d-1", letter)


def test_the_list_has_one_aligned_row_per_letter_with_the_reason_cut() -> None:
    header, row = repair.letter_rows([_stored(reason="r" * 500)])
    assert header.split() == ["ID", "SOURCE", "TOPIC", "CONSUMER", "REASON", "DOCUMENT", "TIME"]
    cells = row.split()
    assert cells[:3] == ["documents.ingested.dlq/0/5", "documents.ingested", "workflow"]
    assert cells[3] == "r" * (repair.REASON_CHARS - 1) + "…"
    assert cells[4:] == ["d-1", "2026-11-30T02:10:11Z"]
    assert row.index("d-1") == header.index("DOCUMENT")


def test_show_names_the_source_position_and_whether_it_can_be_replayed() -> None:
    text = repair.letter_text(_stored())
    assert "source:      documents.ingested/3/41" in text and "replayable:  yes" in text
    assert text.endswith('{"event_id": "e1"}')
    cut = repair.letter_text(_stored(truncated=True))
    assert "(position not recorded)" in cut and "replayable:  no" in cut


def test_a_letter_whose_text_is_not_the_original_is_not_replayed_from_the_letter() -> None:
    stored = _stored()
    changed = stored.letter.model_copy(update={"payload": "{}", "source_offset": None})
    assert not StoredLetter(stored.id, stored.time, stored.key, changed).replayable


def test_a_replay_of_many_letters_prints_progress_lines(capsys: pytest.CaptureFixture[str]) -> None:
    for done in range(1, 251):
        repair._progress(done, 250)
    assert capsys.readouterr().err.splitlines() == ["replayed 100/250", "replayed 200/250", "replayed 250/250"]


def test_outbox_retry_names_the_service_and_the_row(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asked: list[str] = []

    def post(url: str, **_kwargs: object) -> httpx.Response:
        asked.append(url)
        if url.endswith("/9/retry"):
            return httpx.Response(404, json={"error": "not_found"}, request=httpx.Request("POST", url))
        return httpx.Response(200, json={"outbox_id": 57}, request=httpx.Request("POST", url))

    monkeypatch.setattr(httpx, "post", post)
    assert main(["outbox", "retry", "workflow/3"]) == 0
    assert "workflow/3: back in the outbox as row 57" in capsys.readouterr().out
    assert asked[-1].endswith("/api/v1/outbox/dead-letters/3/retry")
    assert main(["outbox", "retry", "workflow/9"]) == 1
    assert "workflow has no set-aside row 9" in capsys.readouterr().err
    assert main(["outbox", "retry", "3"]) == 2
    assert main(["outbox", "retry", "portal/3"]) == 2
    assert len(asked) == 2


def test_the_operator_may_repair_dead_letters_and_nothing_else() -> None:
    rules = rules_for("operator", PRINCIPALS["operator"])
    assert {(r.operation, r.resource) for r in rules} == {("READ", "TOPIC"), ("DELETE", "TOPIC"), ("WRITE", "TOPIC")}
    deletes = {r.name for r in rules if r.operation == "DELETE"}
    assert deletes and all(name.endswith(".dlq") for name in deletes)
    writes = {r.name for r in rules if r.operation == "WRITE"}
    assert writes == {name.removesuffix(".dlq") for name in deletes}
    assert {r.name for r in rules if r.operation == "READ"} == deletes | writes  # letters and their originals
    assert "workflow.escalated" not in writes  # consumed by nobody here: nothing to replay


def test_the_consumer_knows_and_logs_a_replayed_message(caplog: pytest.LogCaptureFixture) -> None:
    from aiokafka import ConsumerRecord

    from shared.messaging import _delivery_of

    def record(*headers: tuple[str, bytes]) -> ConsumerRecord:
        return ConsumerRecord("documents.ingested", 2, 9, 0, 0, b"d-1", b"{}", None, 3, 2, headers)

    caplog.set_level("INFO", logger="shared.messaging")
    plain = _delivery_of(record(("content-type", b"application/json")), "workflow")
    assert plain.replayed_from is None and not caplog.records
    replayed = _delivery_of(record(("eakte-replayed-from", b"documents.ingested.dlq/0/5")), "workflow")
    assert (replayed.partition, replayed.offset, replayed.replayed_from) == (2, 9, "documents.ingested.dlq/0/5")
    assert "replayed from documents.ingested.dlq/0/5" in caplog.text


class _PurgedSource:
    """A consumer whose source partition no longer holds the early offsets (retention or a purge)."""

    def beginning_offsets(self, partitions: list) -> dict:
        return dict.fromkeys(partitions, 100)

    def end_offsets(self, partitions: list) -> dict:
        return dict.fromkeys(partitions, 120)


def test_a_cut_letter_whose_original_is_gone_is_refused_clearly() -> None:
    from shared.dead_letters import DeadLetters, NotReplayable

    letters = DeadLetters("127.0.0.1:1", {})
    cut = _stored(truncated=True)
    with pytest.raises(NotReplayable, match="source position is not known"):
        letters._original(_PurgedSource(), cut)  # type: ignore[arg-type]
    gone = StoredLetter(
        cut.id, cut.time, cut.key, cut.letter.model_copy(update={"source_partition": 3, "source_offset": 41})
    )
    assert gone.replayable  # as far as the letter tells
    with pytest.raises(NotReplayable, match=r"no longer holds the original at 3/41"):
        letters._original(_PurgedSource(), gone)  # type: ignore[arg-type]
    whole = _stored()
    assert letters._original(_PurgedSource(), whole) == b'{"event_id": "e1"}'  # type: ignore[arg-type]
