"""A package's small files in one object: `bag.tar`, a plain POSIX tar beside the payload.

Each file of a package was its own locked object version; the metadata, audit trail and four tag files are a few
hundred bytes to a few kilobytes each, and a locked PUT costs the same for 300 bytes as for 50 KB. Measured on
one MinIO: seven locked PUTs per package took 5.7 ms of client and 9.7 ms of server CPU, one PUT of the same bytes
1.3 and 2.1 ms. The payload (original, rendition, OCR text) stays one object per file, so that a presigned link and
a download still name the original itself.

The tar is made the same way for the same files and archiving time (fixed owner, mode and time), so that a repeat
after a crash writes the same bytes and finds the version an earlier attempt stored. Every file is recorded with
its offset in the tar: it is read back as a byte range of that object version, and `tar -x` of the object gives
the bag's files as they are listed in its manifests.
"""

import hashlib
import io
import tarfile
from dataclasses import dataclass
from datetime import datetime

BUNDLE = "bag.tar"
BUNDLE_TYPE = "application/x-tar"


@dataclass(frozen=True)
class Member:
    """One file inside the bundle: where its bytes start, how many there are, their SHA-256."""

    path: str
    offset: int
    size: int
    sha256: str


@dataclass(frozen=True)
class Bundle:
    data: bytes
    members: list[Member]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def make_bundle(files: list[tuple[str, bytes]], archived_at: datetime) -> Bundle:
    """The tar of `files` (path in the bag, bytes), in the order given."""
    buffer = io.BytesIO()
    members = []
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path, data in files:
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, int(archived_at.timestamp())
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
            # The file's bytes end the member just written, padded to whole blocks: where they begin follows from
            # the tar's offset (reading the tar back for it was a third of this function's CPU, measured).
            start = tar.offset - _padded(len(data))
            members.append(Member(path, start, len(data), hashlib.sha256(data).hexdigest()))
    return Bundle(buffer.getvalue(), members)


def _padded(size: int) -> int:
    return -(-size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
