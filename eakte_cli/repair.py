"""`eakte dlq ...` and `eakte outbox [retry ID]`: IT sees and repairs what did not go through.

Dead letters are read, replayed and purged on Kafka as the operator principal (`shared.dead_letters`); the outbox
is asked from each service over HTTP with a short-lived admin token. Exit codes: 0 done, 1 not found / refused /
unreachable, 2 a malformed argument (id, date), 3 (`eakte outbox`) set-aside rows exist.
"""

import argparse
import sys
from datetime import timedelta
from typing import Any

import httpx
from kafka.errors import KafkaError

from shared.auth import issue_token
from shared.dead_letters import (
    DeadLetters,
    LetterNotFound,
    NotReplayable,
    StoredLetter,
    dlq_topic,
    parse_before,
    parse_letter_id,
)
from shared.settings import get_settings

OUTBOX_SERVICES = ("ingest", "workflow", "archive")
REASON_CHARS = 60
# `--all`: a progress line after this many letters (and after the last).
PROGRESS_EVERY = 100


def _fail(command: str, message: str, code: int = 1) -> int:
    print(f"eakte {command}: {message}", file=sys.stderr)
    return code


def _letters() -> DeadLetters:
    return DeadLetters.from_settings(get_settings())


def _cut(text: str, chars: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= chars else text[: chars - 1] + "…"


def letter_rows(letters: list[StoredLetter]) -> list[str]:
    """The `eakte dlq list` table: id, source topic, consumer, reason, document id, time (UTC)."""
    rows = [("ID", "SOURCE TOPIC", "CONSUMER", "REASON", "DOCUMENT", "TIME")]
    for stored in letters:
        letter = stored.letter
        rows.append(
            (
                str(stored.id),
                letter.source_topic,
                letter.consumer,
                _cut(letter.reason, REASON_CHARS),
                letter.document_id or "-",
                stored.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]


def _dlq_list(args: argparse.Namespace) -> int:
    letters = _letters()
    try:
        topics = [dlq_topic(args.topic)] if args.topic else list(letters.topics)
        found = [stored for topic in topics for stored in letters.read(topic)]
    except LetterNotFound as exc:
        return _fail("dlq list", str(exc))
    except KafkaError as exc:
        return _fail("dlq list", f"Kafka refused or did not answer: {exc!r}")
    if not found:
        print(f"no dead letters in {', '.join(topics)}")
        return 0
    print("\n".join(letter_rows(sorted(found, key=lambda s: s.time))))
    return 0


def letter_text(stored: StoredLetter) -> str:
    """`eakte dlq show`: every field of the letter, the payload last."""
    letter = stored.letter
    source = (
        f"{letter.source_topic}/{letter.source_partition}/{letter.source_offset}"
        if letter.source_offset is not None
        else f"{letter.source_topic} (position not recorded)"
    )
    lines = [
        f"id:          {stored.id}",
        f"time:        {stored.time.isoformat()}",
        f"source:      {source}",
        f"consumer:    {letter.consumer}",
        f"document:    {letter.document_id or '-'}",
        f"reason:      {letter.reason}",
        f"payload:     {letter.payload_size} bytes, sha256 {letter.payload_sha256}"
        + (" (cut; replayed from the source topic)" if letter.payload_truncated else ""),
        f"replayable:  {'yes' if stored.replayable else 'no'}",
        "",
        letter.payload,
    ]
    return "\n".join(lines)


def _dlq_show(args: argparse.Namespace) -> int:
    try:
        letter_id = parse_letter_id(args.id)
    except ValueError as exc:
        return _fail("dlq show", str(exc), 2)
    try:
        print(letter_text(_letters().get(letter_id)))
    except LetterNotFound as exc:
        return _fail("dlq show", str(exc))
    except KafkaError as exc:
        return _fail("dlq show", f"Kafka refused or did not answer: {exc!r}")
    return 0


def _progress(done: int, total: int) -> None:
    if done % PROGRESS_EVERY == 0 or done == total:
        print(f"replayed {done}/{total}", file=sys.stderr, flush=True)


def _dlq_replay(args: argparse.Namespace) -> int:
    if bool(args.id) == bool(args.all):
        return _fail("dlq replay", "name one letter (--id ID) or all of the topic (--all)", 2)
    try:
        letter_id = parse_letter_id(args.id, args.topic) if args.id else None
    except ValueError as exc:
        return _fail("dlq replay", str(exc), 2)
    letters = _letters()
    try:
        replayed, refused = (
            ([letters.replay(letter_id)], []) if letter_id else letters.replay_all(args.topic, _progress)
        )
    except (LetterNotFound, NotReplayable) as exc:
        return _fail("dlq replay", str(exc))
    except KafkaError as exc:
        return _fail("dlq replay", f"Kafka refused or did not answer: {exc!r}")
    for done in replayed:
        print(f"{done.letter} -> {done.topic}/{done.partition}/{done.offset}")
    for refusal in refused:
        print(f"eakte dlq replay: skipped: {refusal}", file=sys.stderr)
    if not replayed and not refused:
        print(f"no dead letters in {dlq_topic(args.topic)}")
    return 1 if refused else 0


def _dlq_purge(args: argparse.Namespace) -> int:
    try:
        before = parse_before(args.before)
    except ValueError as exc:
        return _fail("dlq purge", str(exc), 2)
    try:
        deleted = _letters().purge(args.topic, before)
    except LetterNotFound as exc:
        return _fail("dlq purge", str(exc))
    except KafkaError as exc:
        return _fail("dlq purge", f"Kafka refused or did not answer: {exc!r}")
    print(f"{dlq_topic(args.topic)}: {deleted} dead letters before {before.isoformat()} deleted")
    return 0


def _admin_headers() -> dict[str, str]:
    token = issue_token("eakte-cli", frozenset({"admin"}), get_settings().jwt_secret, timedelta(minutes=5))
    return {"Authorization": f"Bearer {token}"}


def _ask(service: str, path: str, **params: Any) -> dict[str, Any]:
    url = get_settings().service_url(service)
    response = httpx.get(f"{url}{path}", params=params, headers=_admin_headers(), timeout=10)
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


def outbox_lines(service: str, summary: dict[str, Any], letters: dict[str, Any]) -> list[str]:
    """One service's part of `eakte outbox`: the summary line, then each set-aside row (id `<service>/<n>`)."""
    lines = [
        f"{service}: {summary['pending']} pending, oldest {summary['oldest_seconds']:.0f} s, "
        f"{summary['set_aside']} set aside"
    ]
    for letter in letters["items"]:
        lines.append(
            f"  {service}/{letter['id']} {letter['moved_at']} {letter['topic']} key={letter['key']} "
            f"{letter['size']} bytes sha256={letter['payload_sha256']}\n    {letter['reason']}"
        )
    return lines


def _outbox(args: argparse.Namespace) -> int:
    """Per service: pending rows, the oldest one's age, the rows set aside; exit code 3 when any are set aside."""
    set_aside, unreachable = 0, 0
    for service in OUTBOX_SERVICES:
        try:
            summary = _ask(service, "/api/v1/outbox")
            letters = _ask(service, "/api/v1/outbox/dead-letters", limit=args.limit)
        except httpx.HTTPError as exc:
            print(f"{service}: does not answer at {get_settings().service_url(service)}: {exc}", file=sys.stderr)
            unreachable += 1
            continue
        set_aside += summary["set_aside"]
        print("\n".join(outbox_lines(service, summary, letters)))
    if unreachable:
        return 1
    return 3 if set_aside else 0


def parse_outbox_id(text: str) -> tuple[str, int]:
    """`<service>/<n>` as `eakte outbox` prints it (each service has its own set-aside rows)."""
    service, _, number = text.strip().partition("/")
    if service not in OUTBOX_SERVICES or not number.isdigit():
        raise ValueError(f"not a set-aside row: {text!r} (expected <service>/<id>, e.g. ingest/3)")
    return service, int(number)


def _outbox_retry(args: argparse.Namespace) -> int:
    try:
        service, number = parse_outbox_id(args.id)
    except ValueError as exc:
        return _fail("outbox retry", str(exc), 2)
    url = get_settings().service_url(service)
    try:
        response = httpx.post(f"{url}/api/v1/outbox/dead-letters/{number}/retry", headers=_admin_headers(), timeout=10)
    except httpx.HTTPError as exc:
        return _fail("outbox retry", f"{service} does not answer at {url}: {exc}")
    if response.status_code == 404:
        return _fail("outbox retry", f"{service} has no set-aside row {number}")
    if response.is_error:
        return _fail("outbox retry", f"{service} refused: {response.status_code} {response.text[:200]}")
    print(f"{args.id}: back in the outbox as row {response.json()['outbox_id']}; the relay publishes it")
    return 0


def add_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """`eakte dlq ...` and `eakte outbox [retry ID]`."""
    dlq = commands.add_parser("dlq", help="Kafka dead letters: list, show, replay, purge").add_subparsers(
        dest="dlq", required=True
    )
    listing = dlq.add_parser("list", help="id, source topic, consumer, reason, document id, time")
    listing.add_argument("--topic", default="", help="only this topic's letters (source or .dlq name)")
    listing.set_defaults(func=_dlq_list)
    show = dlq.add_parser("show", help="one letter with its payload")
    show.add_argument("id", help="<topic>.dlq/<partition>/<offset>, as `eakte dlq list` prints it")
    show.set_defaults(func=_dlq_show)
    replay = dlq.add_parser("replay", help="publish letters again to their source topic (marked as replayed)")
    replay.add_argument("--topic", required=True, help="source or .dlq topic")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", default="", help="one letter: its id, or <partition>/<offset> within --topic")
    which.add_argument("--all", action="store_true", help="every replayable letter of the topic, oldest first")
    replay.set_defaults(func=_dlq_replay)
    purge = dlq.add_parser("purge", help="delete the letters of a topic written before a date")
    purge.add_argument("--topic", required=True, help="source or .dlq topic")
    purge.add_argument("--before", required=True, help="YYYY-MM-DD (midnight UTC) or an ISO date-time")
    purge.set_defaults(func=_dlq_purge)

    outbox = commands.add_parser("outbox", help="per service: pending outbox rows, the oldest, the rows set aside")
    outbox.add_argument("--limit", type=int, default=50, help="at most this many set-aside rows per service")
    outbox.set_defaults(func=_outbox)
    retry = outbox.add_subparsers(dest="outbox").add_parser("retry", help="put a set-aside row back into the outbox")
    retry.add_argument("id", help="<service>/<id>, as `eakte outbox` prints it")
    retry.set_defaults(func=_outbox_retry)
