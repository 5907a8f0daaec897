"""Shared test helpers: corpus access and tokens."""

import csv
import uuid
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

import pytest

from shared.auth import issue_token

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"


def corpus_file(name: str) -> Path:
    path = CORPUS / name
    if not path.exists():
        pytest.fail(f"corpus file {path} missing: the tests read ../shared/corpus beside the project root")
    return path


def unique_bytes(name: str) -> bytes:
    """A corpus file made unique by trailing bytes after its end (still the same valid file), so that
    tests do not trip the duplicate check on each other's uploads."""
    return corpus_file(name).read_bytes() + f"\n%test-{uuid.uuid4()}\n".encode()


def corpus_manifest() -> list[dict[str, str]]:
    with (CORPUS / "MANIFEST.tsv").open(newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def token(user: str, *roles: str, secret: str, org_units: Iterable[str] = ()) -> dict[str, str]:
    issued = issue_token(user, frozenset(roles), secret, timedelta(hours=1), org_units=frozenset(org_units))
    return {"Authorization": f"Bearer {issued}"}


# The real stack's fixtures, defined once here so that integration and end-to-end tests share one stack per session.
from tests.stack import api, pdf, settings, stack, topics  # noqa: E402, F401
