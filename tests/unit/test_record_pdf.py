"""The readable PDF/A record a channel files: German text survives, pictures fit, long values wrap."""

import io

import pikepdf
import pypdf
from PIL import Image

from shared.record_pdf import Section, record_pdf


def _photo() -> bytes:
    data = io.BytesIO()
    Image.new("RGBA", (2400, 1600), (200, 10, 10, 128)).save(data, "PNG")
    return data.getvalue()


def test_record_keeps_german_text_and_declares_pdfa():
    long_value = "Hauptstraße 1, " * 40
    data = record_pdf(
        "Mängelmeldung – Schlagloch",
        [Section("Meldung", [("Ort", long_value), ("Beschreibung", "Tiefes Loch vor Nr. 12")], "Frei", [_photo()])],
        footer="Eingang 30.11.2026",
    )
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)
    assert "Mängelmeldung – Schlagloch" in text
    assert "Tiefes Loch vor Nr. 12" in text
    assert "Seite 1/" in text
    with pikepdf.open(io.BytesIO(data)) as pdf:
        meta = pdf.open_metadata()
        assert meta.pdfa_status == "2B"
        assert any("/Image" in str(x.get("/Subtype")) for page in pdf.pages for x in page.images.values())
