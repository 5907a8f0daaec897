"""Receive a multipart upload by streaming it to disk, enforcing the size limit while it streams.

FastAPI's own form parsing would spool whole files before the route (and its auth check) runs; this
parser runs after authentication and never holds more than one chunk in memory.
"""

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

MAX_FIELD_BYTES = 64 * 1024


class MalformedUpload(ValueError):
    pass


@dataclass
class ReceivedFile:
    """One file part, spooled to disk with its SHA-256; `too_large` when it was cut at the limit."""

    field_name: str
    filename: str
    path: Path
    size: int = 0
    too_large: bool = False
    digest: "hashlib._Hash" = field(default_factory=hashlib.sha256, repr=False)

    @property
    def sha256(self) -> str:
        return self.digest.hexdigest()


@dataclass
class ReceivedForm:
    fields: dict[str, str]
    files: list[ReceivedFile]

    def text(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default).strip()


class _FormBuilder:
    def __init__(
        self, spool_dir: Path, max_file_bytes: int, max_files: int, on_field: Callable[[str, str], None] | None = None
    ) -> None:
        self.spool_dir = spool_dir
        self.max_file_bytes = max_file_bytes
        self.max_files = max_files
        self.field_hook = on_field  # sees each text field as soon as it is read; may stop the upload (MalformedUpload)
        self.fields: dict[str, str] = {}
        self.files: list[ReceivedFile] = []
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._field_name = ""
        self._field_data = bytearray()
        self._file: ReceivedFile | None = None
        self._out: IO[bytes] | None = None

    def on_part_begin(self) -> None:
        self._headers = {}
        self._field_data = bytearray()
        self._file = None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field = self._header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name")
        if name is None:
            raise MalformedUpload("a form part has no name")
        self._field_name = name.decode("utf-8", errors="replace")
        if b"filename" in options:
            if len(self.files) >= self.max_files:
                raise MalformedUpload(f"more than {self.max_files} files in one request")
            filename = options[b"filename"].decode("utf-8", errors="replace")
            self._file = ReceivedFile(self._field_name, filename, self.spool_dir / uuid.uuid4().hex)
            self._out = self._file.path.open("wb")
            self.files.append(self._file)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._file is None:
            self._field_data += chunk
            if len(self._field_data) > MAX_FIELD_BYTES:
                raise MalformedUpload(f"form field {self._field_name!r} is longer than {MAX_FIELD_BYTES} bytes")
            return
        received = self._file
        received.size += len(chunk)
        if received.too_large:
            return
        if received.size > self.max_file_bytes:
            # Stop writing: the limit holds on disk too; the rest of the part is read and dropped.
            received.too_large = True
            return
        received.digest.update(chunk)
        assert self._out is not None
        self._out.write(chunk)

    def on_part_end(self) -> None:
        if self._file is None:
            self.fields[self._field_name] = self._field_data.decode("utf-8", errors="replace")
            if self.field_hook is not None:
                self.field_hook(self._field_name, self.fields[self._field_name])
        elif self._out is not None:
            self._out.close()
            self._out = None

    def close(self) -> None:
        if self._out is not None:
            self._out.close()


async def receive_form(
    request: Request,
    spool_dir: Path,
    max_file_bytes: int,
    max_files: int,
    on_field: Callable[[str, str], None] | None = None,
) -> ReceivedForm:
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in params:
        raise MalformedUpload("expected a multipart/form-data body")
    builder = _FormBuilder(spool_dir, max_file_bytes, max_files, on_field)
    callbacks = {name: getattr(builder, name) for name in dir(builder) if name.startswith("on_")}
    parser = MultipartParser(params[b"boundary"], callbacks)  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except MalformedUpload:
        raise
    except Exception as exc:  # python-multipart's parse errors: the body is not valid multipart
        raise MalformedUpload(f"the multipart body cannot be read: {exc}") from exc
    finally:
        builder.close()
    return ReceivedForm(builder.fields, builder.files)
