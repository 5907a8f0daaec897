"""The official AsyncAPI 3.0.0 JSON schema, from the npm package @asyncapi/specs (pinned), for the document test.

`npm pack` fetches the package from the npm registry once (npm checks the registry's integrity hash; the
tarball's SHA-256 is pinned below too); the bundled schema is kept in the cache: `python -m devstack.prepare
--asyncapi`, or the first run of tests/unit/test_asyncapi.py.
"""

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from devstack.processes import SetupError, cache_dir

SPECS_PACKAGE = "@asyncapi/specs"
SPECS_VERSION = "6.11.1"
SPECS_SHA256 = "01af8744dc33c0c7eb2e908f6a955319ee58b70ecadc9387d1aeb16c0cd28928"
# The 3.0.0 schema with every definition bundled in (no remote $ids), JSON Schema draft 7.
SCHEMA_MEMBER = "package/schemas/3.0.0-without-$id.json"


def asyncapi_schema() -> Path:
    """The AsyncAPI 3.0.0 JSON schema file in the cache; the first call fetches it with npm."""
    target = cache_dir() / f"asyncapi-specs-{SPECS_VERSION}" / "asyncapi-3.0.0.json"
    if target.exists():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise SetupError("npm (Node.js) is required to fetch the AsyncAPI schema (@asyncapi/specs)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="eakte-asyncapi-") as work:
        argv = [npm, "pack", "--silent", "--pack-destination", work, f"{SPECS_PACKAGE}@{SPECS_VERSION}"]
        done = subprocess.run(argv, cwd=work, capture_output=True, text=True, check=False, timeout=300)
        tarballs = list(Path(work).glob("*.tgz"))
        if done.returncode != 0 or len(tarballs) != 1:
            raise SetupError(f"npm pack {SPECS_PACKAGE}@{SPECS_VERSION} failed:\n{done.stderr[-2000:]}")
        digest = hashlib.sha256(tarballs[0].read_bytes()).hexdigest()
        if digest != SPECS_SHA256:
            raise SetupError(f"{SPECS_PACKAGE}@{SPECS_VERSION}: SHA-256 {digest}, expected {SPECS_SHA256}")
        with tarfile.open(tarballs[0]) as archive:
            member = archive.extractfile(SCHEMA_MEMBER)
            if member is None:
                raise SetupError(f"{SPECS_PACKAGE}@{SPECS_VERSION} has no {SCHEMA_MEMBER}")
            partial = target.with_name(f".{target.name}.{os.getpid()}")
            partial.write_bytes(member.read())
    os.replace(partial, target)  # atomic: several worktrees share the cache
    return target
