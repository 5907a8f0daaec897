"""Which workflow names exist: read from the workflow definitions directory, configuration both services share.

The ingest service checks an upload's `workflow` against these names, so that a typo is a clear 422
at upload instead of a document that never reaches an inbox. The workflow service owns the
definitions themselves (services/workflow/definitions.py); this reads only their names and aliases.
"""

from pathlib import Path
from typing import Any

import yaml

from shared.settings import CONFIG_DIR, Settings

WORKFLOWS_DIR = CONFIG_DIR / "workflows"
ORG_UNITS_FILE = "org_units.yaml"


def definitions_dir(settings: Settings) -> Path:
    return Path(settings.workflow_definitions_dir) if settings.workflow_definitions_dir else WORKFLOWS_DIR


def _definitions(directory: Path) -> list[dict[str, Any]]:
    """Every readable definition document; unreadable files are the workflow service's to report."""
    documents = []
    for path in sorted(directory.glob("*.yaml")):
        if path.name == ORG_UNITS_FILE:
            continue
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(document, dict) and document.get("name"):
            documents.append(document)
    return documents


def workflow_names(directory: Path) -> frozenset[str]:
    """Every definition's name and aliases."""
    names: set[str] = set()
    for document in _definitions(directory):
        names.add(str(document["name"]))
        names.update(str(alias) for alias in document.get("aliases") or [])
    return frozenset(names)


def workflow_titles(directory: Path) -> dict[str, str]:
    """Name -> human title of each definition, the default one first (what a clerk picks from)."""
    documents = sorted(_definitions(directory), key=lambda d: (not d.get("default"), str(d["name"])))
    return {str(d["name"]): str(d.get("title") or d["name"]) for d in documents}
