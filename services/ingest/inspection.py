"""Inspect untrusted files (pypdf, img2pdf) in separate, resource-limited processes.

Parsers of hostile input keep having denial-of-service bugs, so the service never parses in-process: each file is
handled by a checker process with a memory limit, a CPU limit per file and a wall-clock timeout, and a checker that
overruns is killed. The checkers are a warm pool sized to the cores, forked once from a forkserver that has pypdf and
img2pdf imported: a process per file cost about ten times the check itself (fork, copy-on-write faults, exit). A
checker that was killed or died is replaced; one that has checked RECYCLE_AFTER files is replaced too, so whatever a
parser left behind in memory does not accumulate.
"""

import contextlib
import multiprocessing
import os
import queue
import resource
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING

from services.ingest.domain import PdfFacts, Rejection, RejectionReason
from services.ingest.domain_previews import PreviewPolicy

if TYPE_CHECKING:
    import pypdfium2 as pdfium
    from pypdf import PdfReader

MEMORY_LIMIT_BYTES = 1024 * 1024 * 1024
# Pillow's own guard: a scan larger than this many pixels is treated as a decompression bomb.
MAX_IMAGE_PIXELS = 300_000_000
# The text of a born-digital PDF the search keeps (services.ingest.domain_search.MAX_BODY_CHARS).
MAX_TEXT_CHARS = 200_000
# zlib level of the large page image: level 1 encodes a scanned page in a third less CPU than Pillow's default 6,
# and for scans the file is even smaller (417 against 502 KiB for a 300 dpi fax page at 150 dpi).
PNG_LEVEL = 1

# The thumbnail is scaled down from the large image in two steps (a fast integer reduction, then resampling the
# last factor of three): a quarter of the CPU of resampling all the way, and the same picture at 200 pixels.
THUMB_REDUCING_GAP = 3.0
# PDFium's FPDF_COLORSPACE_DEVICEGRAY and FPDF_COLORSPACE_CALGRAY.
GRAY_COLOUR_SPACES = frozenset({1, 4})

_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(["pypdf", "img2pdf", "pypdfium2", "services.ingest.inspection"])


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
    text = _text(reader) if has_text else ""
    return {"ok": True, "pages": pages, "has_text": has_text, "text": text}


def _has_text(reader: "PdfReader", pages: int = 3) -> bool:
    """Whether the first pages carry a text layer (born digital or OCRed before): then no OCR is needed."""
    for page in reader.pages[:pages]:
        try:
            if page.extract_text().strip():
                return True
        except Exception:  # an unreadable content stream is no text layer
            continue
    return False


def _text(reader: "PdfReader") -> str:
    """The text layer for the search, up to MAX_TEXT_CHARS; a page that cannot be read adds nothing."""
    parts: list[str] = []
    size = 0
    for page in reader.pages:
        try:
            part = page.extract_text()
        except Exception:  # an unreadable content stream is no text
            continue
        parts.append(part)
        size += len(part)
        if size >= MAX_TEXT_CHARS:
            break
    return "\n".join(parts)[:MAX_TEXT_CHARS]


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


def render_message(path: str, max_pages: int, output: str) -> dict:
    """Render an e-mail (headers, text, list of attachments) as a readable PDF/A record, then check that PDF."""
    from services.ingest.domain import message_record, read_message
    from shared.record_pdf import Section, record_pdf

    try:
        with open(path, "rb") as handle:
            title, parts = message_record(read_message(handle.read()))
        sections = [Section(heading, rows, text) for heading, rows, text in parts]
        footer = "Wiedergabe der E-Mail; Original ist die Nachricht (.eml)"
        with open(output, "wb") as out:
            out.write(record_pdf(title, sections, footer))
    except Exception as exc:  # a message so broken that it cannot be rendered
        return {"ok": False, "reason": "unreadable", "detail": f"{type(exc).__name__}: {exc}"[:500]}
    return inspect_pdf(output, max_pages)


def render_pages(path: str, output_dir: str, policy: PreviewPolicy) -> dict:
    """Render a PDF's first pages as a large PNG and a thumbnail each (pypdfium2); the milliseconds per page."""
    import time

    import pypdfium2 as pdfium

    from services.ingest.domain_previews import PreviewSize, pages_to_render, render_scale, thumb_size

    timings: list[float] = []
    try:
        pdf = pdfium.PdfDocument(path)
        try:
            total = len(pdf)
            for index in range(pages_to_render(policy, total)):
                started = time.perf_counter()
                page = pdf[index]
                width, height = page.get_size()
                scale = render_scale(policy, width, height)
                image = page.render(scale=scale, draw_annots=True, grayscale=_drawn_in_gray(page)).to_pil()
                page.close()
                image.save(f"{output_dir}/{index + 1}-{PreviewSize.LARGE.value}.png", compress_level=PNG_LEVEL)
                thumb = image.resize(thumb_size(policy, *image.size), reducing_gap=THUMB_REDUCING_GAP)
                thumb.save(f"{output_dir}/{index + 1}-{PreviewSize.THUMB.value}.png")
                timings.append((time.perf_counter() - started) * 1000)
        finally:
            pdf.close()
    except Exception as exc:  # PDFium refuses broken files with PdfiumError; Pillow may fail on odd bitmaps
        return {"ok": False, "reason": "unreadable", "detail": f"{type(exc).__name__}: {exc}"[:500]}
    return {"ok": True, "pages": total, "rendered": len(timings), "ms": timings}


def _drawn_in_gray(page: "pdfium.PdfPage") -> bool:
    """Whether the page holds nothing but gray images (PDFium's own look at its objects, forms included)."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    from services.ingest.domain_previews import drawn_in_gray

    others = 0
    for item in page.get_objects():
        gray = False
        if item.type == pdfium_c.FPDF_PAGEOBJ_IMAGE:
            # An image mask (a stencil painted in the fill colour) has no colour space of its own: not gray.
            with contextlib.suppress(pdfium.PdfiumError):  # PDFium cannot tell: the page is drawn in colour
                gray = item.get_metadata().colorspace in GRAY_COLOUR_SPACES
        others += not gray
    return drawn_in_gray(others, pdfium_c.FPDFPage_GetAnnotCount(page))


def _serve(jobs: Connection, background: bool = False) -> None:
    """A checker: takes (work, args, cpu seconds) jobs one after another and answers each with its verdict."""
    import logging

    if background:  # the CPU goes to everything else first (an unprivileged process may always lower its own)
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    logging.disable(logging.CRITICAL)  # parsers warn on every repaired defect; only the verdict matters
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    while True:
        try:
            work, args, cpu_seconds = jobs.recv()
        except EOFError:  # the service closed the pipe (or died): nothing more to check
            return
        _limit_cpu_from_now(cpu_seconds)
        jobs.send(work(*args))


def _limit_cpu_from_now(seconds: int) -> None:
    """The kernel stops this process (SIGXCPU) once this file has used `seconds` of CPU (the soft limit)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(usage.ru_utime + usage.ru_stime) + seconds
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


# A checker is replaced after this many files. A new one costs ~130 ms of CPU (its first checks import what pypdf
# loads lazily): after 200 files that was 0.65 ms per file beside 1.3 ms for the check itself (measured).
RECYCLE_AFTER = 1000


@dataclass
class _Checker:
    process: BaseProcess
    jobs: Connection
    checked: int = 0


class CheckerPool:
    """Up to `size` warm checker processes, shared by the threads that take files in."""

    def __init__(self, size: int, background: bool = False) -> None:
        self.size = size
        self.background = background
        self._idle: queue.LifoQueue[_Checker] = queue.LifoQueue()
        self._lock = threading.Lock()
        self._running = 0

    def run(
        self, work: Callable[..., dict], args: tuple, timeout_s: float, cpu_s: float | None = None
    ) -> dict | Rejection:
        """`work(*args)` in a checker, stopped after `timeout_s` of wall-clock time or `cpu_s` (default: the same)
        seconds of CPU."""
        checker = self._take()
        try:
            checker.jobs.send((work, args, int(timeout_s if cpu_s is None else cpu_s) + 1))
            if not checker.jobs.poll(timeout_s):
                self._discard(checker)
                return Rejection(RejectionReason.TIMEOUT, f"inspection took longer than {timeout_s:.0f} s")
            verdict: dict = checker.jobs.recv()
        except EOFError:
            # The checker died (memory or CPU limit, crash): the file is what killed it.
            exit_code = self._discard(checker)
            return Rejection(RejectionReason.UNREADABLE, f"the file checker died (exit code {exit_code})")
        except BaseException:
            self._discard(checker)
            raise
        self._give_back(checker)
        return verdict

    def _take(self) -> _Checker:
        """An idle checker, a new one while fewer than `size` run, else the next one given back."""
        while True:
            try:
                return self._idle.get_nowait()
            except queue.Empty:
                pass
            if self._reserve():
                try:
                    return self._start()
                except BaseException:
                    self._release()
                    raise
            try:  # re-checked now and then: a checker discarded meanwhile frees a place instead of coming back
                return self._idle.get(timeout=0.5)
            except queue.Empty:
                continue

    def _reserve(self) -> bool:
        with self._lock:
            if self._running >= self.size:
                return False
            self._running += 1
            return True

    def _release(self) -> None:
        with self._lock:
            self._running -= 1

    def _start(self) -> _Checker:
        ours, theirs = _context.Pipe(duplex=True)
        process = _context.Process(target=_serve, args=(theirs, self.background), daemon=True, name="eakte-pdf-checker")
        process.start()
        theirs.close()
        return _Checker(process, ours)

    def _give_back(self, checker: _Checker) -> None:
        checker.checked += 1
        if checker.checked >= RECYCLE_AFTER:
            self._discard(checker)
        else:
            self._idle.put(checker)

    def _discard(self, checker: _Checker) -> int | None:
        checker.jobs.close()
        if checker.process.is_alive():
            checker.process.kill()
        checker.process.join(5)
        exit_code = checker.process.exitcode
        checker.process.close()
        self._release()
        return exit_code


_pool = CheckerPool(size=os.cpu_count() or 2)
# Page images are rendered one at a time off the request path (services.ingest.previews), by a checker of their
# own that only gets CPU time nothing else wants (SCHED_IDLE, below nice 19): under load, checks of uploads and
# the rest of the pipeline come first. (The worker also waits for a lull in intake: domain_previews.render_now.)
# At idle priority a render may wait long for the CPU, so its wall-clock limit is PREVIEW_WAIT_FACTOR times its
# CPU limit, and the CPU limit alone caps what a hostile file takes.
PREVIEW_WAIT_FACTOR = 10
_preview_pool = CheckerPool(size=1, background=True)


def _run_limited(work: Callable[..., dict], args: tuple, timeout_s: float) -> PdfFacts | Rejection:
    verdict = _pool.run(work, args, timeout_s)
    if isinstance(verdict, Rejection):
        return verdict
    if verdict["ok"]:
        text = str(verdict.get("text", ""))
        return PdfFacts(pages=int(verdict["pages"]), has_text=bool(verdict.get("has_text")), text=text)
    return Rejection(RejectionReason(verdict["reason"]), verdict["detail"])


def check_pdf(path: Path, max_pages: int, timeout_s: float) -> PdfFacts | Rejection:
    return _run_limited(inspect_pdf, (str(path), max_pages), timeout_s)


def image_to_pdf(path: Path, output: Path, max_pages: int, timeout_s: float) -> PdfFacts | Rejection:
    return _run_limited(convert_image, (str(path), max_pages, str(output)), timeout_s)


def message_to_pdf(path: Path, output: Path, max_pages: int, timeout_s: float) -> PdfFacts | Rejection:
    return _run_limited(render_message, (str(path), max_pages, str(output)), timeout_s)


def render_preview(path: Path, output_dir: Path, policy: PreviewPolicy, timeout_s: float) -> dict | Rejection:
    """Page images of a PDF, rendered by a background checker (the checks' memory limit; `timeout_s` of CPU)."""
    args = (str(path), str(output_dir), policy)
    return _preview_pool.run(render_pages, args, timeout_s * PREVIEW_WAIT_FACTOR, cpu_s=timeout_s)
