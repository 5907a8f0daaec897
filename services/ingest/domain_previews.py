"""Rules of page previews: which file a document is previewed from, how large its page images are, where they lie.

A document's page images are rendered from what a browser shows of it: the PDF rendition of a scanned image or an
e-mail, else the original PDF. They lie beside the original in the object store, under `preview/` of the
document's (version's) folder, one thumbnail and one large image per page.
"""

from dataclasses import dataclass
from enum import StrEnum

from services.ingest.domain import FileKind, document_key

PREVIEW_FOLDER = "preview"
# Previews are background work: while documents are being taken in, rendering waits until intake has been quiet
# this long, but never longer than MAX_DEFER_S between two renders, so previews keep coming during a long import.
# A quarter of a second tells a stream of files (a scanner batch, an import, 20 uploads/s) from people's uploads,
# which previews follow at once.
# A page image cost more CPU than the rest of its document's pipeline, and rendering alongside the uploads doubled
# the upload -> inbox latency at 20 documents/s (`make bench-latency`, previews on against off), even at idle
# CPU priority: the renders' uploads to the object store and their bookkeeping compete all the same.
QUIET_S = 0.25
MAX_DEFER_S = 5.0
# Pages larger than this many pixels on their longer side are rendered smaller (a poster-sized page).
MAX_LARGE_PX = 2400
POINTS_PER_INCH = 72


class PreviewSize(StrEnum):
    THUMB = "thumb"
    LARGE = "large"


class PreviewState(StrEnum):
    """`pending`: waiting for the renderer; `done`: page images there; `failed`: no preview could be made
    (the document shows as "keine Vorschau"); `none`: nothing to preview from (not a PDF, no rendition)."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    NONE = "none"


@dataclass(frozen=True)
class PreviewPolicy:
    dpi: int
    thumb_px: int
    max_pages: int
    page_timeout_s: float
    startup_allowance_s: float


@dataclass(frozen=True)
class Pages:
    """What a caller learns of a document's preview: its state, the pages with images and the pages in all."""

    state: PreviewState
    rendered: int
    total: int
    error: str = ""
    render_ms: float | None = None  # mean render time per page (milliseconds)


def preview_source(content_type: str, object_key: str, rendition_key: str | None) -> str | None:
    """The key of the PDF that is previewed: the rendition if there is one, else a PDF original; else None."""
    if rendition_key:
        return rendition_key
    if content_type == FileKind.PDF.value:
        return object_key
    return None


def preview_key(document_id: str, version: int, page: int, size: PreviewSize) -> str:
    """`documents/{id}/[v{n}/]preview/page-0001-thumb.png`: beside the original of that version."""
    return document_key(document_id, f"{PREVIEW_FOLDER}/page-{page:04d}-{size.value}.png", version)


def pages_to_render(policy: PreviewPolicy, pages: int) -> int:
    return max(0, min(pages, policy.max_pages))


def render_timeout(policy: PreviewPolicy, pages: int) -> float:
    """The wall-clock time the renderer is given for a document (its CPU limit follows from it)."""
    return policy.startup_allowance_s + policy.page_timeout_s * max(pages_to_render(policy, pages), 1)


def render_scale(policy: PreviewPolicy, width_pt: float, height_pt: float) -> float:
    """Pixels per PDF point for the large image: the policy's DPI, less for a page too large to draw at it."""
    scale = policy.dpi / POINTS_PER_INCH
    longest = max(width_pt, height_pt, 1.0)
    return min(scale, MAX_LARGE_PX / longest)


def thumb_size(policy: PreviewPolicy, width_px: int, height_px: int) -> tuple[int, int]:
    """The thumbnail's size in pixels: the large image scaled so that its longer side is `thumb_px`."""
    longest = max(width_px, height_px, 1)
    factor = min(1.0, policy.thumb_px / longest)
    return max(1, round(width_px * factor)), max(1, round(height_px * factor))


def page_shown(pages: Pages, page: int) -> bool:
    """Whether page `page` (from 1) has an image to show."""
    return pages.state == PreviewState.DONE and 1 <= page <= pages.rendered


def pages_of(state: str | None, rendered: int, total: int, error: str = "", render_ms: float | None = None) -> Pages:
    """The preview of a document from its job row (None: no job, nothing to preview from yet)."""
    if state is None:
        return Pages(PreviewState.NONE, 0, total)
    done = state == PreviewState.DONE
    return Pages(PreviewState(state), rendered if done else 0, total, error, render_ms if done else None)


def drawn_in_gray(other_objects: int, annotations: int) -> bool:
    """Whether a page is drawn in shades of gray: when it holds nothing but gray images (a black-and-white or
    grayscale scan). The picture is the same at half the CPU of a colour rendering, and its PNG is encoded in a
    third of the time. Text, paths, forms, colour images and annotations may be coloured: those pages are drawn in
    colour."""
    return other_objects == 0 and annotations == 0


def render_now(since_intake_s: float, since_render_s: float) -> bool:
    """Whether the next preview is rendered now: intake has been quiet long enough, or previews waited too long."""
    return since_intake_s >= QUIET_S or since_render_s >= MAX_DEFER_S
