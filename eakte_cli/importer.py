"""`eakte import DIR --index index.csv`: file a scanning provider's delivery through the ingest service's upload.

Each row is one ordinary upload (`POST /api/v1/documents`): the same intake checks, duplicate rule and
quarantine as a clerk's upload, no side door. A few rows are in flight at once (`--concurrency`); each file is
streamed from disk; the report is the journal, so the same command continues after Ctrl-C or a kill.
"""

import argparse
import signal
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx

from eakte_cli.backlog import (
    Journal,
    MappingError,
    Outcome,
    Planned,
    Progress,
    count_rows,
    load_mapping,
    open_index,
    plan_row,
    read_index,
)
from shared.auth import issue_token, parse_org_units
from shared.settings import get_settings

RETRIES = 5
TOKEN_TTL = timedelta(hours=2)


class ServiceUnavailable(RuntimeError):
    """The ingest service does not answer (or answers 5xx) even after retries: stop, resume later."""


@dataclass
class Uploader:
    """Sends one planned row as an upload and says what became of it."""

    client: httpx.Client
    url: str
    token: Callable[[], str]

    def send(self, planned: Planned) -> Outcome:
        for attempt in range(RETRIES):
            try:
                response = self._post(planned)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            except OSError as exc:  # the file went away or became unreadable meanwhile
                return Outcome(planned.row, planned.file, "failed", reason=f"unreadable_file: {exc}")
            else:
                if response.status_code in (401, 403):  # the token is not taken: no row could be, stop now
                    raise ServiceUnavailable(f"the ingest service refuses the token: {response.text[:200]}")
                if response.status_code < 500:
                    return outcome_of(planned, response.status_code, _json(response))
                problem = f"HTTP {response.status_code}: {response.text[:200]}"
            time.sleep(min(2.0**attempt, 15.0))
        raise ServiceUnavailable(f"the ingest service at {self.url} does not take row {planned.row}: {problem}")

    def _post(self, planned: Planned) -> httpx.Response:
        with planned.path.open("rb") as handle:  # httpx streams the file part in chunks
            return self.client.post(
                f"{self.url}/api/v1/documents",
                data=planned.form,
                files={"file": (planned.path.name, handle, "application/octet-stream")},
                headers={"Authorization": f"Bearer {self.token()}"},
            )


def _json(response: httpx.Response) -> dict[str, object]:
    try:
        body = response.json()
    except ValueError:
        return {"reason": response.text[:200]}
    return body if isinstance(body, dict) else {}


def outcome_of(planned: Planned, status: int, body: dict[str, object]) -> Outcome:
    """The report row of an upload's answer: 201 filed, 409 duplicate, 422 with a quarantine id quarantined;
    any other refusal (unknown class or workflow, bad field) failed, with the service's reason."""
    text = {key: str(value) for key, value in body.items() if value is not None}
    if status == 201:
        return Outcome(planned.row, planned.file, "filed", text.get("document_id", ""), text.get("aktenzeichen", ""))
    if status == 409 and text.get("error") == "duplicate":
        earlier = text.get("document_id", "")
        reason = f"duplicate of {earlier}" if earlier else "the same bytes were filed before"
        return Outcome(planned.row, planned.file, "duplicate", earlier, reason=reason)
    if text.get("quarantine_id"):
        reason = f"{text.get('reason', '')}: {text.get('detail', '')}".strip(": ")
        return Outcome(planned.row, planned.file, "quarantined", quarantine_id=text["quarantine_id"], reason=reason)
    if text.get("error") == "invalid_request":  # {"reason": machine-readable, "message": in words}
        reason = f"{text.get('reason', '')}: {text.get('message', '')}"
    else:
        reason = f"{text.get('error', f'HTTP {status}')}: {text.get('reason', '')}"
    return Outcome(planned.row, planned.file, "failed", reason=reason.strip(": "))


def _rows(args: argparse.Namespace, journal: Journal) -> Iterator[Planned | Outcome]:
    """The rows not yet in the journal, checked; streamed from the index."""
    mapping = load_mapping(args.mapping)
    delivery = Path(args.dir)
    with open_index(args.index, mapping) as text:
        for row, fields in read_index(text, mapping):
            if row not in journal.done:
                yield plan_row(row, fields, delivery, mapping, args.workflow)


def run_import(
    rows: Iterator[Planned | Outcome],
    send: Callable[[Planned], Outcome],
    journal: Journal,
    progress: Progress,
    concurrency: int,
) -> None:
    """Send the rows, at most `concurrency` at once, and journal each outcome as it comes.

    Ctrl-C (KeyboardInterrupt) or a refusing service: what is in flight is finished and journaled, then it
    stops; re-running continues after the journaled rows.
    """
    in_flight: set[Future[Outcome]] = set()

    def settle(futures: set[Future[Outcome]]) -> None:
        for future in futures:
            in_flight.discard(future)
            journal.record(future.result())
            progress.step()

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        try:
            for item in rows:
                if isinstance(item, Outcome):
                    journal.record(item)
                    progress.step()
                    continue
                in_flight.add(pool.submit(send, item))
                if len(in_flight) >= concurrency:
                    settle(wait(in_flight, return_when=FIRST_COMPLETED).done)
            while in_flight:
                settle(wait(in_flight, return_when=FIRST_COMPLETED).done)
        finally:
            _drain(in_flight, journal)


def _drain(in_flight: set[Future[Outcome]], journal: Journal) -> None:
    """After an interruption: journal what finished; what failed for want of the service stays to be re-run."""
    for future in list(in_flight):
        try:
            journal.record(future.result())
        except (ServiceUnavailable, KeyboardInterrupt):
            continue


def _token_source(args: argparse.Namespace) -> Callable[[], str]:
    if args.token:
        return lambda: str(args.token)
    settings = get_settings()
    issued: list[tuple[float, str]] = []

    def token() -> str:  # renewed before it runs out: an overnight import outlives any one token
        if not issued or time.monotonic() - issued[-1][0] > TOKEN_TTL.total_seconds() / 2:
            roles = frozenset({"clerk", "admin"})
            org_units = parse_org_units(args.org_units)
            issued[:] = [(time.monotonic(), issue_token(args.user, roles, settings.jwt_secret, TOKEN_TTL, org_units))]
        return issued[-1][1]

    return token


def default_report(index: Path) -> Path:
    """Beside the index: `index.csv` -> `index.report.csv`."""
    return index.with_name(f"{index.stem}.report.csv")


def main_import(args: argparse.Namespace) -> int:
    """The `eakte import` command: 0 all rows filed (or duplicates), 3 some quarantined or failed, 1 stopped."""
    if not Path(args.dir).is_dir():
        print(f"eakte import: {args.dir} is not a folder", file=sys.stderr)
        return 2
    report = args.report or default_report(args.index)
    try:
        total = count_rows(args.index, load_mapping(args.mapping))
    except (MappingError, OSError, UnicodeDecodeError) as exc:
        print(f"eakte import: {exc}", file=sys.stderr)
        return 2
    journal = Journal(report).open()
    progress = Progress(total, len(journal.done))
    signal.signal(signal.SIGTERM, _interrupt)  # `kill`: finish what is in flight, like Ctrl-C
    url = args.url or get_settings().service_url("ingest")
    client = httpx.Client(timeout=httpx.Timeout(300.0, connect=10.0))
    uploader = Uploader(client, url.rstrip("/"), _token_source(args))
    try:
        run_import(_rows(args, journal), uploader.send, journal, progress, max(1, args.concurrency))
    except KeyboardInterrupt:
        return _stopped(journal, progress, report, "interrupted")
    except ServiceUnavailable as exc:
        return _stopped(journal, progress, report, str(exc))
    finally:
        client.close()
        journal.close()
    progress.close()
    counts = journal.counts
    print(
        f"import: {len(journal.done)} rows: {counts['filed']} filed, {counts['duplicate']} duplicates, "
        f"{counts['quarantined']} quarantined, {counts['failed']} failed; report: {report}"
    )
    return 3 if counts["quarantined"] or counts["failed"] else 0


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _stopped(journal: Journal, progress: Progress, report: Path, why: str) -> int:
    progress.close()
    print(
        f"\neakte import: stopped ({why}); {len(journal.done)} rows are in {report}. "
        "Run the same command again to continue.",
        file=sys.stderr,
    )
    return 130 if why == "interrupted" else 1


def add_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    command = commands.add_parser(
        "import", help="file a scanning provider's delivery (folder + CSV index) through the ingest service"
    )
    command.add_argument("dir", help="the delivery folder; the index names files relative to it")
    command.add_argument("--index", type=Path, required=True, help="the index (CSV), one row per file")
    command.add_argument("--mapping", type=Path, help="YAML: which column is which field, delimiter, encoding")
    command.add_argument("--workflow", default="none", help="workflow of rows that name none (default: none)")
    command.add_argument("--report", type=Path, help="the report CSV (default: beside the index, *.report.csv)")
    command.add_argument("--concurrency", type=int, default=4, help="uploads in flight at once (default 4)")
    command.add_argument("--url", default="", help="ingest service address (default: from the settings)")
    command.add_argument("--user", default="eakte-import", help="who the documents are submitted by")
    command.add_argument("--org-units", default="", help="comma-separated org units of that user (need-to-know)")
    command.add_argument("--token", default="", help="a bearer token to use instead of a development token")
    command.set_defaults(func=main_import)
