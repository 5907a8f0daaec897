"""Workflow definitions and org units from YAML files, validated at start-up with errors that name file and field."""

import hashlib
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from services.workflow.domain import (
    AssigneeSpec,
    CompletionMode,
    Organisation,
    OrgUnit,
    Registry,
    StepDefinition,
    StepType,
    WorkflowDefinition,
    canonical_json,
)
from shared.auth import ROLES
from shared.workflow_catalog import ORG_UNITS_FILE, WORKFLOWS_DIR

SHIPPED_DIR = WORKFLOWS_DIR
_DURATION = re.compile(r"^\s*(\d+)\s*([dhmw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class DefinitionError(ValueError):
    """A definition or org-unit file is not valid; the message names the file and what is wrong."""


def parse_duration(text: str | int) -> timedelta:
    """`3d`, `12h`, `30m`, `2w` (or a number of days)."""
    if isinstance(text, int):
        return timedelta(days=text)
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration like 3d, 12h, 30m or 2w")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Assignee(_Strict):
    user: str | None = None
    role: str | None = None
    org_unit: str | None = None
    members: bool = False

    @model_validator(mode="after")
    def _exactly_one(self) -> "_Assignee":
        given = [k for k in ("user", "role", "org_unit") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("an assignee is exactly one of `user`, `role` or `org_unit`")
        if self.members and not self.org_unit:
            raise ValueError("`members: true` only goes with `org_unit`")
        if self.role and self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}; roles are {sorted(ROLES)}")
        return self

    def spec(self) -> AssigneeSpec:
        return AssigneeSpec(user=self.user, role=self.role, org_unit=self.org_unit, members=self.members)


class _Step(_Strict):
    name: str = Field(min_length=1)
    type: StepType
    mode: CompletionMode | None = None
    quorum: int | None = None
    assignees: list[_Assignee] | None = None
    assignee: _Assignee | None = None
    deadline: str | int
    remind_before: str | int | None = None
    escalate_to: _Assignee | None = None

    @field_validator("deadline", "remind_before")
    @classmethod
    def _duration(cls, value: str | int | None) -> str | int | None:
        if value is not None:
            parse_duration(value)
        return value

    @model_validator(mode="after")
    def _shape(self) -> "_Step":
        if self.type is StepType.SIGNOFF:
            if self.assignee is None or self.assignees is not None or self.mode or self.quorum:
                raise ValueError("a signoff step has exactly one `assignee` (and no `assignees`, `mode`, `quorum`)")
        else:
            if not self.assignees or self.assignee is not None:
                raise ValueError("a cosign step lists its co-signers under `assignees`")
            if self.mode is None:
                raise ValueError("a cosign step needs `mode`: all, any or quorum")
            if self.mode is CompletionMode.QUORUM:
                if self.quorum is None or not 1 <= self.quorum <= len(self.assignees):
                    raise ValueError(f"quorum must be between 1 and the number of assignees ({len(self.assignees)})")
            elif self.quorum is not None:
                raise ValueError("`quorum` only goes with `mode: quorum`")
        deadline = parse_duration(self.deadline)
        if deadline <= timedelta(0):
            raise ValueError("deadline must be positive")
        if self.remind_before is not None and parse_duration(self.remind_before) >= deadline:
            raise ValueError("remind_before must be shorter than the deadline")
        return self

    def definition(self) -> StepDefinition:
        deadline = parse_duration(self.deadline)
        remind = (
            parse_duration(self.remind_before)
            if self.remind_before is not None
            else min(deadline / 2, timedelta(days=1))
        )
        assignees = (self.assignee,) if self.assignee else tuple(self.assignees or ())
        return StepDefinition(
            name=self.name,
            type=self.type,
            assignees=tuple(a.spec() for a in assignees),
            deadline=deadline,
            remind_before=remind,
            mode=self.mode or CompletionMode.ALL,
            quorum=self.quorum or 0,
            escalate_to=self.escalate_to.spec() if self.escalate_to else None,
        )


class _AppliesTo(_Strict):
    document_types: list[str] = []
    file_plan_classes: list[str] = []


class _Definition(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    title: str = ""
    default: bool = False
    aliases: list[str] = []
    applies_to: _AppliesTo = _AppliesTo()
    steps: list[_Step]


class _Unit(_Strict):
    name: str
    head: str
    members: list[str] = []
    parent: str | None = None


class _OrgFile(_Strict):
    org_units: dict[str, _Unit]


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DefinitionError(f"{path}: cannot read YAML: {exc}") from exc


def _errors(path: Path, exc: ValidationError) -> DefinitionError:
    lines = [f"  {'.'.join(map(str, e['loc'])) or '(file)'}: {e['msg']}" for e in exc.errors(include_url=False)]
    return DefinitionError(f"{path}: invalid:\n" + "\n".join(lines))


def load_organisation(path: Path) -> Organisation:
    try:
        parsed = _OrgFile.model_validate(_read_yaml(path))
    except ValidationError as exc:
        raise _errors(path, exc) from exc
    units = {
        unit_id: OrgUnit(unit_id, u.name, u.head, frozenset(u.members), u.parent)
        for unit_id, u in parsed.org_units.items()
    }
    for unit in units.values():
        if unit.parent is not None and unit.parent not in units:
            raise DefinitionError(f"{path}: org unit {unit.unit_id!r} has unknown parent {unit.parent!r}")
    return Organisation(units)


def load_definitions(directory: Path, organisation: Organisation) -> tuple[Registry, dict[str, str]]:
    """Every `*.yaml` in `directory` except the org-unit file; returns the registry and each definition's sha256."""
    if not directory.is_dir():
        raise DefinitionError(f"{directory}: the workflow definitions directory does not exist")
    definitions: dict[str, WorkflowDefinition] = {}
    digests: dict[str, str] = {}
    aliases: dict[str, str] = {}
    claimed_types: dict[str, str] = {}
    claimed_classes: dict[str, str] = {}
    defaults: list[str] = []
    for path in sorted(directory.glob("*.yaml")):
        if path.name == ORG_UNITS_FILE:
            continue
        try:
            parsed = _Definition.model_validate(_read_yaml(path))
        except ValidationError as exc:
            raise _errors(path, exc) from exc
        if parsed.name in definitions or parsed.name in aliases:
            raise DefinitionError(f"{path}: the name {parsed.name!r} is used twice")
        for alias in parsed.aliases:
            if alias in aliases or alias in definitions:
                raise DefinitionError(f"{path}: the alias {alias!r} is used twice")
            aliases[alias] = parsed.name
        for step_index, step in enumerate(parsed.steps, start=1):
            for spec in [*(step.assignees or []), *([step.assignee] if step.assignee else [])] + (
                [step.escalate_to] if step.escalate_to else []
            ):
                if spec.org_unit and spec.org_unit not in organisation.units:
                    raise DefinitionError(f"{path}: step {step_index} names unknown org unit {spec.org_unit!r}")
        for kind, values, claimed in (
            ("document type", parsed.applies_to.document_types, claimed_types),
            ("file plan class", parsed.applies_to.file_plan_classes, claimed_classes),
        ):
            for value in values:
                if value in claimed:
                    raise DefinitionError(f"{path}: {kind} {value!r} is already used by {claimed[value]!r}")
                claimed[value] = parsed.name
        if parsed.default:
            defaults.append(parsed.name)
        definition = WorkflowDefinition(
            name=parsed.name,
            title=parsed.title,
            steps=tuple(step.definition() for step in parsed.steps),
            aliases=tuple(parsed.aliases),
            document_types=tuple(parsed.applies_to.document_types),
            file_plan_classes=tuple(parsed.applies_to.file_plan_classes),
            default=parsed.default,
        )
        definitions[parsed.name] = definition
        digests[parsed.name] = hashlib.sha256(canonical_json(parsed.model_dump(mode="json")).encode()).hexdigest()
    clash = set(aliases) & set(definitions)
    if clash:
        raise DefinitionError(f"{directory}: {sorted(clash)} are both a name and an alias")
    if len(defaults) != 1:
        raise DefinitionError(f"{directory}: exactly one definition must say `default: true`; found {defaults}")
    if "none" not in aliases and "none" not in definitions:
        raise DefinitionError(f"{directory}: no definition answers to the workflow name 'none' (add `aliases: [none]`)")
    return Registry(definitions=definitions, default=defaults[0], aliases=aliases), digests


def definition_to_json(definition: WorkflowDefinition) -> dict[str, Any]:
    """The snapshot a running workflow keeps, so a later change of the file does not touch it."""
    return {
        "name": definition.name,
        "title": definition.title,
        "steps": [
            {
                "name": s.name,
                "type": s.type.value,
                "mode": s.mode.value,
                "quorum": s.quorum,
                "assignees": [_spec_json(a) for a in s.assignees],
                "deadline_s": s.deadline.total_seconds(),
                "remind_before_s": s.remind_before.total_seconds(),
                "escalate_to": _spec_json(s.escalate_to) if s.escalate_to else None,
            }
            for s in definition.steps
        ],
    }


def definition_from_json(data: dict[str, Any]) -> WorkflowDefinition:
    return WorkflowDefinition(
        name=data["name"],
        title=data.get("title", ""),
        steps=tuple(
            StepDefinition(
                name=s["name"],
                type=StepType(s["type"]),
                mode=CompletionMode(s["mode"]),
                quorum=s["quorum"],
                assignees=tuple(AssigneeSpec(**a) for a in s["assignees"]),
                deadline=timedelta(seconds=s["deadline_s"]),
                remind_before=timedelta(seconds=s["remind_before_s"]),
                escalate_to=AssigneeSpec(**s["escalate_to"]) if s["escalate_to"] else None,
            )
            for s in data["steps"]
        ),
    )


def _spec_json(spec: AssigneeSpec) -> dict[str, Any]:
    return {"user": spec.user, "role": spec.role, "org_unit": spec.org_unit, "members": spec.members}


def source_paths(definitions_dir: str, org_units_file: str) -> tuple[Path, Path]:
    directory = Path(definitions_dir) if definitions_dir else SHIPPED_DIR
    org = Path(org_units_file) if org_units_file else directory / ORG_UNITS_FILE
    return directory, org
