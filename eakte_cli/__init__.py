"""The `eakte` command: development tokens, intake progress, archive checks, and running the stack here.

It lives beside the services, not in `shared/`: it may use the development tooling (`devstack`).
"""

import argparse
import sys
from datetime import timedelta

import httpx

from devstack.run import run_down, run_up
from eakte_cli import importer, previews, repair
from eakte_cli.evidence import add_renew_command, evidence_line
from shared.auth import InvalidRoles, issue_token, parse_org_units, parse_roles
from shared.db import make_engine
from shared.migrations import SERVICES, SchemaNotCurrent, new_revision, service_schema, upgrade
from shared.reserved_names import is_reserved
from shared.settings import get_settings


def _token(args: argparse.Namespace) -> int:
    try:
        roles = parse_roles(args.roles)
    except InvalidRoles as exc:
        print(f"eakte token: {exc}", file=sys.stderr)
        return 2
    settings = get_settings()
    if is_reserved(args.user, settings.hotfolder_user):
        print(f"eakte token: {args.user!r} is a name reserved for the system; nobody signs in with it", file=sys.stderr)
        return 2
    ttl = timedelta(hours=args.hours or settings.token_ttl_hours)
    print(issue_token(args.user, roles, settings.jwt_secret, ttl, parse_org_units(args.org_units)))
    return 0


def _status(args: argparse.Namespace) -> int:
    """The intake progress figure, asked from the running ingest service with a short-lived admin token."""
    settings = get_settings()
    token = issue_token("eakte-cli", frozenset({"admin"}), settings.jwt_secret, timedelta(minutes=5))
    url = args.url or f"http://127.0.0.1:{settings.ingest_port}"
    try:
        response = httpx.get(f"{url}/api/v1/intake/progress", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        print(f"eakte status: the ingest service at {url} does not answer: {exc}", file=sys.stderr)
        return 1
    p = response.json()
    print(
        f"intake: {p['done']} done, {p['pending']} pending, {p['failed']} failed, "
        f"{p['duplicates']} duplicates ({p['total']} in all)"
    )
    return 0


def _archive_verify(args: argparse.Namespace) -> int:
    """Re-read archived packages and compare every manifest hash; exit code 2 when any is not ok."""
    settings = get_settings()
    token = issue_token("eakte-cli", frozenset({"admin"}), settings.jwt_secret, timedelta(minutes=30))
    url = args.url or f"http://127.0.0.1:{settings.archive_port}"
    body: dict[str, object] = {"sample": args.sample} if args.sample else {}
    if args.evidence:
        body["evidence"] = True
    try:
        response = httpx.post(
            f"{url}/api/v1/archive/verify", json=body, timeout=None, headers={"Authorization": f"Bearer {token}"}
        )
        response.raise_for_status()
    except httpx.HTTPError as exc:
        print(f"eakte archive verify: the archive service at {url} does not answer: {exc}", file=sys.stderr)
        return 1
    report = response.json()
    for result in report["results"]:
        print(f"{result['document_id']}  {result['result']}  {'; '.join(result['problems'])}".rstrip())
        if result.get("evidence") is not None:
            print(evidence_line(result["evidence"]))
    print(f"checked {report['checked']}: {report['ok']} ok, {report['mismatch']} mismatch, {report['missing']} missing")
    if report.get("evidence_ok") is not None:
        print(f"evidence records: {report['evidence_ok']} ok, {report['evidence_failed']} not ok")
    evidence_failed = report.get("evidence_failed") or 0
    return 0 if report["ok"] == report["checked"] and not evidence_failed else 2


def _migrate(args: argparse.Namespace) -> int:
    """Upgrade every service's database (or one) to this release's schema; exit code 1 when one cannot be."""
    if args.new:
        if not args.service:
            print("eakte migrate --new: name the service (--service)", file=sys.stderr)
            return 2
        print(new_revision(service_schema(args.service), args.new))
        return 0
    settings = get_settings()
    failed = 0
    for service in [args.service] if args.service else SERVICES:
        engine = make_engine(settings.database_url_for(service))
        try:
            before, after = upgrade(engine, service_schema(service))
        except SchemaNotCurrent as exc:
            print(f"{service}: {exc}", file=sys.stderr)
            failed += 1
            continue
        finally:
            engine.dispose()
        print(f"{service}: at {after}" if before == after else f"{service}: {before or 'empty'} -> {after}")
    return 1 if failed else 0


def _up(args: argparse.Namespace) -> int:
    return run_up(args.replicas)


def _down(_args: argparse.Namespace) -> int:
    return run_down()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="eakte", description="E-Akte document workflow service")
    commands = parser.add_subparsers(dest="command", required=True)

    token = commands.add_parser("token", help="print a development bearer token (JWT) on stdout")
    token.add_argument("--user", required=True, help="user name, the token's `sub`")
    token.add_argument("--roles", required=True, help="comma-separated: clerk,approver,records_officer,admin")
    token.add_argument("--hours", type=int, default=0, help="validity in hours (default: EAKTE_TOKEN_TTL_HOURS)")
    token.add_argument("--org-units", default="", help="comma-separated org units the person works for (need-to-know)")
    token.set_defaults(func=_token)

    status = commands.add_parser("status", help="intake progress: done / pending / failed")
    status.add_argument(
        "--url", default="", help="ingest service address (default: http://127.0.0.1:EAKTE_INGEST_PORT)"
    )
    status.set_defaults(func=_status)

    archive = commands.add_parser("archive", help="records office tasks").add_subparsers(dest="archive", required=True)
    verify = archive.add_parser("verify", help="re-read archived packages and compare every manifest hash")
    verify.add_argument("--sample", type=int, default=0, help="check N random packages (default: all)")
    verify.add_argument("--url", default="", help="archive service address (default: 127.0.0.1:EAKTE_ARCHIVE_PORT)")
    verify.add_argument(
        "--evidence", action="store_true", help="also check every evidence record: hash tree, time-stamp, TSA chain"
    )
    verify.set_defaults(func=_archive_verify)
    add_renew_command(archive)

    repair.add_commands(commands)  # eakte dlq ..., eakte outbox [retry ID]

    migrate = commands.add_parser("migrate", help="upgrade the services' databases to this release's schema")
    migrate.add_argument("--service", choices=SERVICES, help="only this service's database")
    migrate.add_argument(
        "--new", metavar="MESSAGE", default="", help="write the service's next revision from its models (no database)"
    )
    migrate.set_defaults(func=_migrate)

    importer.add_parser(commands)
    previews.add_commands(commands)  # eakte previews backfill

    up = commands.add_parser("up", help="start Kafka, MinIO and the services on 127.0.0.1; Ctrl-C stops them")
    up.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="N of each service (ingest, workflow, archive) on their own ports, on one PostgreSQL (default 1: SQLite)",
    )
    up.set_defaults(func=_up)
    commands.add_parser("down", help="stop what a running `eakte up` started").set_defaults(func=_down)

    args = parser.parse_args(argv)
    return args.func(args)
