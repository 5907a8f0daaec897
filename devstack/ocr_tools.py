"""Tesseract (German and English) and Ghostscript for OCRmyPDF, from Debian's packages where missing."""

import shutil
import subprocess

from devstack.processes import SetupError, apt_install

PACKAGES = ("tesseract-ocr", "tesseract-ocr-deu", "tesseract-ocr-eng", "ghostscript")
LANGUAGES = {"deu", "eng"}


def _languages() -> set[str]:
    done = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True, check=False)
    return {line.strip() for line in (done.stdout + done.stderr).splitlines()[1:]}


def _complete() -> bool:
    return bool(shutil.which("tesseract") and shutil.which("gs")) and _languages() >= LANGUAGES


def ensure_ocr_tools() -> str:
    if not _complete():
        apt_install(*PACKAGES)
    if not _complete():
        raise SetupError(
            f"OCR needs {', '.join(PACKAGES)}; they could not be installed (or set EAKTE_OCR_ENABLED=false)"
        )
    version = subprocess.run(["tesseract", "--version"], capture_output=True, text=True, check=False)
    return (version.stdout or version.stderr).splitlines()[0]
