"""A throwaway PostgreSQL cluster on a free loopback port, from the machine's (or Debian's) packages."""

import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path

from devstack.processes import ManagedProcess, SetupError, apt_install, require_free_port

SUPERUSER = "eakte"


def postgres_bin_dir() -> Path:
    """Where `initdb` and `postgres` live; installs Debian's postgresql package if there is none."""
    for _attempt in range(2):
        found = shutil.which("initdb")
        if found:
            return Path(found).resolve().parent
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
        if versions:
            return versions[0].parent
        apt_install("postgresql")
    raise SetupError("PostgreSQL server binaries (initdb, postgres) not found and could not be installed")


def _run_as() -> list[str]:
    """PostgreSQL refuses to run as root; as root, run it as the `postgres` system user."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise SetupError("running as root but there is no `postgres` user to run PostgreSQL as") from exc
    # setpriv execs in place, so the PID we hold is the postgres server itself.
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]


class PostgresServer:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.process: ManagedProcess | None = None

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def start(self, timeout_s: float = 60.0) -> "PostgresServer":
        require_free_port(self.port, "PostgreSQL")
        bin_dir = postgres_bin_dir()
        prefix = _run_as()
        cluster = self.data_dir / "cluster"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if prefix:
            shutil.chown(self.data_dir, "postgres", "postgres")
        if not (cluster / "PG_VERSION").exists():
            done = subprocess.run(
                [
                    *prefix,
                    str(bin_dir / "initdb"),
                    "-D",
                    str(cluster),
                    "-U",
                    SUPERUSER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise SetupError(f"initdb failed:\n{(done.stdout + done.stderr)[-2000:]}")
        argv = [
            *prefix,
            str(bin_dir / "postgres"),
            "-D",
            str(cluster),
            "-p",
            str(self.port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={self.data_dir}",
            "-c",
            "fsync=off",
        ]
        self.process = ManagedProcess("postgres", argv, self.data_dir / "postgres.log").start()
        self.process.wait_ready(self._ready, timeout_s)
        return self

    def _ready(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.url("postgres"), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout_s=30, sig=signal.SIGINT)  # SIGINT is PostgreSQL's "fast" shutdown
