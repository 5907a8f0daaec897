"""Reading a package's files straight from MinIO, as `/package` lists them (what an auditor with the bucket does)."""

from typing import Any

from minio import Minio


def package_file(client: Minio, bucket: str, listed: dict[str, Any]) -> bytes:
    """The file's bytes: its object version, or its byte range of the bundle object (`offset`, `size`)."""
    offset, length = (0, 0) if listed["offset"] is None else (listed["offset"], listed["size"])  # 0, 0: all of it
    response = client.get_object(bucket, listed["key"], offset, length, version_id=listed["version_id"])
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()
