"""The bundle of a package's small files: a plain tar that `tar -x` unpacks into the bag's files, each found
again by its recorded byte range, and the same bytes for the same files and archiving time."""

import io
import tarfile
from datetime import UTC, datetime, timedelta

from services.archive.bundle import make_bundle

AT = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
FILES = [
    ("data/metadata.json", b'{"title": "Bauantrag"}'),
    ("data/audit.json", b"[]"),
    ("bagit.txt", b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"),
    ("tagmanifest-sha256.txt", b"0" * 64 + b"  bagit.txt\n"),
]


def test_each_file_is_its_recorded_byte_range_and_a_tar_reader_unpacks_the_same_files() -> None:
    bundle = make_bundle(FILES, AT)

    assert [m.path for m in bundle.members] == [path for path, _ in FILES]
    for member, (_, data) in zip(bundle.members, FILES, strict=True):
        assert bundle.data[member.offset : member.offset + member.size] == data
    with tarfile.open(fileobj=io.BytesIO(bundle.data)) as tar:
        unpacked = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
        assert {m.mtime for m in tar.getmembers()} == {int(AT.timestamp())}
    assert unpacked == dict(FILES)


def test_the_same_files_and_time_give_the_same_bytes_and_another_time_other_bytes() -> None:
    assert make_bundle(FILES, AT).sha256 == make_bundle(list(FILES), AT).sha256
    assert make_bundle(FILES, AT).sha256 != make_bundle(FILES, AT + timedelta(seconds=1)).sha256


def test_long_names_and_sizes_of_whole_blocks_are_found_at_their_recorded_ranges() -> None:
    files = [
        ("data/" + "unterordner/" * 10 + "bescheid.json", b"x" * 512),
        ("data/leer-fast.txt", b"y"),
        ("data/zwei-bloecke.txt", b"z" * 1024),
    ]
    bundle = make_bundle(files, AT)

    with tarfile.open(fileobj=io.BytesIO(bundle.data), mode="r:") as tar:
        read_back = {m.name: m.offset_data for m in tar.getmembers()}
    assert {m.path: m.offset for m in bundle.members} == read_back
    for member, (_, data) in zip(bundle.members, files, strict=True):
        assert bundle.data[member.offset : member.offset + member.size] == data
