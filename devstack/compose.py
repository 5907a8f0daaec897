"""A real compose client, built once with Go from the Go module proxy, to check docker-compose.yml.

Docker Compose v5 (the `docker compose` plugin, which run on its own is `docker-compose`) needs no Docker
engine for `docker-compose config`: it reads the file, fills in the variables and checks the result against
the compose specification. The module in `devstack/compose_client` pins the version and every checksum.
"""

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from devstack.processes import SetupError, cache_dir, go_tool

COMPOSE_MODULE = "github.com/docker/compose/v5"
COMPOSE_VERSION = "v5.6.0"  # keep equal to the require line of devstack/compose_client/go.mod
MODULE_DIR = Path(__file__).resolve().parent / "compose_client"


def compose_binary() -> Path:
    """The `docker-compose` binary in the cache; the first call builds it (measured cold: 213 s on 2 shared cores,
    363 MB Go module cache and 432 MB build cache; 10 s when the Go caches are warm)."""
    binary = cache_dir() / f"docker-compose-{COMPOSE_VERSION}" / "bin" / "docker-compose"
    if binary.exists():
        return binary
    go = go_tool("Go (>= 1.26.8) is required to build the compose client")
    print(f"[eakte] building Docker Compose {COMPOSE_VERSION} with Go (first run only: about 3.5 minutes)", flush=True)
    started = time.monotonic()
    binary.parent.mkdir(parents=True, exist_ok=True)
    _build(go, binary)
    print(f"[eakte] Docker Compose built in {time.monotonic() - started:.0f} s", flush=True)
    return binary


def _build(go: str, binary: Path) -> None:
    """Build from a copy of the pinned module (go.sum read-only), then move the binary in place atomically:
    several worktrees share the cache and may build at once."""
    with tempfile.TemporaryDirectory(prefix="eakte-compose-") as work:
        for name in ("go.mod", "go.sum"):
            shutil.copy(MODULE_DIR / name, Path(work) / name)
        built = binary.with_name(f".docker-compose-{os.getpid()}")
        ldflags = f"-s -w -X {COMPOSE_MODULE}/internal.Version={COMPOSE_VERSION}"
        argv = [go, "build", "-mod=readonly", "-trimpath", "-ldflags", ldflags, "-o", str(built)]
        argv.append(f"{COMPOSE_MODULE}/cmd")
        env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false", "GOTOOLCHAIN": "local"}
        done = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not built.exists():
        built.unlink(missing_ok=True)
        raise SetupError(
            "building Docker Compose failed (no network to the Go module proxy, or Go older than 1.26.8?):\n"
            + done.stderr[-2000:]
        )
    os.replace(built, binary)


def compose_config(
    compose_file: Path, env_file: Path, *args: str, profiles: Iterable[str] = ()
) -> subprocess.CompletedProcess[str]:
    """`docker-compose --env-file ENV -f FILE [--profile P ...] config ARGS`: the variables come from `env_file`
    alone (the caller's environment and a developer's own `.env` stay out); no Docker engine is needed."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    chosen = [word for profile in profiles for word in ("--profile", profile)]
    argv = [str(compose_binary()), "--env-file", str(env_file), "-f", str(compose_file), *chosen, "config", *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=120)
