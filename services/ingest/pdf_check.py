"""Validate a PDF with pypdf in a separate, resource-limited process.

Parsers of hostile input keep having denial-of-service bugs, so the service never parses in-process:
each file is parsed in a child with a memory and CPU limit and a wall-clock timeout, and the child is
killed if it overruns. Children are forked from a forkserver that has pypdf imported already, so a
check costs milliseconds of start-up instead of a fresh interpreter.
"""

import multiprocessing
import resource
from multiprocessing.connection import Connection
from pathlib import Path

from services.ingest.domain import PdfFacts, Rejection, RejectionReason

MEMORY_LIMIT_BYTES = 1024 * 1024 * 1024

_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(["pypdf", "services.ingest.pdf_check"])


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


def _child(path: str, max_pages: int, cpu_seconds: int, verdicts: Connection) -> None:
    import logging

    logging.disable(logging.CRITICAL)  # pypdf warns on every repaired defect; only the verdict matters
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    verdicts.send(inspect(path, max_pages))
    verdicts.close()


def check_pdf(path: Path, max_pages: int, timeout_s: float) -> PdfFacts | Rejection:
    receiver, sender = _context.Pipe(duplex=False)
    child = _context.Process(target=_child, args=(str(path), max_pages, int(timeout_s) + 1, sender), daemon=True)
    child.start()
    sender.close()
    try:
        if not receiver.poll(timeout_s):
            return Rejection(RejectionReason.TIMEOUT, f"parsing took longer than {timeout_s:.0f} s")
        try:
            verdict = receiver.recv()
        except EOFError:
            # The child died (memory or CPU limit, crash): the file is what killed it.
            child.join(5)
            return Rejection(RejectionReason.UNREADABLE, f"the PDF checker died (exit code {child.exitcode})")
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join(5)
        child.close()
    if verdict["ok"]:
        return PdfFacts(pages=int(verdict["pages"]))
    return Rejection(RejectionReason(verdict["reason"]), verdict["detail"])
