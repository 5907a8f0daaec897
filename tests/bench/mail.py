"""`make bench-mail`: how long an e-mail takes from the Poststelle mailbox to its filed documents.

Starts its own stack (OCR off) and a Dovecot on loopback; ingest polls the mailbox every POLL s. Each message carries
a short text and one PDF attachment, so it becomes two documents (the .eml with its rendering, and the PDF) in one
Vorgang. Measured:

- one at a time: IMAP APPEND → both documents listed (p50/p95/max); the poll interval is part of it (on average
  half of it is waiting for the next poll);
- a burst of BURST messages appended at once → all of them filed (messages per second).

Prints and writes JSON.
"""

import argparse
import imaplib
import shutil
import tempfile
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

import httpx

from devstack.dovecot import DovecotServer
from devstack.processes import free_port
from tests.bench import bench_stack, stop_cleanly_on_sigterm, write_result
from tests.bench.pipeline import percentile
from tests.conftest import token, unique_bytes

JWT_SECRET = "bench-secret-0123456789abcdef0123456789"
USER, PASSWORD = "poststelle@stadt.example.org", "bench-mail-secret"
CLERK = "poststelle"


def _message(number: int) -> bytes:
    message = EmailMessage()
    message["From"] = "Erika Mustermann <erika@example.org>"
    message["To"] = "gewerbe@stadt.example.org"
    message["Subject"] = f"Gewerbeanmeldung {number}"
    message["Message-ID"] = f"<{uuid.uuid4()}@example.org>"
    message.set_content("Sehr geehrte Damen und Herren,\n\nanbei meine Anmeldung.\n")
    pdf = unique_bytes("sf__minimal-document.pdf")
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename=f"Anmeldung-{number}.pdf")
    return message.as_bytes()


def _append(server: DovecotServer, raws: list[bytes]) -> None:
    with imaplib.IMAP4("127.0.0.1", server.port, timeout=30) as imap:
        imap.login(USER, PASSWORD)
        for raw in raws:
            imap.append("INBOX", None, None, raw)


def _filed(http: httpx.Client, url: str) -> int:
    response = http.get(
        f"{url}/api/v1/documents", headers=token(CLERK, "clerk", secret=JWT_SECRET), params={"limit": 1}
    )
    response.raise_for_status()
    return int(response.json()["total"])


def _wait_filed(http: httpx.Client, url: str, documents: int, timeout_s: float = 600) -> float:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _filed(http, url) >= documents:
            return time.monotonic()
        time.sleep(0.02)
    raise SystemExit(f"not all {documents} documents filed within {timeout_s:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10, help="messages sent one at a time")
    parser.add_argument("--burst", type=int, default=20, help="messages appended at once")
    parser.add_argument("--poll", type=float, default=1.0, help="EAKTE_MAIL_POLL_S")
    parser.add_argument("--output", type=Path, default=Path("bench-results/mail.json"))
    args = parser.parse_args()
    stop_cleanly_on_sigterm()
    data_dir = Path(tempfile.mkdtemp(prefix="eakte-bench-dovecot-"))
    server = DovecotServer(data_dir, free_port(), {USER: PASSWORD})
    try:
        server.start()
        env = {
            "EAKTE_OCR_ENABLED": "false",
            "EAKTE_MAIL_IMAP_URL": server.url("INBOX"),
            "EAKTE_MAIL_USER": USER,
            "EAKTE_MAIL_PASSWORD": PASSWORD,
            "EAKTE_MAIL_POLL_S": str(args.poll),
            "EAKTE_MAIL_SUBMITTED_BY": CLERK,
        }
        with bench_stack(JWT_SECRET, base_env={"ingest": env}) as stack, httpx.Client(timeout=30) as http:
            url = stack.url("ingest")
            single = []
            for number in range(args.messages):
                raw = _message(number)
                started = time.monotonic()
                _append(server, [raw])
                single.append(_wait_filed(http, url, 2 * (number + 1)) - started)
            burst = [_message(args.messages + n) for n in range(args.burst)]
            started = time.monotonic()
            _append(server, burst)
            burst_s = _wait_filed(http, url, 2 * (args.messages + args.burst)) - started
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    write_result(
        args.output,
        {
            "poll_s": args.poll,
            "documents_per_message": 2,
            "single_messages": args.messages,
            "append_to_filed_p50_s": round(percentile(single, 0.5), 3),
            "append_to_filed_p95_s": round(percentile(single, 0.95), 3),
            "append_to_filed_max_s": round(max(single), 3),
            "burst_messages": args.burst,
            "burst_seconds": round(burst_s, 3),
            "burst_messages_per_s": round(args.burst / burst_s, 2),
        },
    )


if __name__ == "__main__":
    main()
