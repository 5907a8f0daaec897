"""`eakte previews backfill`: page images for documents taken in before previews existed.

Asks the running ingest service (with a short-lived admin token) to queue a preview job for every document
without one; its preview worker renders them off the request path. Exit codes: 0 done, 1 unreachable or refused.
"""

import argparse
import sys
from datetime import timedelta

import httpx

from shared.auth import issue_token
from shared.settings import get_settings


def _backfill(args: argparse.Namespace) -> int:
    settings = get_settings()
    token = issue_token("eakte-cli", frozenset({"admin"}), settings.jwt_secret, timedelta(minutes=5))
    url = args.url or settings.service_url("ingest")
    queued_in_all = 0
    while True:
        try:
            response = httpx.post(
                f"{url}/api/v1/previews/backfill",
                params={"limit": args.batch},
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            print(f"eakte previews backfill: the ingest service at {url} does not answer: {exc}", file=sys.stderr)
            return 1
        queued = int(response.json()["queued"])
        queued_in_all += queued
        if queued < args.batch:
            break
    print(f"previews: {queued_in_all} document(s) queued for page images")
    return 0


def add_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    previews = commands.add_parser("previews", help="page previews of documents").add_subparsers(
        dest="previews", required=True
    )
    backfill = previews.add_parser("backfill", help="queue page images for documents that have none yet")
    backfill.add_argument("--url", default="", help="the ingest service (default: this machine's)")
    backfill.add_argument("--batch", type=int, default=1000, help="documents queued per request (default 1000)")
    backfill.set_defaults(func=_backfill)
