"""The TrueType font embedded in PDF records (shared.record_pdf), from Debian's packages where missing."""

from devstack.processes import SetupError, apt_install
from shared.record_pdf import FontMissing, font_path


def ensure_record_font() -> str:
    try:
        return str(font_path())
    except FontMissing:
        apt_install("fonts-dejavu-core")
    try:
        return str(font_path())
    except FontMissing as exc:
        raise SetupError(str(exc)) from exc
