"""A real MinIO server, built once with `go install` from the Go module proxy."""

import os
import subprocess
import time
import urllib.request
from pathlib import Path

from devstack.processes import ManagedProcess, SetupError, cache_dir, go_tool, require_free_port

# minio/minio release tags are not semver; this is the last upstream commit, served by the Go proxy.
MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"


def minio_binary() -> Path:
    binary_dir = cache_dir() / f"minio-{MINIO_VERSION.rsplit('-', 1)[-1]}" / "bin"
    binary = binary_dir / "minio"
    if binary.exists():
        return binary
    go = go_tool("Go (>= 1.24) is required to build MinIO")
    print(
        f"[eakte] building MinIO {MINIO_VERSION} with `go install` "
        "(first run only: about 5 minutes, ~1 GB module cache)",
        flush=True,
    )
    started = time.monotonic()
    env = {**os.environ, "CGO_ENABLED": "0", "GOBIN": str(binary_dir), "GOFLAGS": "-buildvcs=false"}
    done = subprocess.run(
        [go, "install", "-trimpath", f"github.com/minio/minio@{MINIO_VERSION}"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not binary.exists():
        raise SetupError(
            "building MinIO failed (no network to the Go module proxy, or Go older than 1.24?):\n" + done.stderr[-2000:]
        )
    print(f"[eakte] MinIO built in {time.monotonic() - started:.0f} s", flush=True)
    return binary


class MinioServer:
    def __init__(self, data_dir: Path, port: int, console_port: int, access_key: str, secret_key: str) -> None:
        if len(secret_key) < 8:
            raise SetupError("the S3 secret key must have at least 8 characters (MinIO's rule)")
        self.data_dir = data_dir
        self.port = port
        self.console_port = console_port
        self.access_key = access_key
        self.secret_key = secret_key
        self.process: ManagedProcess | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> "MinioServer":
        require_free_port(self.port, "MinIO")
        require_free_port(self.console_port, "the MinIO console")
        binary = minio_binary()
        storage = self.data_dir / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "MINIO_ROOT_USER": self.access_key,
            "MINIO_ROOT_PASSWORD": self.secret_key,
            "MINIO_BROWSER": "off",
            "MINIO_UPDATE": "off",
        }
        argv = [
            str(binary),
            "server",
            str(storage),
            "--address",
            self.endpoint,
            "--console-address",
            f"127.0.0.1:{self.console_port}",
            "--quiet",
        ]
        self.process = ManagedProcess("minio", argv, self.data_dir / "minio.log", env=env).start()
        self.process.wait_ready(self._ready, timeout_s)
        return self

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.endpoint}/minio/health/ready", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
