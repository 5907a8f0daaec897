"""A readable record as PDF/A-2b: what a citizen sent through a channel (online form, defect report, e-mail) or
what the archive reports, rendered in German for people who read the file decades later.

fpdf2 writes the PDF; PDF/A forbids non-embedded fonts, so a TrueType font with German glyphs is embedded
(DejaVu Sans from Debian's `fonts-dejavu-core`, or `EAKTE_PDF_FONT`). Pictures are re-encoded as baseline JPEG
(RGB, at most 1600 px on the long side) so that a photo of any kind fits the standard and the page.
"""

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import DocumentCompliance, XPos, YPos
from PIL import Image

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
)
FONT = "record"
MAX_IMAGE_PX = 1600
LABEL_WIDTH_MM = 60


class FontMissing(RuntimeError):
    """No TrueType font to embed: install Debian's fonts-dejavu-core or set EAKTE_PDF_FONT."""


@dataclass(frozen=True)
class Section:
    """One part of the record: a heading, label/value rows, free text, and pictures (raw image bytes)."""

    heading: str
    rows: Sequence[tuple[str, str]] = ()
    text: str = ""
    images: Sequence[bytes] = field(default_factory=tuple)


def font_path() -> Path:
    """The TrueType font embedded in every record (`EAKTE_PDF_FONT` first)."""
    configured = os.environ.get("EAKTE_PDF_FONT", "")
    for candidate in (configured, *FONT_CANDIDATES):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise FontMissing("no TrueType font for PDF records: install fonts-dejavu-core or set EAKTE_PDF_FONT")


def record_pdf(title: str, sections: Sequence[Section], footer: str = "") -> bytes:
    """The record as PDF/A-2b bytes: the title, then each section in order, `footer` on every page."""
    pdf = _RecordPdf(footer)
    pdf.set_title(title)
    pdf.set_lang("de-DE")
    pdf.add_page()
    pdf.set_font(FONT, size=16)
    pdf.multi_cell(0, 9, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
    for section in sections:
        _section(pdf, section)
    return bytes(pdf.output())


class _RecordPdf(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(format="A4", enforce_compliance=DocumentCompliance.PDFA_2B)
        self.footer_text = footer_text
        self.add_font(FONT, "", str(font_path()))
        self.set_auto_page_break(auto=True, margin=18)
        self.set_creator("E-Akte")

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, size=8)
        self.cell(0, 6, f"{self.footer_text}   Seite {self.page_no()}/{{nb}}".strip(), align="R")


def _section(pdf: FPDF, section: Section) -> None:
    pdf.set_font(FONT, size=12)
    pdf.multi_cell(0, 7, section.heading, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, size=10)
    for label, value in section.rows:
        _row(pdf, label, value)
    if section.text:
        pdf.multi_cell(0, 5, section.text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    for image in section.images:
        _image(pdf, image)
    pdf.ln(4)


def _row(pdf: FPDF, label: str, value: str) -> None:
    top, page = pdf.get_y(), pdf.page_no()
    pdf.multi_cell(LABEL_WIDTH_MM, 5, label, new_x=XPos.RIGHT, new_y=YPos.TOP)
    if pdf.page_no() != page:  # the label broke the page: write the value beside it on the new page
        top = pdf.t_margin
    pdf.set_xy(pdf.l_margin + LABEL_WIDTH_MM, top)
    pdf.multi_cell(0, 5, value or "—", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _image(pdf: FPDF, data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as picture:
        picture.thumbnail((MAX_IMAGE_PX, MAX_IMAGE_PX))
        jpeg = io.BytesIO()
        picture.convert("RGB").save(jpeg, format="JPEG", quality=85)
    width = pdf.w - pdf.l_margin - pdf.r_margin
    pdf.image(jpeg, w=width, keep_aspect_ratio=True)
    pdf.ln(2)
