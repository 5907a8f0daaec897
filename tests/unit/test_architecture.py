"""The shape the services keep: rules in the domain, one transaction boundary, small functions.

These read the source, as a reviewer would; they fail when a change breaks the layering the README describes.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = sorted([*ROOT.glob("services/**/*.py"), *ROOT.glob("shared/**/*.py")])
DOMAIN = sorted(
    [*ROOT.glob("services/*/domain.py"), *ROOT.glob("services/*/domain/*.py"), *ROOT.glob("services/*/domain_*.py")]
)
# Rules in modules of their own beside a service's domain.py (evidence records: RFC 4998 hash trees).
DOMAIN += [ROOT / "services/archive/ers.py"]
FORBIDDEN_IN_DOMAIN = ("fastapi", "faststream", "kafka", "aiokafka", "minio", "sqlalchemy", "httpx", "starlette")
MAX_FUNCTION_LINES = 60
MAX_COMMIT_SITES = 12


def _functions(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    return [
        (node.end_lineno - node.lineno + 1, f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None
    ]


def _imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module.split(".")[0])
    return modules


def test_there_are_domain_modules_to_check() -> None:
    assert {p.parts[-2] if p.name == "domain.py" else p.parts[-3] for p in DOMAIN} >= {"ingest", "workflow", "archive"}


@pytest.mark.parametrize("path", DOMAIN, ids=lambda p: str(p.relative_to(ROOT)))
def test_domain_modules_import_no_framework_or_adapter(path: Path) -> None:
    assert not _imported_modules(path) & set(FORBIDDEN_IN_DOMAIN)


def test_no_function_in_the_product_is_longer_than_sixty_lines() -> None:
    too_long = [
        f"{where} ({lines} lines)"
        for path in PRODUCT
        for lines, where in _functions(path)
        if lines > MAX_FUNCTION_LINES
    ]
    assert too_long == []


def test_transactions_are_committed_only_by_the_units_of_work_and_the_relay() -> None:
    sites = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in PRODUCT
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\.commit\(\)", line)
    ]
    assert len(sites) <= MAX_COMMIT_SITES, sites
    assert all("unit_of_work" in site or "outbox" in site for site in sites), sites


def test_shared_does_not_reach_into_the_development_tooling() -> None:
    assert [p for p in ROOT.glob("shared/**/*.py") if "devstack" in _imported_modules(p)] == []
