"""One integrity report per document: every check of its package in one place, as JSON or as a German PDF.

The lines and their rules are `services.archive.domain_integrity`; this reads what they judge (the row, the
package's tag files, the evidence record's status) and renders the PDF with `shared.record_pdf`.
"""

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from services.archive import domain_integrity as rules
from services.archive.evidence import EvidenceConfig, evidence_status
from services.archive.ports import Packages, StoredFile
from services.archive.retrieval import visible_row
from services.archive.unit_of_work import ArchiveUnitOfWork
from services.archive.views import stored_files
from shared import events
from shared.need_to_know import Reader
from shared.record_pdf import Section, record_pdf

# The evidence record's line (RFC 4998 over RFC 3161 time-stamps): a verifier given the document id and its
# package files (`verified_evidence`; `no_evidence_yet` where no verifier is given).
EvidenceCheck = Callable[[str, list[StoredFile]], rules.EvidenceStatus]


def no_evidence_yet(_document_id: str, _files: list[StoredFile]) -> rules.EvidenceStatus:
    return rules.NO_EVIDENCE


def verified_evidence(
    uow: Callable[[], ArchiveUnitOfWork], packages: Packages, config: EvidenceConfig
) -> EvidenceCheck:
    """The evidence line from `services.archive.evidence` (hash tree, time-stamp, TSA certificate chain)."""

    def check(document_id: str, _files: list[StoredFile]) -> rules.EvidenceStatus:
        status = evidence_status(uow(), packages, config, document_id)
        if status.ok:
            detail = f"Beweisdatensatz {status.record} geprüft: Hashbaum, Zeitstempel und Zertifikatskette gültig."
        else:
            detail = "Beweisdatensatz nicht bestätigt: " + "; ".join(status.detail)
        return rules.EvidenceStatus(status.ok, detail, status.time, status.tsa, verified=status.ok)

    return check


def integrity_report(
    uow: ArchiveUnitOfWork, packages: Packages, evidence: EvidenceCheck, document_id: str, reader: Reader
) -> rules.IntegrityReport:
    """The report for a document the reader may see (404 otherwise); the request is logged."""
    with uow:
        row = visible_row(uow, reader, document_id)
        files = stored_files(row)
        known = rules.PackageFacts(
            document_id=document_id,
            intake_sha256=row.sha256,
            original_path=row.original_path,
            recorded={f.path: f.sha256 for f in files},
            reread={},
            manifest_text=None,
            metadata=None,
            audit=None,
            decisions=list(row.decisions or []),
            last_fixity=row.last_verify_result,
            last_fixity_at=row.last_verified_at,
            last_fixity_problems=list(row.last_verify_problems or []),
        )
        uow.access_log.add(document_id, reader.user, "integrity_report")
    by_path = {f.path: f for f in files}
    read = {path: _read(packages, by_path.get(path)) for path in (rules.MANIFEST, rules.METADATA, rules.AUDIT)}
    facts = replace(
        known,
        reread={path: sha for path, (sha, _) in read.items()},
        manifest_text=_text(read[rules.MANIFEST][1]),
        metadata=_json(read[rules.METADATA][1]),
        audit=_json(read[rules.AUDIT][1]),
        evidence=evidence(document_id, files),
    )
    return rules.integrity_report(facts, events.utcnow())


def _read(packages: Packages, file: StoredFile | None) -> tuple[str | None, bytes | None]:
    """A small tag file's SHA-256 as re-read and its bytes (None, None when it is gone)."""
    if file is None:
        return None, None
    sha256 = packages.reread_sha256(file)
    return (sha256, b"".join(packages.stream(file))) if sha256 is not None else (None, None)


def _text(data: bytes | None) -> str | None:
    return data.decode("utf-8", errors="replace") if data is not None else None


def _json(data: bytes | None) -> Any:
    try:
        return json.loads(data) if data is not None else None
    except ValueError:
        return None


def report_json(report: rules.IntegrityReport) -> dict[str, Any]:
    """The report as the API answers it: top-level `ok`, and each line with `ok` and `status` (ok/failed)."""
    evidence = report.evidence
    return {
        "document_id": report.document_id,
        "generated_at": report.generated_at.isoformat(),
        "ok": report.ok,
        "intake_sha256": report.intake_sha256,
        "lines": [
            {"name": line.name, "title": line.title, "ok": line.ok, "status": line.status, "detail": line.detail}
            for line in report.lines
        ],
        "decisions": report.decisions,
        "audit_entries": report.audit_entries,
        "manifest": report.manifest,
        "evidence": {
            "ok": evidence.ok,
            "detail": evidence.detail,
            "time": evidence.time.isoformat() if evidence.time else None,
            "tsa": evidence.tsa,
            "verified": evidence.verified,
        },
    }


def report_pdf(report: rules.IntegrityReport) -> bytes:
    """The report as a German PDF/A-2b for the file."""
    summary = Section(
        "Ergebnis",
        rows=[
            ("Dokument", report.document_id),
            ("Erstellt", report.generated_at.strftime("%d.%m.%Y %H:%M:%S UTC")),
            ("Gesamtergebnis", "in Ordnung" if report.ok else "NICHT in Ordnung"),
        ],
    )
    checks = Section(
        "Prüfungen",
        rows=[(line.title, f"{'in Ordnung' if line.ok else 'FEHLGESCHLAGEN'}: {line.detail}") for line in report.lines],
    )
    decisions = Section(
        "Entscheidungen",
        rows=[
            (
                f"Schritt {d.get('step', '')}",
                f"{d.get('decision', '')} von {d.get('decided_by', '')}, {d.get('decided_at', '')}",
            )
            for d in report.decisions
        ],
        text="" if report.decisions else "Keine Entscheidungen aufgezeichnet.",
    )
    manifest = Section("Paket-Manifest", rows=sorted(report.manifest.items()))
    title = "Integritätsnachweis"
    return record_pdf(title, [summary, checks, decisions, manifest], footer=f"E-Akte · {title} {report.document_id}")


def _decision(decision: dict[str, Any]) -> str:
    made = f"{decision.get('decision', '')} von {decision.get('decided_by', '')}, {decision.get('decided_at', '')}"
    comment = decision.get("comment")
    return f"{made}: {comment}" if comment else made
