"""The audit chain: each entry's SHA-256 covers its content and its predecessor's hash.

The workflow writes it (services.workflow.audit_log); the archive verifies the trail a package keeps in
`data/audit.json` entry by entry for the integrity report. Pure: the standard library only.
"""

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class AuditEntry:
    document_id: str
    seq: int
    action: str
    actor: str
    on_behalf_of: str | None
    payload: Mapping[str, Any]
    at: str
    prev_hash: str
    hash: str = ""

    def content(self) -> dict[str, Any]:
        return {
            "document_id": self.document_id,
            "seq": self.seq,
            "action": self.action,
            "actor": self.actor,
            "on_behalf_of": self.on_behalf_of,
            "payload": dict(self.payload),
            "at": self.at,
            "prev_hash": self.prev_hash,
        }

    def as_dict(self) -> dict[str, Any]:
        return {**self.content(), "hash": self.hash}


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(entry: AuditEntry) -> str:
    """SHA-256 over the canonical JSON of the entry, its predecessor's hash included."""
    return hashlib.sha256(canonical_json(entry.content()).encode()).hexdigest()


def chain_entry(
    previous: AuditEntry | None,
    document_id: str,
    action: str,
    actor: str,
    on_behalf_of: str | None,
    payload: Mapping[str, Any],
    at: datetime,
) -> AuditEntry:
    entry = AuditEntry(
        document_id=document_id,
        seq=previous.seq + 1 if previous else 1,
        action=action,
        actor=actor,
        on_behalf_of=on_behalf_of,
        payload=json.loads(canonical_json(payload)),
        at=at.isoformat(),
        prev_hash=previous.hash if previous else GENESIS_HASH,
    )
    return AuditEntry(**{**entry.__dict__, "hash": entry_hash(entry)})


@dataclass(frozen=True)
class ChainCheck:
    verified: bool
    first_broken_entry: int | None = None
    reason: str = ""


def verify_chain(entries: Iterable[AuditEntry]) -> ChainCheck:
    """Recompute every hash and link; name the first entry where the chain no longer holds."""
    for check in check_entries(entries):
        if not check.ok:
            return ChainCheck(False, check.broken_at, check.reason)
    return ChainCheck(True)


@dataclass(frozen=True)
class EntryCheck:
    """One entry of a trail as verified: its place, what it records, and whether its hash and link hold."""

    seq: int
    action: str
    actor: str
    at: str
    ok: bool
    reason: str = ""
    broken_at: int | None = None  # the entry where the chain breaks (a missing one: the number expected)


def entry_from_dict(item: Mapping[str, Any]) -> AuditEntry:
    """An entry as `AuditEntry.as_dict` wrote it (KeyError/TypeError/ValueError when it is not one)."""
    return AuditEntry(
        document_id=str(item["document_id"]),
        seq=int(item["seq"]),
        action=str(item["action"]),
        actor=str(item["actor"]),
        on_behalf_of=item.get("on_behalf_of"),
        payload=dict(item.get("payload") or {}),
        at=str(item["at"]),
        prev_hash=str(item["prev_hash"]),
        hash=str(item.get("hash", "")),
    )


def check_entries(entries: Iterable[AuditEntry]) -> list[EntryCheck]:
    """Every entry verified on its own: its place in the sequence, its link to the one before, its hash."""
    checks = []
    expected_prev, expected_seq = GENESIS_HASH, 1
    for entry in entries:
        reason, broken_at = "", entry.seq
        if entry.seq != expected_seq:
            reason, broken_at = f"entry {expected_seq} is missing", expected_seq
        elif entry.prev_hash != expected_prev:
            reason = "prev_hash does not match the entry before"
        elif entry_hash(entry) != entry.hash:
            reason = "hash does not match the entry's content"
        where = broken_at if reason else None
        checks.append(EntryCheck(entry.seq, entry.action, entry.actor, entry.at, not reason, reason, where))
        expected_prev, expected_seq = entry.hash, entry.seq + 1
    return checks
