"""Archival packages in the object store: written once with a COMPLIANCE retention lock (WORM)."""

import concurrent.futures
import hashlib
import io
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from minio.commonconfig import COMPLIANCE
from minio.error import S3Error
from minio.helpers import genheaders
from minio.retention import Retention
from urllib3 import BaseHTTPResponse

from services.archive.domain import FoundVersion, package_prefix
from services.archive.ports import AlreadyStored, NewFile, ObjectState, SourceMissing, StoredFile
from shared.events import StoredObject
from shared.storage import CHUNK, Downloaded, ObjectStore, sha256_of_file

MISSING = ("NoSuchKey", "NoSuchObject", "NoSuchVersion")
# What S3 answers for the lock of an object in a bucket without object lock (or an object without retention).
NO_LOCK = ("ObjectLockConfigurationNotFoundError", "NoSuchObjectLockConfiguration")
# Puts in flight at once for all packages being written (within the object store client's connection pool).
_PUTS = concurrent.futures.ThreadPoolExecutor(max_workers=6, thread_name_prefix="archive-put")
# A write "only if new" of a file on disk up to this size is one conditional request (If-None-Match, its body read
# into memory); a larger file is asked for first (HEAD), its bytes streamed from disk as before.
CONDITIONAL_PUT_MAX = 16 * 1024 * 1024


class PackageStore:
    def __init__(self, store: ObjectStore, bucket: str, locked: bool = True) -> None:
        self._store = store
        self._client = store.client
        self.bucket = bucket
        self.locked = locked  # False only in development and tests (a bucket without object lock)

    def key(self, document_id: str, path: str) -> str:
        return package_prefix(document_id) + path

    def put(
        self,
        document_id: str,
        path: str,
        source: Path | bytes,
        content_type: str,
        retain: datetime,
        archived_at: datetime,
        only_new: bool = False,
    ) -> StoredFile:
        """Write one file of the package under the retention lock (when the bucket has object lock); `only_new`:
        raise AlreadyStored instead when its key holds an object already."""
        key = self.key(document_id, path)
        retention = Retention(COMPLIANCE, retain) if self.locked else None
        if only_new and isinstance(source, Path) and source.stat().st_size <= CONDITIONAL_PUT_MAX:
            source = source.read_bytes()  # a conditional write is one request with its body
        if isinstance(source, bytes):
            digest, size = hashlib.sha256(source).hexdigest(), len(source)
        else:
            digest, size = sha256_of_file(source)
        metadata: dict[str, str | list[str] | tuple[str]] = {"sha256": digest, "archived-at": archived_at.isoformat()}
        if only_new and isinstance(source, bytes):
            version_id = self._put_if_new(key, source, content_type, metadata, retention)
            return StoredFile(self.bucket, path, key, version_id, digest, size)
        if only_new and self._store.exists(self.bucket, key):
            raise AlreadyStored(key)
        if isinstance(source, bytes):
            result = self._client.put_object(
                self.bucket,
                key,
                io.BytesIO(source),
                size,
                content_type=content_type,
                metadata=metadata,
                retention=retention,
            )
        else:
            result = self._client.fput_object(
                self.bucket, key, str(source), content_type=content_type, metadata=metadata, retention=retention
            )
        return StoredFile(self.bucket, path, key, result.version_id, digest, size)

    def _put_if_new(
        self,
        key: str,
        data: bytes,
        content_type: str,
        metadata: dict[str, str | list[str] | tuple[str]],
        retention: Retention | None,
    ) -> str | None:
        """One PUT with `If-None-Match: *`: the object store refuses it (412) when the key holds an object. The
        client's public `put_object` passes no such header; its single-request PUT (`_put_object`, minio pinned in
        requirements) takes the headers `put_object` would send plus this one."""
        headers = genheaders(metadata, None, None, retention, False)
        headers["Content-Type"] = content_type
        headers["If-None-Match"] = "*"
        try:
            result = self._client._put_object(self.bucket, key, data, headers)
        except S3Error as exc:
            if exc.code == "PreconditionFailed":
                raise AlreadyStored(key) from None
            raise
        return result.version_id

    def put_many(
        self,
        document_id: str,
        files: Sequence[NewFile],
        retain: datetime,
        archived_at: datetime,
        only_new: bool = False,
    ) -> list[StoredFile]:
        """The files' puts side by side (a package's small files are round trips, not bytes); one file is put in
        this thread."""
        if len(files) == 1:
            only = files[0]
            return [self.put(document_id, only.path, only.source, only.content_type, retain, archived_at, only_new)]
        futures = [
            _PUTS.submit(self.put, document_id, f.path, f.source, f.content_type, retain, archived_at, only_new)
            for f in files
        ]
        concurrent.futures.wait(futures)  # none still writing when a failure is raised
        return [future.result() for future in futures]

    def found(self, document_id: str) -> dict[str, list[FoundVersion]]:
        """Every version under the package's prefix (delete markers aside), per path, oldest first; each with
        the SHA-256 and archiving time recorded on it (an object without a recorded SHA-256 is hashed)."""
        prefix = package_prefix(document_id)
        listed = self._client.list_objects(self.bucket, prefix=prefix, recursive=True, include_version=True)
        newest_first: dict[str, list[FoundVersion]] = {}
        for item in listed:  # S3 lists the versions of a key newest first
            if item.is_delete_marker or item.object_name is None:
                continue
            path = item.object_name.removeprefix(prefix)
            newest_first.setdefault(path, []).append(self._found_version(path, item.object_name, item.version_id))
        return {path: versions[::-1] for path, versions in newest_first.items()}

    def _found_version(self, path: str, key: str, version_id: str | None) -> FoundVersion:
        stat = self._client.stat_object(self.bucket, key, version_id=version_id)
        metadata = stat.metadata or {}
        sha256 = metadata.get("x-amz-meta-sha256") or self.reread_sha256(
            StoredFile(self.bucket, path, key, version_id, "", stat.size or 0)
        )
        recorded_at = metadata.get("x-amz-meta-archived-at")
        return FoundVersion(
            version_id=stat.version_id,
            sha256=sha256,
            size=stat.size or 0,
            archived_at=datetime.fromisoformat(recorded_at) if recorded_at else None,
        )

    def state(self, file: StoredFile) -> ObjectState:
        try:
            stat = self._client.stat_object(file.bucket, file.key, version_id=file.version_id)
        except S3Error as exc:
            if exc.code in MISSING:
                return ObjectState(file.path, file.key, file.version_id, None, None, None, None, False, file.offset)
            raise
        retention, hold = self._lock_of(file)
        # A file inside the bundle: its own bytes, re-read (the object's recorded SHA-256 is the bundle's).
        inside = file.offset is not None
        return ObjectState(
            path=file.path,
            key=file.key,
            version_id=stat.version_id,
            size=file.size if inside else stat.size,
            sha256=self.reread_sha256(file) if inside else (stat.metadata or {}).get("x-amz-meta-sha256"),
            retention_mode=retention.mode if retention else None,
            retain_until=retention.retain_until_date if retention else None,
            legal_hold=bool(hold),
            offset=file.offset,
        )

    def _lock_of(self, file: StoredFile) -> tuple[Retention | None, bool]:
        """The object's retention and legal hold; none in a bucket without object lock (development, tests)."""
        if not self.locked:
            return None, False
        try:
            retention = self._client.get_object_retention(file.bucket, file.key, version_id=file.version_id)
            hold = self._client.is_object_legal_hold_enabled(file.bucket, file.key, version_id=file.version_id)
        except S3Error as exc:
            if exc.code in NO_LOCK or "ObjectLockConfiguration" in (exc.message or ""):
                return None, False
            raise
        return retention, bool(hold)

    def reread_sha256(self, file: StoredFile) -> str | None:
        """SHA-256 of the stored bytes, read again in chunks; None when the object is gone."""
        digest = hashlib.sha256()
        try:
            response = self._get(file)
        except S3Error as exc:
            if exc.code in MISSING:
                return None
            raise
        try:
            for chunk in response.stream(CHUNK):
                digest.update(chunk)
        finally:
            response.close()
            response.release_conn()
        return digest.hexdigest()

    def read(self, file: StoredFile) -> bytes | None:
        try:
            return b"".join(self.stream(file))
        except S3Error as exc:
            if exc.code in MISSING:
                return None
            raise

    def stream(self, file: StoredFile) -> Iterator[bytes]:
        response = self._get(file)
        try:
            yield from response.stream(CHUNK)
        finally:
            response.close()
            response.release_conn()

    def _get(self, file: StoredFile) -> BaseHTTPResponse:
        """The object version's bytes; for a file inside the bundle, its byte range only."""
        offset, length = (0, 0) if file.offset is None else (file.offset, file.size)  # 0, 0: the whole object
        return self._client.get_object(file.bucket, file.key, offset, length, version_id=file.version_id)

    def presigned_url(self, file: StoredFile, expires: timedelta, filename: str) -> str:
        if file.offset is not None:  # a link names a whole object: only payload files (the original) have one
            raise ValueError(f"{file.path} is kept inside the package's bundle and has no link of its own")
        return self._client.presigned_get_object(
            file.bucket,
            file.key,
            expires=expires,
            version_id=file.version_id,
            response_headers={"response-content-disposition": f'attachment; filename="{filename}"'},
        )

    def set_legal_hold(self, file: StoredFile, on: bool) -> None:
        if on:
            self._client.enable_object_legal_hold(file.bucket, file.key, version_id=file.version_id)
        else:
            self._client.disable_object_legal_hold(file.bucket, file.key, version_id=file.version_id)

    def delete(self, file: StoredFile) -> None:
        """Delete this very version (not a delete marker); the store refuses while it is locked."""
        self._client.remove_object(file.bucket, file.key, version_id=file.version_id)


class SourceStore:
    """The intake objects a package copies, read through `shared.storage.ObjectStore`."""

    def __init__(self, store: ObjectStore, bucket: str) -> None:
        self._store = store
        self.bucket = bucket

    def download(self, source: StoredObject, destination: Path) -> Downloaded:
        """Copy `source` to `destination` with what was read and recorded. Raises SourceMissing when it is gone."""
        try:
            return self._store.download(source.bucket, source.key, destination)
        except S3Error as exc:
            if exc.code in (*MISSING, "NoSuchBucket"):
                raise SourceMissing(f"{source.bucket}/{source.key} is missing ({exc.code})") from exc
            raise

    def read(self, source: StoredObject) -> bytes:
        return b"".join(self._store.stream(source.bucket, source.key))
