"""FITKO's FIT-Connect metadata JSON schema v1.0.0, from the PyPI package `fitconnect` 0.4.2 (pinned), never copied
into this repository.

`pip download` fetches the wheel from PyPI once (its SHA-256 is pinned below); the schema file is taken out of it
into the cache: `python -m devstack.prepare`, or the FIT-Connect test set-up. In production, IT points
`EAKTE_FITCONNECT_METADATA_SCHEMA` at the same file (see the README).
"""

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from devstack.processes import SetupError, cache_dir

PACKAGE = "fitconnect"
VERSION = "0.4.2"
WHEEL = f"{PACKAGE}-{VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "80515d4459e0dc3ad49171f892eabfe68a36a0ef26b5d59f6d5f92b6e7d29d81"
SCHEMA_MEMBER = "fitconnect/schema/metadata.schema.v1.0.0.json"


def metadata_schema() -> Path:
    """The metadata schema file in the cache; the first call fetches the wheel with pip."""
    target = cache_dir() / f"fitconnect-{VERSION}" / "metadata.schema.v1.0.0.json"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="eakte-fitconnect-") as work:
        argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", work]
        done = subprocess.run(
            [*argv, f"{PACKAGE}=={VERSION}"], capture_output=True, text=True, check=False, timeout=300
        )
        wheel = Path(work) / WHEEL
        if done.returncode != 0 or not wheel.exists():
            raise SetupError(f"pip download {PACKAGE}=={VERSION} failed:\n{done.stderr[-2000:]}")
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != WHEEL_SHA256:
            raise SetupError(f"{WHEEL}: SHA-256 {digest}, expected {WHEEL_SHA256}")
        with zipfile.ZipFile(wheel) as archive:
            try:
                content = archive.read(SCHEMA_MEMBER)
            except KeyError as exc:
                raise SetupError(f"{WHEEL} has no {SCHEMA_MEMBER}") from exc
        partial = target.with_name(f".{target.name}.{os.getpid()}")
        partial.write_bytes(content)
    os.replace(partial, target)  # atomic: several worktrees share the cache
    return target
