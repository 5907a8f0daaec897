"""`make bench-search`: the search for clerks and approvers (`GET /api/v1/search`) over 10,000 documents.

The whole stack starts on loopback; the ingest database is filled with `--documents` documents (default 10,000)
in 8 org units, 4 statuses, 6 file-plan classes and 3 years, each with a German text of about 130 words (8 topic
words among ordinary ones; a rare word in 1 % of them), written through the search index's own repository (the
same stems as an upload). Then each typical query runs
`--rounds` times through the HTTP route with its facets: a common word, another word form ("Anträge" for "Antrag"),
two words, a rare word, a facet filter, and a clerk (need-to-know in the query) beside an admin (everything).
Writes p50/p99 per query and over all to bench-results/search.json.
"""

import argparse
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy.orm import sessionmaker

from devstack.stack import Ports, Stack
from services.ingest.domain import DocumentStatus
from services.ingest.tables import AkteRow, DocumentRow
from services.ingest.unit_of_work import IngestUnitOfWork
from shared.auth import issue_token
from shared.db import make_engine
from tests.bench import stop_cleanly_on_sigterm, write_result
from tests.bench.pipeline import percentile

JWT_SECRET = "bench-secret-0123456789abcdef0123456789"
ORG_UNITS = ["10", "20", "30", "50", "51", "63", "66", "70"]
CLASSES = ["20.30", "30.10", "50.10", "51.20", "63.01", "66.20"]
TYPES = ["Antrag", "Bescheid", "Widerspruch", "Rechnung", "Vermerk", "Gutachten"]
STATUSES = [DocumentStatus.RECEIVED, DocumentStatus.IN_REVIEW, DocumentStatus.APPROVED, DocumentStatus.ARCHIVED]
TEXT_WORDS = (
    "Antrag Anträge Bescheid Widerspruch Baugenehmigung Carport Gartenhaus Straßenreinigung Sondernutzung Gewerbe "
    "Anmeldung Kita Betreuung Zuschuss Förderung Rechnung Mahnung Frist Zahlung Grundstück Bebauungsplan Stellungnahme "
    "Nachbar Lärm Baum Fällung Genehmigung Auflage Gebühr Erstattung Schule Schülerbeförderung Wohngeld Unterlagen "
    "Nachweis Einkommen Miete Vermieter Eingang Prüfung Entscheidung Akte Vorgang Verwaltung Bürger Stadt Gemeinde"
)
VOCABULARY = TEXT_WORDS.split()
# The words around the topic words: a letter's ordinary German (each document has ~120 of them).
FILLER_WORDS = (
    "der die das und ist ein eine für mit von auf im zu den des dem sich nicht wir Sie Ihr Ihre bitte wird werden "
    "wurde hat haben sehr geehrte Damen Herren freundlichen Grüßen hiermit beziehen uns vom Schreiben gemäß nach "
    "bis zum zur Tag Monat Jahr Seite Anlage Kopie Original Datum Zeichen Telefon"
)
FILLER = FILLER_WORDS.split()
RARE = ["Schülerbeförderung", "Denkmalschutz", "Hundesteuer", "Winterdienst"]  # each in about 1 % of the documents
QUERIES = {
    "common_word": ("Antrag", {}),
    "other_word_form": ("Anträge", {}),
    "two_words": ("Baugenehmigung Carport", {}),
    "rare_word": ("Hundesteuer", {}),
    "facet_filter": ("Bescheid", {"status": "archived", "year": "2025"}),
}


def token(user: str, roles: frozenset[str], org_units: frozenset[str] = frozenset()) -> dict[str, str]:
    issued = issue_token(user, roles, JWT_SECRET, timedelta(hours=3), org_units=org_units)
    return {"Authorization": f"Bearer {issued}"}


def fill(database_url: str, count: int, seed: int = 17) -> None:
    """`count` documents with entries in the search index, in batches of 500 (one unit of work each)."""
    rng = random.Random(seed)
    sessions = sessionmaker(make_engine(database_url), expire_on_commit=False)
    akten = [
        (f"{cls}-{year}/{n:04d}", cls, year, n) for cls in CLASSES for year in (2024, 2025, 2026) for n in range(30)
    ]
    uow = IngestUnitOfWork(sessions)
    with uow:
        for aktenzeichen, cls, year, n in akten:
            uow.filing.add_akte(
                AkteRow(
                    aktenzeichen=aktenzeichen,
                    file_plan_class=cls,
                    year=year,
                    seq=n + 1,
                    title=f"Akte {rng.choice(VOCABULARY)} {n}",
                    created_by="bench",
                    org_unit=rng.choice(ORG_UNITS),
                )
            )
    for start in range(0, count, 500):
        uow = IngestUnitOfWork(sessions)
        with uow:
            for _ in range(start, min(count, start + 500)):
                _document(uow, rng, rng.choice(akten))


def _document(uow: IngestUnitOfWork, rng: random.Random, akte: tuple[str, str, int, int]) -> None:
    aktenzeichen, _, year, _ = akte
    document_id = str(uuid.uuid4())
    row = DocumentRow(
        document_id=document_id,
        title=f"{rng.choice(TYPES)} {rng.choice(VOCABULARY)} {rng.randint(1, 999)}",
        filename="scan.pdf",
        document_type=rng.choice(TYPES),
        aktenzeichen=aktenzeichen,
        submitted_by=f"clerk{rng.randint(1, 40)}",
        created_at=datetime(year, rng.randint(1, 12), rng.randint(1, 28), tzinfo=UTC),
        org_unit=rng.choice(ORG_UNITS),
        confidential=rng.random() < 0.05,
    )
    words = [rng.choice(FILLER) for _ in range(120)] + [rng.choice(VOCABULARY) for _ in range(8)]
    words += [rng.choice(RARE)] if rng.random() < 0.04 else []
    rng.shuffle(words)
    body = " ".join(words)
    uow.search.index(row, body)
    reached = rng.choice(STATUSES)
    for status in STATUSES[: STATUSES.index(reached) + 1]:
        uow.search.status_changed([document_id], status)


def time_queries(stack: Stack, rounds: int) -> dict[str, object]:
    client = httpx.Client(timeout=60)
    url = f"{stack.url('ingest')}/api/v1/search"
    callers = {
        "clerk": token("clerk1", frozenset({"clerk"}), frozenset({"50", "51"})),
        "admin": token("adam", frozenset({"admin"})),
    }
    result: dict[str, object] = {}
    everything: list[float] = []
    for who, headers in callers.items():
        for name, (q, filters) in QUERIES.items():
            seconds, total = [], 0
            for _ in range(rounds):
                started = time.perf_counter()
                response = client.get(url, headers=headers, params={"q": q, **filters})
                seconds.append(time.perf_counter() - started)
                response.raise_for_status()
                total = response.json()["total"]
            everything += seconds
            result[f"{who}_{name}"] = {
                "query": q,
                "filters": filters,
                "hits": total,
                "p50_ms": round(percentile(seconds, 0.5) * 1000, 1),
                "p99_ms": round(percentile(seconds, 0.99) * 1000, 1),
            }
    result["all_queries_p50_ms"] = round(percentile(everything, 0.5) * 1000, 1)
    result["all_queries_p99_ms"] = round(percentile(everything, 0.99) * 1000, 1)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--output", type=Path, default=Path("bench-results/search.json"))
    args = parser.parse_args()
    stop_cleanly_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="eakte-bench-search-") as tmp:
        stack = Stack(Path(tmp), Ports.free(), jwt_secret=JWT_SECRET)
        try:
            stack.start_infra()
            stack.start_services()
            started = time.perf_counter()
            fill(f"sqlite:///{Path(tmp) / 'ingest.db'}", args.documents)
            fill_s = time.perf_counter() - started
            print(f"[bench-search] {args.documents} documents indexed in {fill_s:.1f} s", file=sys.stderr)
            timings = time_queries(stack, args.rounds)
        finally:
            stack.stop()
    result = {
        "benchmark": "search for clerks and approvers: GET /api/v1/search with facets (SQLite FTS5, Snowball stems)",
        "documents": args.documents,
        "rounds_per_query": args.rounds,
        "index_ms_per_document": round(fill_s * 1000 / max(args.documents, 1), 2),
        **timings,
    }
    write_result(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
