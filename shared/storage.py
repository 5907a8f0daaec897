"""Object store adapter on the plain S3 API (MinIO client), so any S3-compatible store can serve."""

import hashlib
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import certifi
import urllib3
from minio import Minio
from minio.error import S3Error
from opentelemetry.trace import SpanKind
from urllib3.util import Retry, Timeout

from shared.settings import Settings
from shared.tracing import enabled as tracing_enabled
from shared.tracing import span

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Downloaded:
    """An object copied to a file: its bytes' SHA-256 and size as read, and the SHA-256 recorded on it ("" if none)."""

    sha256: str
    size: int
    recorded_sha256: str


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    sha256: str  # as recorded when the object was stored (`put_file`); empty if it was stored without one


class ObjectStore:
    def __init__(self, settings: Settings) -> None:
        self._client = Minio(
            settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            secure=settings.s3_secure,
            http_client=_traced_http() if tracing_enabled() else None,
        )

    @property
    def client(self) -> Minio:
        return self._client

    def ensure_bucket(self, name: str, object_lock: bool = False) -> bool:
        """Create the bucket if missing; True if it was created."""
        if self._client.bucket_exists(name):
            return False
        try:
            self._client.make_bucket(name, object_lock=object_lock)
        except S3Error as exc:
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
            return False
        return True

    def put_file(self, bucket: str, key: str, path: Path, content_type: str, sha256: str) -> str | None:
        result = self._client.fput_object(
            bucket, key, str(path), content_type=content_type, metadata={"sha256": sha256}
        )
        return result.version_id

    def put_json(self, bucket: str, key: str, document: dict[str, Any]) -> None:
        data = json.dumps(document, ensure_ascii=False, indent=2, default=str).encode()
        self._client.put_object(bucket, key, io.BytesIO(data), len(data), content_type="application/json")

    def download_hashed(self, bucket: str, key: str, destination: Path) -> tuple[str, int]:
        """Stream an object to a file; return its SHA-256 and size as read."""
        downloaded = self.download(bucket, key, destination)
        return downloaded.sha256, downloaded.size

    def download(self, bucket: str, key: str, destination: Path) -> "Downloaded":
        """Stream an object to a file: its SHA-256 and size as read, and the SHA-256 recorded on it when it was
        stored (the same response's metadata: one request, one object version)."""
        digest = hashlib.sha256()
        size = 0
        response = self._client.get_object(bucket, key)
        try:
            recorded = response.headers.get("x-amz-meta-sha256", "")
            with destination.open("wb") as out:
                for chunk in response.stream(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
        finally:
            response.close()
            response.release_conn()
        return Downloaded(digest.hexdigest(), size, recorded)

    def stream(self, bucket: str, key: str) -> Iterator[bytes]:
        response = self._client.get_object(bucket, key)
        try:
            yield from response.stream(CHUNK)
        finally:
            response.close()
            response.release_conn()

    def stat(self, bucket: str, key: str) -> ObjectInfo:
        found = self._client.stat_object(bucket, key)
        return ObjectInfo(size=found.size or 0, sha256=(found.metadata or {}).get("x-amz-meta-sha256", ""))

    def remove(self, bucket: str, key: str) -> None:
        """Delete an object; deleting one that is already gone is no error (S3 semantics), so retries are safe."""
        self._client.remove_object(bucket, key)

    def exists(self, bucket: str, key: str) -> bool:
        try:
            self._client.stat_object(bucket, key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                return False
            raise
        return True


class _TracedPoolManager(urllib3.PoolManager):
    """Every S3 request in a CLIENT span (tracing on): the adapter's calls and those through `ObjectStore.client`."""

    def urlopen(  # type: ignore[override]  # as urllib3's own PoolManager.urlopen
        self, method: str, url: str, redirect: bool = True, **kw: Any
    ) -> urllib3.BaseHTTPResponse:
        path = urllib3.util.parse_url(url).path or "/"
        with span(f"S3 {method}", kind=SpanKind.CLIENT, **{"http.request.method": method, "url.path": path}):
            return super().urlopen(method, url, redirect, **kw)


def _traced_http() -> urllib3.PoolManager:
    """MinIO's own default HTTP client (timeouts, retries, CA file), with a span per request."""
    timeout = 300
    return _TracedPoolManager(
        timeout=Timeout(connect=timeout, read=timeout),
        maxsize=16,  # the archive writes a package's files side by side
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=Retry(total=5, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
    )


def sha256_of_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def ensure_buckets(store: ObjectStore, settings: Settings) -> None:
    """The product's buckets; the archive bucket has S3 Object Lock (WORM), which can only be set at creation."""
    store.ensure_bucket(settings.inbox_bucket)
    store.ensure_bucket(settings.quarantine_bucket)
    store.ensure_bucket(settings.archive_bucket, object_lock=settings.archive_object_lock)
