"""`make bench-limits`: what a large request body costs the ingest service before the caller is known.

Sends a 120 MB JSON body to the ingest service of a fresh stack: without a token (announced by Content-Length,
and chunked without one), and with a valid token to a JSON route (1 MiB limit). For each: the answer's status,
the seconds until it arrived, how many body bytes the client got to send, and the growth of the ingest process's
resident memory (VmRSS from /proc, sampled every 10 ms). Writes bench-results/limits.json.
"""

import argparse
import re
import select
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from shared.auth import issue_token
from tests.bench import bench_stack, stop_cleanly_on_sigterm, write_result

JWT_SECRET = "bench-secret-0123456789abcdef0123456789"
MiB = 1024 * 1024


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = self.before = rss_mib(pid)
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.01):
            self.peak = max(self.peak, rss_mib(self.pid))

    def finish(self) -> float:
        self._done.set()
        self.join()
        return self.peak - self.before


def json_body(total: int) -> Iterator[bytes]:
    """A valid JSON object of exactly `total` bytes (one long title), in 1 MiB blocks."""
    head, tail = b'{"title": "', b'"}'
    filler = total - len(head) - len(tail)
    yield head
    while filler > 0:
        block = min(MiB, filler)
        yield b"x" * block
        filler -= block
    yield tail


def send(url: str, headers: list[str], total: int, chunked: bool) -> dict[str, Any]:
    """Send up to `total` body bytes, as an attacker would (on until the server closes); what came back."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    head = [f"POST {parts.path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json", *headers]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}")
    sent, answer, answered_s = 0, b"", None
    started = time.perf_counter()
    with socket.create_connection((host, port), timeout=120) as conn:
        conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        for block in json_body(total):
            if answered_s is None and select.select([conn], [], [], 0)[0]:
                answer, answered_s = conn.recv(4096), time.perf_counter() - started
            try:
                conn.sendall(b"%x\r\n%s\r\n" % (len(block), block) if chunked else block)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(block)
        if answered_s is None:
            if chunked and sent >= total:
                conn.sendall(b"0\r\n\r\n")
            answer, answered_s = conn.recv(4096), time.perf_counter() - started
    status = re.match(rb"HTTP/1\.1 (\d{3})", answer)
    return {
        "status": int(status.group(1)) if status else None,
        "answered_after_s": round(answered_s, 3),
        "body_bytes_sent_mib": round(sent / MiB, 1),
        "body_mib": total // MiB,
    }


def measure(pid: int, url: str, headers: list[str], total: int, chunked: bool) -> dict[str, Any]:
    sampler = RssSampler(pid)
    sampler.start()
    result = send(url, headers, total, chunked)
    time.sleep(0.5)  # let the server finish whatever it still does with the connection before the last sample
    result["ingest_rss_growth_mib"] = round(sampler.finish(), 1)
    result["ingest_rss_after_mib"] = round(rss_mib(pid), 1)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=120, help="body size in MiB")
    parser.add_argument("--output", type=Path, default=Path("bench-results/limits.json"))
    args = parser.parse_args()
    stop_cleanly_on_sigterm()
    total = args.mib * MiB
    token = issue_token("bench", frozenset({"clerk"}), JWT_SECRET, timedelta(hours=1))
    with bench_stack(JWT_SECRET, base_env={"ingest": {"EAKTE_OCR_ENABLED": "false"}}) as stack:
        pid = stack.services["ingest"].pid
        assert pid is not None
        url = f"{stack.url('ingest')}/api/v1/akten"
        cases = {
            "no_token_content_length": ([], False),
            "no_token_chunked": ([], True),
            "valid_token_json_route_content_length": ([f"Authorization: Bearer {token}"], False),
            "valid_token_json_route_chunked": ([f"Authorization: Bearer {token}"], True),
        }
        results = {name: measure(pid, url, headers, total, chunked) for name, (headers, chunked) in cases.items()}
    write_result(args.output, {"benchmark": "limits", "route": "POST /api/v1/akten", "cases": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
