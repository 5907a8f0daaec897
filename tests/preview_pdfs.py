"""A hostile PDF for the preview renderer: small, valid, and passes the intake checks (pypdf reads it), but
drawing its page means 10^8 nested form XObjects, which exhausts PDFium's memory or time."""

import uuid


def _pdf(objects: list[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _stream(dictionary: bytes, body: bytes) -> bytes:
    return dictionary + b" /Length %d >>\nstream\n" % len(body) + body + b"\nendstream"


def nested_forms_pdf(depth: int = 8, fan_out: int = 10) -> bytes:
    """One page drawing a form that draws the next form `fan_out` times, `depth` levels deep (unique bytes)."""
    form = b"<< /Type /XObject /Subtype /Form /BBox [0 0 595 842]"
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", b""]
    objects.append(_stream(form + b" /Resources << >>", b"0 0 1 1 re f"))
    for level in range(1, depth + 1):
        inner = b" /Resources << /XObject << /X %d 0 R >> >>" % (3 + level)
        objects.append(_stream(form + inner, b" ".join([b"/X Do"] * fan_out)))
    top = 4 + depth
    objects[2] = (
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /XObject << /X %d 0 R >> >>"
        b" /Contents %d 0 R >>" % (top, top + 1)
    )
    objects.append(_stream(b"<<", b"/X Do"))
    return _pdf(objects) + f"%test-{uuid.uuid4()}\n".encode()
