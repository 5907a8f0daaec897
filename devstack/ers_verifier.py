"""Bouncy Castle's evidence-record verifier (org.bouncycastle.tsp.ers, bcpkix/bcprov/bcutil from Maven Central)
run with the machine's Java on devstack/ers/ErsVerify.java: an implementation independent of ours."""

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from devstack.kafka import _java
from devstack.processes import SetupError, apt_install, cache_dir

BC_VERSION = "1.87"
HERE = Path(__file__).parent / "ers"


def bouncy_castle_libs() -> Path:
    """bcprov, bcutil and bcpkix jars, fetched once into the cache with Maven."""
    libs = cache_dir() / f"bouncycastle-{BC_VERSION}"
    if (libs / f"bcpkix-jdk18on-{BC_VERSION}.jar").exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        apt_install("maven")
        mvn = shutil.which("mvn")
    if mvn is None:
        raise SetupError("Maven (mvn) is required to fetch Bouncy Castle and could not be installed")
    partial = libs.with_name(libs.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    argv = [mvn, "-q", "-B", "-f", str(HERE / "pom.xml"), "dependency:copy-dependencies",
            f"-DoutputDirectory={partial}", "-DincludeScope=runtime", f"-Dbc.version={BC_VERSION}"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SetupError("could not fetch Bouncy Castle from Maven Central:\n" + (done.stdout + done.stderr)[-2000:])
    partial.rename(libs)
    return libs


@dataclass(frozen=True)
class BcVerdict:
    ok: bool
    lines: list[str]


def bc_verify(ca_file: Path, pairs: list[tuple[Path, Path]]) -> BcVerdict:
    """Bouncy Castle's verdict on each (data object, evidence record) pair against the TSA's CA."""
    classpath = f"{bouncy_castle_libs()}/*"
    argv = [_java(), "-cp", classpath, str(HERE / "ErsVerify.java"), str(ca_file)]
    argv += [str(p) for pair in pairs for p in pair]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
    lines = done.stdout.splitlines()
    if done.returncode not in (0, 1) or len(lines) != len(pairs):
        raise SetupError(f"the Bouncy Castle verifier failed to run:\n{done.stdout[-1500:]}{done.stderr[-1500:]}")
    return BcVerdict(done.returncode == 0, lines)
