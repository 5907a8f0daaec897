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


def org_units_file(settings: Settings) -> Path:
    """The municipality's org units: `EAKTE_ORG_UNITS_FILE`, else org_units.yaml beside the definitions."""
    return Path(settings.org_units_file) if settings.org_units_file else definitions_dir(settings) / ORG_UNITS_FILE


def org_units_of(settings: Settings, user: str) -> frozenset[str]:
    """The org units `user` belongs to (member or head) by the org-unit file; none if it cannot be read.

    The portal's development sign-in gives its people these (the workflow service validates the file)."""
    try:
        document = yaml.safe_load(org_units_file(settings).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return frozenset()
    units = document.get("org_units") if isinstance(document, dict) else None
    if not isinstance(units, dict):
        return frozenset()
    return frozenset(
        str(unit_id)
        for unit_id, unit in units.items()
        if isinstance(unit, dict) and (user == unit.get("head") or user in (unit.get("members") or []))
    )
