"""Inspect untrusted files (pypdf, img2pdf) in separate, resource-limited processes.

Parsers of hostile input keep having denial-of-service bugs, so the service never parses in-process:
each file is handled in a child with a memory and CPU limit and a wall-clock timeout, and the child is
killed if it overruns. Children are forked from a forkserver that has pypdf and img2pdf imported already,
so a check costs milliseconds of start-up instead of a fresh interpreter.
"""

import multiprocessing
import resource
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

from services.ingest.domain import PdfFacts, Rejection, RejectionReason

if TYPE_CHECKING:
    from pypdf import PdfReader

MEMORY_LIMIT_BYTES = 1024 * 1024 * 1024
# Pillow's own guard: a scan larger than this many pixels is treated as a decompression bomb.
MAX_IMAGE_PIXELS = 300_000_000

_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(["pypdf", "img2pdf", "services.ingest.inspection"])


def inspect_pdf(path: str, max_pages: int) -> dict:
    from pypdf import PasswordType, PdfReader

    try:
        reader = PdfReader(path, strict=False)
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            return {"ok": False, "reason": "encrypted", "detail": "a user password is required to open it"}
        pages = len(reader.pages)
        has_text = _has_text(reader)
    except Exception as exc:  # pypdf raises many types on broken files (TypeError, AssertionError, ...)
        text = f"{type(exc).__name__}: {exc}"
        truncated = "startxref" in text or "EOF" in text or "Stream has ended" in text
        return {"ok": False, "reason": "truncated" if truncated else "unreadable", "detail": text[:500]}
    if pages == 0:
        return {"ok": False, "reason": "no_pages", "detail": "the page tree is empty"}
    if pages > max_pages:
        return {"ok": False, "reason": "too_many_pages", "detail": f"{pages} pages, limit {max_pages}"}
    return {"ok": True, "pages": pages, "has_text": has_text}


def _has_text(reader: "PdfReader", pages: int = 3) -> bool:
    """Whether the first pages carry a text layer (born digital or OCRed before): then no OCR is needed."""
    for page in reader.pages[:pages]:
        try:
            if page.extract_text().strip():
                return True
        except Exception:  # an unreadable content stream is no text layer
            continue
    return False


def convert_image(path: str, max_pages: int, output: str) -> dict:
    """Wrap a scanned image (every TIFF page) into a PDF without re-encoding it (img2pdf), then check that PDF."""
    import img2pdf
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with Image.open(path) as image:
            frames = getattr(image, "n_frames", 1)
        if frames > max_pages:
            return {"ok": False, "reason": "too_many_pages", "detail": f"{frames} pages, limit {max_pages}"}
        with open(output, "wb") as out:
            img2pdf.convert(path, outputstream=out, rotation=img2pdf.Rotation.ifvalid)
    except Exception as exc:  # Pillow and img2pdf raise many types on broken or hostile images
        return {"ok": False, "reason": "bad_image", "detail": f"{type(exc).__name__}: {exc}"[:500]}
    return inspect_pdf(output, max_pages)


def _child(work: Callable[..., dict], args: tuple, cpu_seconds: int, verdicts: Connection) -> None:
    import logging

    logging.disable(logging.CRITICAL)  # parsers warn on every repaired defect; only the verdict matters
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    verdicts.send(work(*args))
    verdicts.close()


def _run_limited(work: Callable[..., dict], args: tuple, timeout_s: float) -> PdfFacts | Rejection:
    receiver, sender = _context.Pipe(duplex=False)
    child = _context.Process(target=_child, args=(work, args, int(timeout_s) + 1, sender), daemon=True)
    child.start()
    sender.close()
    try:
        if not receiver.poll(timeout_s):
            return Rejection(RejectionReason.TIMEOUT, f"inspection took longer than {timeout_s:.0f} s")
        try:
            verdict = receiver.recv()
        except EOFError:
            # The child died (memory or CPU limit, crash): the file is what killed it.
            child.join(5)
            return Rejection(RejectionReason.UNREADABLE, f"the file checker died (exit code {child.exitcode})")
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join(5)
        child.close()
    if verdict["ok"]:
        return PdfFacts(pages=int(verdict["pages"]), has_text=bool(verdict.get("has_text")))
    return Rejection(RejectionReason(verdict["reason"]), verdict["detail"])


def check_pdf(path: Path, max_pages: int, timeout_s: float) -> PdfFacts | Rejection:
    return _run_limited(inspect_pdf, (str(path), max_pages), timeout_s)


def image_to_pdf(path: Path, output: Path, max_pages: int, timeout_s: float) -> PdfFacts | Rejection:
    return _run_limited(convert_image, (str(path), max_pages, str(output)), timeout_s)
