"""`eakte archive renew-evidence`, and how `eakte archive verify --evidence` prints a package's evidence."""

import argparse
import sys
from datetime import timedelta
from typing import Any

import httpx

from shared.auth import issue_token
from shared.settings import get_settings


def evidence_line(evidence: dict[str, Any]) -> str:
    """One line per package: evidence ok (time, TSA, record) or the reasons it is not."""
    if evidence["ok"]:
        return f"    evidence ok  {evidence['time']}  {evidence['tsa']}  {evidence['record']}"
    return f"    evidence NOT ok  {'; '.join(evidence['problems'])}"


def _renew(args: argparse.Namespace) -> int:
    """Renew every package's evidence record; exit code 2 when a record could not be renewed."""
    settings = get_settings()
    token = issue_token("eakte-cli", frozenset({"admin"}), settings.jwt_secret, timedelta(minutes=30))
    url = args.url or f"http://127.0.0.1:{settings.archive_port}"
    body = {"algorithm": args.algorithm} if args.algorithm else {}
    try:
        response = httpx.post(
            f"{url}/api/v1/archive/evidence/renew",
            json=body,
            timeout=None,
            headers={"Authorization": f"Bearer {token}"},
        )
    except httpx.HTTPError as exc:
        print(f"eakte archive renew-evidence: the archive service at {url} does not answer: {exc}", file=sys.stderr)
        return 1
    if response.status_code != 200:
        print(f"eakte archive renew-evidence: refused ({response.status_code}): {response.text}", file=sys.stderr)
        return 1
    report = response.json()
    for skipped in report["skipped"]:
        print(f"{skipped['document_id']}  not renewed: {skipped['reason']}")
    kind = "hash-tree renewal" if report["kind"] == "hashtree" else "time-stamp renewal"
    print(f"{kind}: {report['renewed']} record(s) renewed under {report['time_stamps']} time-stamp(s)")
    return 2 if report["skipped"] else 0


def add_renew_command(archive: Any) -> None:
    """`eakte archive renew-evidence [--algorithm sha512]` under the `archive` subcommands."""
    renew = archive.add_parser(
        "renew-evidence", help="renew every evidence record (time-stamp renewal, or hash-tree renewal with --algorithm)"
    )
    renew.add_argument(
        "--algorithm", choices=["sha256", "sha384", "sha512"], default="", help="new hash algorithm (hash-tree renewal)"
    )
    renew.add_argument("--url", default="", help="archive service address (default: 127.0.0.1:EAKTE_ARCHIVE_PORT)")
    renew.set_defaults(func=_renew)
