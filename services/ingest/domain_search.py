"""Search rules for clerks and approvers: German word stems, the query a user typed, snippets and facets.

Imports nothing of a framework: the index (services.ingest.search) stores and matches what these functions make.
Stems come from the Snowball German stemmer, so "Anträge" finds "Antrag" on SQLite (FTS5 over stemmed tokens)
as on PostgreSQL (its `german` text search configuration).
"""

import html
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import snowballstemmer

WORD = re.compile(r"\w+", re.UNICODE)
MAX_QUERY_WORDS = 12  # more words than anyone types; a longer query is cut, never an error
MAX_BODY_CHARS = 200_000  # the text kept per document for matching and snippets
SNIPPET_CHARS = 220
# The facets of a result list and the query parameter each one filters by.
FACETS: tuple[str, ...] = ("status", "document_type", "file_plan_class", "year")

_stemmer = snowballstemmer.stemmer("german")


def _fold(word: str) -> str:
    """Lower case without diacritics: what the stemmer's output is compared as ("Anträge" -> "antrage")."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=65_536)
def stem(word: str) -> str:
    """The German stem of one word, folded: "Anträge", "Antrag" and "Antrages" give the same stem."""
    return _fold(_stemmer.stemWord(word.casefold()))


def stems(text: str) -> list[str]:
    """The stems of every word of `text`, in order (what the index stores)."""
    return [stem(word) for word in WORD.findall(text)]


def stemmed_text(text: str) -> str:
    return " ".join(stems(text))


@dataclass(frozen=True)
class Query:
    """What a person typed, as stems; empty: no search (the page shows its form only)."""

    text: str
    terms: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.terms


def parse_query(text: str) -> Query:
    words = WORD.findall(text or "")[:MAX_QUERY_WORDS]
    terms = tuple(dict.fromkeys(stem(word) for word in words if stem(word)))
    return Query(text=(text or "").strip(), terms=terms)


def fts5_match(query: Query) -> str:
    """An FTS5 MATCH expression: each stem a quoted prefix term (no operators from user input), all required."""
    return " ".join(f'"{term}"*' for term in query.terms)


@dataclass(frozen=True)
class Filters:
    """The facet values a result list is narrowed to (empty: any)."""

    status: str = ""
    document_type: str = ""
    file_plan_class: str = ""
    year: int | None = None


def _hit_spans(text: str, query: Query) -> list[tuple[int, int]]:
    """Where in `text` words start whose stem begins with one of the query's stems."""
    return [
        (m.start(), m.end())
        for m in WORD.finditer(text)
        if any(stem(m.group()).startswith(term) for term in query.terms)
    ]


def snippet(texts: Sequence[str], query: Query, width: int = SNIPPET_CHARS) -> str:
    """An HTML excerpt around the first hit of the first text that has one: escaped, each hit in <mark>.

    Without a hit (a metadata match elsewhere), the beginning of the first non-empty text."""
    for text in texts:
        spans = _hit_spans(text, query)
        if spans:
            return _excerpt(text, spans, width)
    first = next((t for t in texts if t.strip()), "")
    return _excerpt(first, [], width)


def _excerpt(text: str, spans: list[tuple[int, int]], width: int) -> str:
    start = 0
    if spans:
        start = max(0, spans[0][0] - width // 3)
        while start > 0 and not text[start - 1].isspace() and spans[0][0] - start < width // 2:
            start -= 1
    end = min(len(text), start + width)
    parts: list[str] = ["…" if start > 0 else ""]
    cursor = start
    for begin, finish in spans:
        if begin < start or finish > end:
            continue
        parts += [html.escape(text[cursor:begin]), "<mark>", html.escape(text[begin:finish]), "</mark>"]
        cursor = finish
    parts += [html.escape(text[cursor:end]), "…" if end < len(text) else ""]
    return " ".join("".join(parts).split())


@dataclass
class Facets:
    """For each facet, each value and how many of the visible hits have it (most first)."""

    counts: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    def add(self, facet: str, values: Sequence[tuple[object, int]]) -> None:
        ordered = sorted(((str(v), n) for v, n in values if v not in (None, "")), key=lambda p: (-p[1], p[0]))
        self.counts[facet] = ordered
