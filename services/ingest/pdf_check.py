"""Validate a PDF with pypdf in a separate, resource-limited process.

Parsers of hostile input keep having denial-of-service bugs, so the service never parses in-process:
`check_pdf` runs this module as a child with a time and memory limit and reads its JSON verdict.
"""

import json
import resource
import subprocess
import sys
from pathlib import Path

from services.ingest.domain import PdfFacts, Rejection, RejectionReason

MEMORY_LIMIT_BYTES = 1024 * 1024 * 1024


def inspect(path: str, max_pages: int) -> dict:
    from pypdf import PasswordType, PdfReader

    try:
        reader = PdfReader(path, strict=False)
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            return {"ok": False, "reason": "encrypted", "detail": "a user password is required to open it"}
        pages = len(reader.pages)
    except Exception as exc:  # pypdf raises many types on broken files (TypeError, AssertionError, ...)
        text = f"{type(exc).__name__}: {exc}"
        truncated = "startxref" in text or "EOF" in text or "Stream has ended" in text
        return {"ok": False, "reason": "truncated" if truncated else "unreadable", "detail": text[:500]}
    if pages == 0:
        return {"ok": False, "reason": "no_pages", "detail": "the page tree is empty"}
    if pages > max_pages:
        return {"ok": False, "reason": "too_many_pages", "detail": f"{pages} pages, limit {max_pages}"}
    return {"ok": True, "pages": pages}


def _limit_resources(cpu_seconds: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))


def check_pdf(path: Path, max_pages: int, timeout_s: float) -> PdfFacts | Rejection:
    cpu = int(timeout_s) + 1
    try:
        done = subprocess.run(
            [sys.executable, "-m", "services.ingest.pdf_check", str(path), str(max_pages)],
            capture_output=True,
            timeout=timeout_s,
            preexec_fn=lambda: _limit_resources(cpu),
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Rejection(RejectionReason.TIMEOUT, f"parsing took longer than {timeout_s:.0f} s")
    try:
        verdict = json.loads(done.stdout)
    except json.JSONDecodeError:
        # The child died (memory or CPU limit, crash): the file is what killed it.
        detail = f"checker exited with {done.returncode}: {done.stderr.decode(errors='replace')[-300:]}"
        return Rejection(RejectionReason.UNREADABLE, detail)
    if verdict["ok"]:
        return PdfFacts(pages=int(verdict["pages"]))
    return Rejection(RejectionReason(verdict["reason"]), verdict["detail"])


if __name__ == "__main__":
    import logging

    logging.disable(logging.CRITICAL)  # pypdf warns on every repaired defect; only the verdict matters
    print(json.dumps(inspect(sys.argv[1], int(sys.argv[2]))))
