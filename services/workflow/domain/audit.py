"""The audit chain: each entry's SHA-256 covers its content and its predecessor's hash."""

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
    expected_prev = GENESIS_HASH
    expected_seq = 1
    for entry in entries:
        if entry.seq != expected_seq:
            return ChainCheck(False, expected_seq, f"entry {expected_seq} is missing")
        if entry.prev_hash != expected_prev:
            return ChainCheck(False, entry.seq, "prev_hash does not match the entry before")
        if entry_hash(entry) != entry.hash:
            return ChainCheck(False, entry.seq, "hash does not match the entry's content")
        expected_prev = entry.hash
        expected_seq += 1
    return ChainCheck(True)
