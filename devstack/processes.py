"""Child processes started by the dev stack: started, health-checked, and stopped by their own PID."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


class SetupError(RuntimeError):
    """A step of the set-up failed; the message says what is missing and what to do."""


def cache_dir() -> Path:
    path = Path(os.environ.get("EAKTE_CACHE_DIR", Path.home() / ".cache" / "eakte"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` different free loopback ports. The sockets stay bound until all are found: a port asked for one
    at a time is free again once its socket closes, and the kernel gave the same one twice (two replicas of a
    stack on one port)."""
    with contextlib.ExitStack() as sockets:
        ports = []
        for _ in range(count):
            sock = sockets.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def require_free_port(port: int, what: str) -> None:
    if not port_is_free(port):
        raise SetupError(f"port 127.0.0.1:{port} for {what} is already taken; stop what uses it or pick another port")


def tcp_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def apt_install(*packages: str) -> None:
    """Install Debian packages; only possible as root (or with sudo) on a Debian-based machine."""
    apt = shutil.which("apt-get")
    if apt is None:
        raise SetupError(f"{', '.join(packages)} missing and apt-get not available: install them by hand")
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"[eakte] installing Debian packages: {' '.join(packages)}", flush=True)
    for argv in ([*prefix, apt, "update", "-q"], [*prefix, apt, "install", "-y", "-q", *packages]):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SetupError(f"`{' '.join(argv)}` failed (no network to the Debian mirror?):\n{done.stderr[-2000:]}")


class ManagedProcess:
    """A server process with its log in a file; stopped by its own PID and nothing else."""

    def __init__(
        self, name: str, argv: list[str], log_path: Path, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> "ManagedProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise SetupError(f"cannot start {self.name}: {exc}") from exc
        finally:
            log.close()
        return self

    def wait_ready(self, check: Callable[[], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise SetupError(
                    f"{self.name} exited with code {self.process.returncode}; last log lines:\n{self.tail()}"
                )
            if check():
                return
            time.sleep(0.2)
        raise SetupError(f"{self.name} not ready after {timeout_s:.0f} s; last log lines:\n{self.tail()}")

    def tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout_s: float = 15.0, sig: int = signal.SIGTERM) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def kill(self) -> None:
        """Hard stop, as a crash would end it."""
        self.stop(timeout_s=10, sig=signal.SIGKILL)


def go_tool(why: str) -> str:
    """The `go` command, installed from Debian when missing; `why` says what needs it if it cannot be had."""
    go = shutil.which("go")
    if go is None:
        apt_install("golang-go")
        go = shutil.which("go")
    if go is None:
        raise SetupError(f"{why} and could not be installed")
    return go
