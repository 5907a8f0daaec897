"""`make bench-notify`: how long a notification mail takes, from the decision to the mail received.

Starts its own stack and a receiving SMTP server (aiosmtpd) on loopback; the workflow service mails through it.
The approver is known to hold the `approver` role (she opened her inbox once). Measured, for N documents of the
`default` workflow (one sign-off by the approver role):

- event published → the new-task mail received by the approver (intake of the event, queue, SMTP);
- decision (return for revision) answered → the mail received by the submitter.

Prints and writes JSON with p50/p95/max.
"""

import argparse
import time
from pathlib import Path

import httpx

from tests.bench import bench_stack, stop_cleanly_on_sigterm, write_result
from tests.bench.decisions import publish_documents, wait_for_tasks
from tests.bench.pipeline import percentile
from tests.conftest import token
from tests.smtp_server import SmtpServer

JWT_SECRET = "bench-secret-0123456789abcdef0123456789"
APPROVER, SUBMITTER = "bench-approver", "bench-clerk"  # the submitter of tests.bench.decisions' documents


def _arrived(smtp: SmtpServer, address: str, subject: str, count: int, timeout_s: float = 120) -> float:
    """When the `count`-th mail to `address` with `subject` in its subject is there (the titles repeat)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sum(subject in mail.subject for mail in smtp.to(address)) >= count:
            return time.monotonic()
        time.sleep(0.01)
    raise SystemExit(f"no mail '{subject}' to {address} within {timeout_s:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.2, help="EAKTE_MAIL_SEND_INTERVAL_S")
    parser.add_argument("--output", type=Path, default=Path("bench-results/notifications.json"))
    args = parser.parse_args()
    stop_cleanly_on_sigterm()
    smtp = SmtpServer().start()
    env = {"EAKTE_SMTP_URL": smtp.url, "EAKTE_MAIL_SEND_INTERVAL_S": str(args.interval)}
    new_task, returned = [], []
    try:
        with bench_stack(JWT_SECRET, base_env={"workflow": env}) as stack, httpx.Client(timeout=30) as http:
            tasks_url = f"{stack.url('workflow')}/api/v1/tasks"
            approver = token(APPROVER, "approver", secret=JWT_SECRET)
            http.get(tasks_url, headers=approver).raise_for_status()  # seen with the role: mails reach her
            for number in range(1, args.documents + 1):
                published = time.monotonic()
                ids = publish_documents(stack, 1)
                [task] = wait_for_tasks(http, tasks_url, approver, ids)
                new_task.append(_arrived(smtp, f"{APPROVER}@localhost", "Neue Aufgabe: ", number) - published)
                answer = http.post(
                    f"{tasks_url}/{task['task_id']}/decision",
                    headers=approver,
                    json={"decision": "return", "comment": "Bitte ergänzen"},
                )
                answer.raise_for_status()
                decided = time.monotonic()
                subject = "Zur Überarbeitung zurückgegeben: "
                returned.append(_arrived(smtp, f"{SUBMITTER}@localhost", subject, number) - decided)
    finally:
        smtp.stop()
    write_result(
        args.output,
        {
            "documents": args.documents,
            "send_interval_s": args.interval,
            "published_to_new_task_mail_p50_s": round(percentile(new_task, 0.5), 3),
            "published_to_new_task_mail_p95_s": round(percentile(new_task, 0.95), 3),
            "decision_to_mail_p50_s": round(percentile(returned, 0.5), 3),
            "decision_to_mail_p95_s": round(percentile(returned, 0.95), 3),
            "decision_to_mail_max_s": round(max(returned), 3),
        },
    )


if __name__ == "__main__":
    main()
