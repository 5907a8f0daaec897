"""Archive domain, integrity: the pace of the scheduled fixity check and the lines of a document's integrity report.

Pure rules (the archive's domain, beside `services.archive.domain`): imports nothing of Kafka, MinIO, HTTP or SQL.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.archive.domain import parse_manifest
from shared.audit_chain import check_entries, entry_from_dict

MANIFEST = "manifest-sha256.txt"
METADATA = "data/metadata.json"
AUDIT = "data/audit.json"
SECONDS_PER_DAY = 86_400.0
# The scheduled check sleeps between steps at least this long, and at most this long (it wakes to renew its lease).
MIN_WAIT_S = 0.1
MAX_WAIT_S = 60.0
# At most this many packages per step, so that a backlog (a cycle overrun, many new packages) is worked off in
# short transactions and the lease is renewed between them.
MAX_PER_STEP = 50


# --- scheduled fixity: every package once per cycle, spread evenly ------------------------------------------


def cycle_seconds(cycle_days: float) -> float:
    return cycle_days * SECONDS_PER_DAY


def fixity_due(total: int, checked: int, elapsed_s: float, cycle_s: float) -> int:
    """How many packages the cycle should check now so that its `total` packages are spread evenly over `cycle_s`:
    the k-th (from 0) is due `k / total` of the way through; one step never takes more than MAX_PER_STEP."""
    if total <= 0:
        return 0
    share = min(max(elapsed_s, 0.0) / cycle_s, 1.0)
    target = min(total, math.floor(total * share) + 1)
    return max(0, min(target - checked, MAX_PER_STEP))


def fixity_wait_s(total: int, cycle_s: float, backlog: bool) -> float:
    """How long the check sleeps before its next step: half a package's share of the cycle, none with a backlog."""
    if backlog:
        return 0.0
    return min(max(cycle_s / max(total, 1) / 2, MIN_WAIT_S), MAX_WAIT_S)


def cycle_time_up(started_at: datetime, now: datetime, cycle_s: float) -> bool:
    return now >= started_at + timedelta(seconds=cycle_s)


def next_cycle_starts(started_at: datetime, finished_at: datetime | None, now: datetime, cycle_s: float) -> bool:
    """A new cycle begins once the last one has visited every package and its time is up (a cycle that is done
    early still takes the packages archived after its last one until then)."""
    return finished_at is not None and cycle_time_up(started_at, now, cycle_s)


def lease_seconds(cycle_s: float) -> float:
    """How long a replica holds the check without renewing it: well beyond its longest sleep."""
    return max(3 * MAX_WAIT_S, 3 * fixity_wait_s(1, cycle_s, False))


@dataclass(frozen=True)
class CycleFigures:
    cycle: int
    started_at: datetime
    finished_at: datetime | None
    checked: int
    ok: int
    mismatch: int
    missing: int

    def as_json(self) -> dict[str, Any]:
        return {
            "cycle": self.cycle,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "checked": self.checked,
            "ok": self.ok,
            "mismatch": self.mismatch,
            "missing": self.missing,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> "CycleFigures":
        finished = value.get("finished_at")
        return cls(
            cycle=int(value["cycle"]),
            started_at=datetime.fromisoformat(value["started_at"]),
            finished_at=datetime.fromisoformat(finished) if finished else None,
            checked=int(value["checked"]),
            ok=int(value["ok"]),
            mismatch=int(value["mismatch"]),
            missing=int(value["missing"]),
        )


# --- the integrity report --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceStatus:
    """The package's evidence record (RFC 4998) and its time-stamp, as its verifier found them."""

    ok: bool
    detail: str
    time: datetime | None = None
    tsa: str = ""
    verified: bool = False


NO_EVIDENCE = EvidenceStatus(ok=False, detail="Noch kein Beweisdatensatz (evidence record) vorhanden.")


@dataclass(frozen=True)
class ReportLine:
    """One checked statement of the report: what was checked (German), whether it holds, and the details."""

    name: str  # stable key: intake_sha256, event:<topic>, audit:<seq>, manifest, evidence, fixity
    title: str
    ok: bool
    detail: str

    @property
    def status(self) -> str:
        return "ok" if self.ok else "failed"


@dataclass(frozen=True)
class PackageFacts:
    """What the archive knows of one package, read for the report (the pure rules below judge it)."""

    document_id: str
    intake_sha256: str
    original_path: str
    recorded: Mapping[str, str]  # path -> SHA-256 recorded when the package was written
    reread: Mapping[str, str | None]  # path -> SHA-256 of the tag files read now (None: gone)
    manifest_text: str | None
    metadata: Any
    audit: Any
    decisions: Sequence[Mapping[str, Any]]
    last_fixity: str | None
    last_fixity_at: datetime | None
    last_fixity_problems: Sequence[str]
    evidence: EvidenceStatus = NO_EVIDENCE


@dataclass(frozen=True)
class IntegrityReport:
    document_id: str
    generated_at: datetime
    ok: bool
    lines: list[ReportLine]
    intake_sha256: str
    manifest: dict[str, str]
    decisions: list[dict[str, Any]]
    evidence: EvidenceStatus
    audit_entries: list[dict[str, Any]] = field(default_factory=list)


def integrity_report(facts: PackageFacts, now: datetime) -> IntegrityReport:
    """Every line of the report; `ok` only when every line is ok."""
    manifest = _manifest_entries(facts)
    entries = _audit_entries(facts.audit)
    lines = [
        _intake_line(facts, manifest),
        *_event_lines(facts, entries),
        *_audit_lines(facts.audit, entries),
        _manifest_line(facts, manifest),
        _evidence_line(facts.evidence),
        _fixity_line(facts),
    ]
    return IntegrityReport(
        document_id=facts.document_id,
        generated_at=now,
        ok=all(line.ok for line in lines),
        lines=lines,
        intake_sha256=facts.intake_sha256,
        manifest=manifest or {},
        decisions=[dict(d) for d in facts.decisions],
        evidence=facts.evidence,
        audit_entries=entries or [],
    )


def _manifest_entries(facts: PackageFacts) -> dict[str, str] | None:
    if facts.manifest_text is None:
        return None
    try:
        return parse_manifest(facts.manifest_text)
    except ValueError:  # a line without a path: not a manifest any more
        return {}


def _audit_entries(audit: Any) -> list[dict[str, Any]] | None:
    """The trail's entries when `data/audit.json` holds a workflow trail (a list of chain entries), else None."""
    if isinstance(audit, list) and audit and all(isinstance(item, dict) for item in audit):
        return audit
    return None


def _intake_line(facts: PackageFacts, manifest: dict[str, str] | None) -> ReportLine:
    title = "SHA-256 bei Eingang"
    stored = facts.recorded.get(facts.original_path)
    listed = (manifest or {}).get(facts.original_path)
    if stored != facts.intake_sha256:
        return ReportLine(
            "intake_sha256", title, False, f"{facts.intake_sha256}; das archivierte Original hat {stored}"
        )
    if listed != facts.intake_sha256:
        return ReportLine("intake_sha256", title, False, f"{facts.intake_sha256}; das Manifest nennt {listed}")
    return ReportLine("intake_sha256", title, True, f"{facts.intake_sha256} ({facts.original_path})")


def _event_lines(facts: PackageFacts, entries: list[dict[str, Any]] | None) -> list[ReportLine]:
    """Every event that carried the fingerprint, as the package recorded it."""
    carried = [e for e in entries or [] if isinstance(e.get("payload"), dict) and "sha256" in e["payload"]]
    ingested = carried[-1]["payload"]["sha256"] if carried else None
    where = f"Audit-Eintrag {carried[-1].get('seq')} ({carried[-1].get('action')})" if carried else "kein Audit-Eintrag"
    original = facts.metadata.get("original", {}) if isinstance(facts.metadata, dict) else {}
    outcome = facts.metadata.get("outcome", "approved") if isinstance(facts.metadata, dict) else "approved"
    found = [
        ("documents.ingested", ingested, where),
        (f"documents.{outcome}", original.get("sha256"), METADATA),
        ("documents.archived", facts.recorded.get(facts.original_path), "Paketdatei des Originals"),
    ]
    return [
        ReportLine(
            f"event:{topic}",
            f"Ereignis {topic}",
            value == facts.intake_sha256,
            f"{value or 'kein SHA-256'} ({source})",
        )
        for topic, value, source in found
    ]


def _audit_lines(audit: Any, entries: list[dict[str, Any]] | None) -> list[ReportLine]:
    """The workflow's hash chain verified entry by entry."""
    if entries is None:
        note = audit.get("note") if isinstance(audit, dict) else None
        return [ReportLine("audit", "Audit-Kette", False, f"Kein Audit-Trail im Paket ({note or AUDIT})")]
    try:
        checks = check_entries([entry_from_dict(e) for e in entries])
    except (KeyError, TypeError, ValueError) as exc:
        return [ReportLine("audit", "Audit-Kette", False, f"{AUDIT} ist kein lesbarer Audit-Trail ({exc})")]
    return [
        ReportLine(
            f"audit:{check.seq}",
            f"Audit-Eintrag {check.seq}: {check.action}",
            check.ok,
            f"{check.actor}, {check.at}{_payload_note(entry)}" + ("" if check.ok else f"; {check.reason}"),
        )
        for check, entry in zip(checks, entries, strict=True)
    ]


def _payload_note(entry: Mapping[str, Any]) -> str:
    """What a decision entry decided (decision and step), for the reader of the report."""
    payload = entry.get("payload")
    if not isinstance(payload, dict):
        return ""
    shown = [f"{key}={payload[key]}" for key in ("decision", "step", "reason") if payload.get(key) not in (None, "")]
    return f" ({', '.join(shown)})" if shown else ""


def _manifest_line(facts: PackageFacts, manifest: dict[str, str] | None) -> ReportLine:
    title = "Paket-Manifest (manifest-sha256.txt)"
    if manifest is None or facts.reread.get(MANIFEST) is None:
        return ReportLine("manifest", title, False, "Das Manifest fehlt im Archivspeicher.")
    if facts.reread[MANIFEST] != facts.recorded.get(MANIFEST):
        return ReportLine("manifest", title, False, "Das Manifest weicht vom archivierten Stand ab.")
    payload = {path: sha for path, sha in facts.recorded.items() if path.startswith("data/")}
    differing = sorted(path for path in payload.keys() | manifest.keys() if payload.get(path) != manifest.get(path))
    if differing:
        return ReportLine("manifest", title, False, f"Abweichend: {', '.join(differing)}")
    return ReportLine("manifest", title, True, f"{len(manifest)} Dateien, alle mit dem archivierten SHA-256")


def _evidence_line(evidence: EvidenceStatus) -> ReportLine:
    parts = [evidence.detail]
    if evidence.time is not None:
        parts.append(f"Zeitstempel {evidence.time.isoformat()}")
    if evidence.tsa:
        parts.append(f"TSA {evidence.tsa}")
    parts.append("geprüft" if evidence.verified else "nicht geprüft")
    return ReportLine("evidence", "Beweisdatensatz und Zeitstempel", evidence.ok, "; ".join(parts))


def _fixity_line(facts: PackageFacts) -> ReportLine:
    title = "Letzte Fixity-Prüfung"
    if facts.last_fixity is None or facts.last_fixity_at is None:
        return ReportLine("fixity", title, False, "Noch nicht geprüft.")
    when = facts.last_fixity_at.isoformat()
    if facts.last_fixity == "ok":
        return ReportLine("fixity", title, True, f"{when}: alle Dateien unverändert")
    return ReportLine("fixity", title, False, f"{when}: {facts.last_fixity} ({'; '.join(facts.last_fixity_problems)})")
