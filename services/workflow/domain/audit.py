"""The audit chain: each entry's SHA-256 covers its content and its predecessor's hash (rules in shared/, since
the archive verifies the trail a package keeps, too)."""

from shared.audit_chain import (
    GENESIS_HASH,
    AuditEntry,
    ChainCheck,
    canonical_json,
    chain_entry,
    entry_hash,
    verify_chain,
)

__all__ = ["GENESIS_HASH", "AuditEntry", "ChainCheck", "canonical_json", "chain_entry", "entry_hash", "verify_chain"]
