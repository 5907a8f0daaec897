"""Reading a package's files straight from MinIO, as `/package` lists them (what an auditor with the bucket does)."""

from typing import Any

from minio import Minio


def package_file(client: Minio, bucket: str, listed: dict[str, Any]) -> bytes:
    """The file's bytes: its object version, or its byte range of the bundle object (`offset`, `size`)."""
    if listed["offset"] is None:
        return client.get_object(bucket, listed["key"], version_id=listed["version_id"]).read()
    offset, size = listed["offset"], listed["size"]
    return client.get_object(bucket, listed["key"], offset, size, version_id=listed["version_id"]).read()
