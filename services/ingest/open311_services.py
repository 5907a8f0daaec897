"""The Open311 report types (`config/open311_services.yaml`), checked against the file plan and the workflows.

Imports nothing of Kafka, MinIO or HTTP; a broken list stops start-up with a message that names the entry.
"""

import re
from collections.abc import Collection
from pathlib import Path

import yaml

from services.ingest.domain import Open311ServiceType
from services.ingest.fileplan import FilePlan

SERVICE_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")
TEXT_FIELDS = ("name", "description", "group", "agency")


class Open311ConfigError(ValueError):
    pass


def parse_services(
    document: object, file_plan: FilePlan, workflows: Collection[str], source: str = "Open311 services"
) -> dict[str, Open311ServiceType]:
    if not isinstance(document, dict) or not isinstance(document.get("services"), list):
        raise Open311ConfigError(f"{source}: expected a mapping with a list `services`")
    services: dict[str, Open311ServiceType] = {}
    for index, entry in enumerate(document["services"]):
        service = _service(entry, f"{source}: services[{index}]", file_plan, workflows)
        if service.code in services:
            raise Open311ConfigError(f"{source}: services[{index}]: code {service.code!r} appears twice")
        services[service.code] = service
    if not services:
        raise Open311ConfigError(f"{source}: no services")
    return services


def _service(entry: object, where: str, file_plan: FilePlan, workflows: Collection[str]) -> Open311ServiceType:
    if not isinstance(entry, dict):
        raise Open311ConfigError(f"{where}: expected a mapping")
    code = str(entry.get("code", ""))
    if not SERVICE_CODE.match(code):
        raise Open311ConfigError(f"{where}: code {code!r} is not like 'schlagloch' (a-z, 0-9, - and _)")
    texts = {name: str(entry.get(name, "") or "").strip() for name in TEXT_FIELDS}
    if not texts["name"]:
        raise Open311ConfigError(f"{where} ({code}): name is missing")
    plan_class = file_plan.get(str(entry.get("file_plan_class", "")))
    if plan_class is None:
        raise Open311ConfigError(f"{where} ({code}): file_plan_class is not a class of the file plan")
    workflow = str(entry.get("workflow", "default"))
    if workflow not in workflows:
        raise Open311ConfigError(f"{where} ({code}): workflow {workflow!r} is not defined")
    keywords = entry.get("keywords", [])
    if not isinstance(keywords, list):
        raise Open311ConfigError(f"{where} ({code}): keywords must be a list")
    org_unit = str(entry.get("org_unit", "") or plan_class.org_unit).strip()
    return Open311ServiceType(
        code=code,
        name=texts["name"],
        description=texts["description"],
        group=texts["group"],
        keywords=tuple(str(k) for k in keywords),
        org_unit=org_unit,
        agency=texts["agency"] or texts["name"],
        file_plan_class=plan_class.number,
        workflow=workflow,
    )


def load_services(path: Path, file_plan: FilePlan, workflows: Collection[str]) -> dict[str, Open311ServiceType]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise Open311ConfigError(f"cannot read the Open311 services {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise Open311ConfigError(f"Open311 services {path} are not valid YAML: {exc}") from exc
    return parse_services(document, file_plan, workflows, str(path))
