"""Fetch and build what the stack needs, once, into the cache: `python -m devstack.prepare [--postgres]`."""

import argparse
import sys
import time

from devstack.asyncapi_spec import asyncapi_schema
from devstack.browser_tools import ensure_chromium
from devstack.compose import compose_binary
from devstack.dovecot import dovecot_binary
from devstack.ers_verifier import bouncy_castle_libs
from devstack.fitconnect_schema import metadata_schema
from devstack.fonts import ensure_record_font
from devstack.kafka import kafka_libs
from devstack.keycloak import java21_home, keycloak_home
from devstack.minio import minio_binary
from devstack.ocr_tools import ensure_ocr_tools
from devstack.postgres import postgres_bin_dir
from devstack.processes import SetupError
from devstack.tsa import openssl
from shared.settings import get_settings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", action="store_true", help="also make sure PostgreSQL server binaries exist")
    parser.add_argument("--browser", action="store_true", help="also make sure Chromium exists (browser tests)")
    parser.add_argument("--compose", action="store_true", help="also build the compose client (compose file test)")
    parser.add_argument("--keycloak", action="store_true", help="also fetch Keycloak (the OIDC tests fetch it too)")
    parser.add_argument("--asyncapi", action="store_true", help="also fetch the AsyncAPI schema (document test)")
    parser.add_argument("--mail", action="store_true", help="also make sure Dovecot exists (mailbox tests)")
    parser.add_argument("--evidence", action="store_true", help="also fetch Bouncy Castle and OpenSSL (evidence tests)")
    args = parser.parse_args()
    started = time.monotonic()
    try:
        print(f"[eakte] Kafka jars: {kafka_libs()}", flush=True)
        print(f"[eakte] MinIO server: {minio_binary()}", flush=True)
        print(f"[eakte] font for PDF records: {ensure_record_font()}", flush=True)
        print(f"[eakte] FIT-Connect metadata schema: {metadata_schema()}", flush=True)
        if get_settings().ocr_enabled:
            print(f"[eakte] OCR: {ensure_ocr_tools()} with German and English", flush=True)
        if args.postgres:
            print(f"[eakte] PostgreSQL: {postgres_bin_dir()}", flush=True)
        if args.browser:
            print(f"[eakte] browser for the portal tests: {ensure_chromium()}", flush=True)
        if args.compose:
            print(f"[eakte] compose client: {compose_binary()}", flush=True)
        if args.asyncapi:
            print(f"[eakte] AsyncAPI 3.0.0 schema: {asyncapi_schema()}", flush=True)
        if args.keycloak:
            print(f"[eakte] Keycloak: {keycloak_home()} with Java {java21_home()}", flush=True)
        if args.mail:
            print(f"[eakte] Dovecot IMAP server: {dovecot_binary()}", flush=True)
        if args.evidence:
            print(f"[eakte] evidence: {openssl()}, Bouncy Castle {bouncy_castle_libs()}", flush=True)
    except SetupError as exc:
        print(f"[eakte] set-up failed: {exc}", file=sys.stderr, flush=True)
        return 1
    print(f"[eakte] infrastructure ready in {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
