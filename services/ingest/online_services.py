"""The online services a FIT-Connect destination receives (config/online_services/services.yaml), read once at
start-up: a broken entry (unknown file plan class or workflow, unreadable schema) stops start-up with a clear
message."""

import json
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, SchemaError

from services.ingest.fileplan import FilePlan
from services.ingest.fitconnect_rules import OnlineService


class OnlineServicesError(ValueError):
    pass


def load_online_services(path: Path, file_plan: FilePlan, workflows: frozenset[str]) -> list[OnlineService]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise OnlineServicesError(f"{path}: {exc}") from exc
    entries = document.get("services") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise OnlineServicesError(f"{path}: expected a list under `services`")
    services = [_service(path, entry, file_plan, workflows) for entry in entries]
    keys = [s.leika for s in services]
    if len(set(keys)) != len(keys):
        raise OnlineServicesError(f"{path}: a LeiKa key is listed twice")
    return services


def _service(path: Path, entry: Any, file_plan: FilePlan, workflows: frozenset[str]) -> OnlineService:
    if not isinstance(entry, dict):
        raise OnlineServicesError(f"{path}: each service is a mapping")
    missing = [k for k in ("name", "title", "leika", "schema", "file_plan_class", "workflow") if not entry.get(k)]
    if missing:
        raise OnlineServicesError(f"{path}: service {entry.get('name')!r} lacks {', '.join(missing)}")
    if file_plan.get(str(entry["file_plan_class"])) is None:
        raise OnlineServicesError(f"{path}: file plan class {entry['file_plan_class']!r} is not in the file plan")
    if str(entry["workflow"]) not in workflows:
        raise OnlineServicesError(f"{path}: workflow {entry['workflow']!r} is not defined")
    schema_path = path.parent / str(entry["schema"])
    try:
        schema = json.loads(schema_path.read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(schema)
    except (OSError, ValueError, SchemaError) as exc:
        raise OnlineServicesError(f"{schema_path}: not a readable JSON schema: {exc}") from exc
    return OnlineService(
        name=str(entry["name"]),
        title=str(entry["title"]),
        leika=str(entry["leika"]),
        schema=schema,
        file_plan_class=str(entry["file_plan_class"]),
        workflow=str(entry["workflow"]),
    )


def load_metadata_schemas(path: Path) -> dict[str, dict[str, Any]]:
    """FITKO's metadata schema file(s) by version (from its `$id`): the versions this subscriber accepts."""
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OnlineServicesError(f"FIT-Connect metadata schema {path}: {exc}") from exc
    version = str(schema.get("$id", "")).split("/metadata/")[-1].split("/")[0]
    if not version or not version[0].isdigit():
        raise OnlineServicesError(f"FIT-Connect metadata schema {path}: its $id names no version")
    return {version: schema}
