"""`make bench-fitconnect`: how long an online Wohngeld application takes to be filed.

Starts its own stack and a local FIT-Connect Submission API (devstack.fitconnect_server), sends N applications
(each with two PDF attachments) with FITKO's Python SDK, one after the other, and measures for each the time from
the sender's last call (the submission is complete at FIT-Connect) to `accept-submission` arriving there, i.e.
picked up, decrypted, checked, rendered and filed with all its documents. The subscriber polls every
EAKTE_FITCONNECT_POLL_S (0.5 s here; 30 s by default). Writes bench-results/fitconnect.json.
"""

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from devstack.fitconnect_server import SENDER, local_destination
from tests.bench import bench_stack, stop_cleanly_on_sigterm, write_result
from tests.conftest import unique_bytes
from tests.fitconnect_sender import Sender, wohngeld_form

JWT_SECRET = "bench-secret-0123456789abcdef0123456789"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--submissions", type=int, default=20)
    parser.add_argument("--poll-s", type=float, default=0.5)
    parser.add_argument("--output", type=Path, default=Path("bench-results/fitconnect.json"))
    args = parser.parse_args()
    stop_cleanly_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="eakte-bench-fitconnect-") as keys, bench_stack(JWT_SECRET) as stack:
        server, env = local_destination(Path(keys), args.poll_s)
        server.start()
        try:
            stack.restart_service("ingest", **env)
            sender = Sender(server, *SENDER)
            seconds = []
            for _ in range(args.submissions):
                attachments = [(f"Nachweis-{n}.pdf", unique_bytes("sf__minimal-document.pdf")) for n in (1, 2)]
                sent = sender.send(wohngeld_form(f"Bench-{uuid.uuid4().hex[:6]}"), attachments)
                submitted = time.monotonic()
                deadline = submitted + 120
                while not (events := server.events_of(sent.case_id)):
                    if time.monotonic() > deadline:
                        raise SystemExit(f"no decision for {sent.submission_id} within 120 s")
                    time.sleep(0.02)
                if events[0].name != "accept-submission":
                    raise SystemExit(f"{sent.submission_id}: {events[0].name} {events[0].payload}")
                seconds.append(events[0].at - submitted)
        finally:
            server.stop()
    seconds.sort()
    result = {
        "submissions": len(seconds),
        "documents_per_submission": 3,
        "poll_interval_s": args.poll_s,
        "filed_s": {
            "median": round(statistics.median(seconds), 3),
            "p95": round(seconds[max(0, int(len(seconds) * 0.95) - 1)], 3),
            "max": round(seconds[-1], 3),
            "min": round(seconds[0], 3),
        },
    }
    write_result(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
