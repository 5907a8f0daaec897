"""Packages of the exchange: the ZIP files that carry an xdomea message and its primary documents."""

import shutil
import zipfile
from collections.abc import Iterable
from datetime import datetime
from io import BytesIO
from typing import BinaryIO

from services.archive.xdomea_model import XdomeaError


def _check_entry_name(name: str) -> None:
    parts = name.split("/")
    if not name or name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts):
        raise XdomeaError(f"unsafe file name for the package: {name!r}")


def write_zip(target: BinaryIO, entries: Iterable[tuple[str, bytes | BinaryIO]]) -> None:
    """Write a package: each entry is a name and its bytes or a readable binary file (copied in chunks)."""
    seen: set[str] = set()
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries:
            _check_entry_name(name)
            if name in seen:
                raise XdomeaError(f"file name {name!r} appears twice in the package")
            seen.add(name)
            info = zipfile.ZipInfo(name, date_time=datetime.now().timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            if isinstance(content, bytes | bytearray):
                archive.writestr(info, bytes(content))
            else:
                with archive.open(info, "w", force_zip64=True) as out:
                    shutil.copyfileobj(content, out, 1024 * 1024)


def build_zip(entries: Iterable[tuple[str, bytes | BinaryIO]]) -> bytes:
    """The package in memory: e.g. `[(transfer_xml_name(pid), xml), (file name, document bytes), ...]`."""
    buffer = BytesIO()
    write_zip(buffer, entries)
    return buffer.getvalue()
