"""Workflow rules without infrastructure: step completion, four-eyes with substitution, deadlines, escalation,
the audit chain, and the validation of definition files."""

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from services.workflow.clock import ControllableClock, make_clock
from services.workflow.definitions import (
    SHIPPED_DIR,
    DefinitionError,
    definition_from_json,
    definition_to_json,
    load_definitions,
    load_organisation,
    parse_duration,
)
from services.workflow.domain import (
    Actor,
    AssigneeKind,
    AssigneeSpec,
    CompletionMode,
    Decision,
    DecisionRefused,
    Offer,
    Organisation,
    OrgUnit,
    StepDefinition,
    StepType,
    absent_on,
    chain_entry,
    check_access,
    check_claim,
    check_decision,
    deadline_for,
    escalation_target,
    inbox_access,
    reach_keys,
    step_complete,
    verify_chain,
)

ORG = Organisation(
    {
        "10": OrgUnit("10", "Hauptamt", "hanna", frozenset({"henrik"})),
        "50": OrgUnit("50", "Sozialamt", "sabine", frozenset({"anton", "berta"}), parent="10"),
    }
)


def _step(mode: CompletionMode = CompletionMode.ALL, slots: int = 3, quorum: int = 0, **kw: object) -> StepDefinition:
    return StepDefinition(
        name="Mitzeichnung",
        type=StepType.COSIGN,
        assignees=tuple(AssigneeSpec(role="approver") for _ in range(slots)),
        deadline=timedelta(days=3),
        remind_before=timedelta(days=1),
        mode=mode,
        quorum=quorum,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("mode", "quorum", "approvals", "complete"),
    [
        (CompletionMode.ALL, 0, 2, False),
        (CompletionMode.ALL, 0, 3, True),
        (CompletionMode.ANY, 0, 0, False),
        (CompletionMode.ANY, 0, 1, True),
        (CompletionMode.QUORUM, 2, 1, False),
        (CompletionMode.QUORUM, 2, 2, True),
    ],
)
def test_cosign_completes_with_all_any_or_quorum(
    mode: CompletionMode, quorum: int, approvals: int, complete: bool
) -> None:
    assert step_complete(_step(mode, 3, quorum), approvals) is complete


def test_signoff_needs_one_approval() -> None:
    signoff = StepDefinition("Schluss", StepType.SIGNOFF, (AssigneeSpec(user="sabine"),), timedelta(1), timedelta(0))
    assert not step_complete(signoff, 0) and step_complete(signoff, 1)


ROLE_TASK = Offer(AssigneeKind.ROLE, "approver")
UNIT_TASK = Offer(AssigneeKind.ORG_UNIT, "50")
USER_TASK = Offer(AssigneeKind.USER, "sabine")


def test_submitter_never_acts_through_role_group_escalation_or_substitution() -> None:
    clara = Actor("clara", frozenset({"approver"}), frozenset({"50"}))
    absent_sabine = [Actor("sabine", frozenset({"approver"}), frozenset({"50"}))]
    for offer in (ROLE_TASK, UNIT_TASK, USER_TASK, Offer(AssigneeKind.USER, "x", escalated_to_user="clara")):
        with pytest.raises(DecisionRefused) as refused:
            check_access(clara, absent_sabine, offer, submitted_by="clara")
        assert refused.value.code == "four_eyes"


def test_everyone_who_submitted_a_version_is_excluded() -> None:
    henrik = Actor("henrik", frozenset({"approver"}))
    with pytest.raises(DecisionRefused) as refused:
        check_access(henrik, [], ROLE_TASK, submitted_by=["clara", "henrik"])
    assert refused.value.code == "four_eyes"
    check_access(henrik, [], ROLE_TASK, submitted_by=["clara"])


def test_no_deputy_acts_on_behalf_of_the_submitter() -> None:
    deputy = Actor("henrik", frozenset({"clerk"}))
    absent_submitter = [Actor("sabine", frozenset({"approver"}), frozenset({"50"}))]
    with pytest.raises(DecisionRefused) as refused:
        check_access(deputy, absent_submitter, USER_TASK, submitted_by="sabine")
    assert refused.value.code == "forbidden"


def test_deputy_acts_on_behalf_of_the_absent_assignee() -> None:
    deputy = Actor("henrik", frozenset({"approver"}), frozenset({"10"}))
    access = check_access(deputy, [Actor("sabine", frozenset(), frozenset({"50"}))], USER_TASK, submitted_by="clara")
    assert access.on_behalf_of == "sabine"
    # In their own right, no "on behalf of".
    assert check_access(Actor("sabine", frozenset()), [], USER_TASK, "clara").on_behalf_of is None


def test_group_tasks_reach_members_until_claimed() -> None:
    berta = Actor("berta", frozenset({"approver"}), frozenset({"50"}))
    henrik = Actor("henrik", frozenset({"approver"}), frozenset({"10"}))
    check_access(berta, [], UNIT_TASK, "clara")
    with pytest.raises(DecisionRefused):
        check_access(henrik, [], UNIT_TASK, "clara")
    claimed = Offer(AssigneeKind.ORG_UNIT, "50", claimed_by="anton")
    with pytest.raises(DecisionRefused) as refused:
        check_access(berta, [], claimed, "clara")
    assert refused.value.code == "claimed"
    check_claim(UNIT_TASK)
    with pytest.raises(DecisionRefused):
        check_claim(USER_TASK)


def test_reject_and_return_need_a_reason() -> None:
    for decision in (Decision.REJECT, Decision.RETURN):
        with pytest.raises(DecisionRefused):
            check_decision(decision, " ")
        check_decision(decision, "Bitte Anlage ergänzen")


def test_deadline_and_reminder_times() -> None:
    opened = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    deadline = deadline_for(_step(), opened)
    assert deadline.due_at == datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
    assert deadline.remind_at == datetime(2026, 3, 4, 9, 0, tzinfo=UTC)


def test_escalation_goes_to_the_unit_head_then_up() -> None:
    step = _step()
    assert escalation_target(step, ORG, "50", "anton").user == "sabine"
    assert escalation_target(step, ORG, "50", "sabine").user == "hanna"  # the head is the one late
    assert escalation_target(step, ORG, "10", "hanna").role == "admin"  # nowhere left
    named = _step(escalate_to=AssigneeSpec(role="admin"))
    assert escalation_target(named, ORG, "50", "anton").role == "admin"


def test_absence_covers_whole_days() -> None:
    assert absent_on(date(2026, 3, 2), date(2026, 3, 2), date(2026, 3, 6))
    assert absent_on(date(2026, 3, 6), date(2026, 3, 2), date(2026, 3, 6))
    assert not absent_on(date(2026, 3, 7), date(2026, 3, 2), date(2026, 3, 6))


def _chain(n: int) -> list:
    at = datetime(2026, 3, 2, tzinfo=UTC)
    entries: list = []
    for i in range(n):
        entries.append(chain_entry(entries[-1] if entries else None, "doc", "decided", "anton", None, {"i": i}, at))
    return entries


def test_audit_chain_verifies_and_names_the_first_broken_entry() -> None:
    entries = _chain(5)
    assert verify_chain(entries).verified
    assert entries[1].prev_hash == entries[0].hash
    forged = [*entries[:2], type(entries[2])(**{**entries[2].__dict__, "actor": "mallory"}), *entries[3:]]
    check = verify_chain(forged)
    assert not check.verified and check.first_broken_entry == 3
    assert verify_chain([entries[0], *entries[2:]]).first_broken_entry == 2  # a deleted entry


def test_shipped_definitions_load_and_route_by_type_and_file_plan_class() -> None:
    organisation = load_organisation(SHIPPED_DIR / "org_units.yaml")
    registry, digests = load_definitions(SHIPPED_DIR, organisation)
    assert set(registry.definitions) == {"standard", "eingangspost", "rechnung", "bescheid", "wohngeld"}
    wohngeld = registry.definitions["wohngeld"]  # online Wohngeld applications (FIT-Connect)
    assert [s.name for s in wohngeld.steps] == ["Sachbearbeitung", "Schlusszeichnung"]
    assert registry.select("none").name == "eingangspost" and not registry.select("none").steps
    assert registry.select("default").name == "standard"
    assert registry.select("default", document_type="rechnung").name == "rechnung"
    assert registry.select("default", file_plan_class="50.10.3").name == "bescheid"
    assert registry.select("default", file_plan_class="50.100").name == "standard"  # a prefix is a whole class
    assert registry.select("nope") is None
    bescheid = registry.definitions["bescheid"]
    assert [s.type for s in bescheid.steps] == [StepType.COSIGN, StepType.SIGNOFF]
    assert definition_from_json(definition_to_json(bescheid)).steps == bescheid.steps
    assert len(digests["bescheid"]) == 64


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "defs"
    shutil.copytree(SHIPPED_DIR, target)
    return target


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("name: x\nsteps:\n  - {name: a, type: cosign, assignees: [{role: approver}], deadline: 1d}\n", "mode"),
        ("name: x\nsteps:\n  - {name: a, type: signoff, assignee: {role: boss}, deadline: 1d}\n", "unknown role"),
        ("name: x\nsteps:\n  - {name: a, type: signoff, assignee: {org_unit: '99'}, deadline: 1d}\n", "'99'"),
        ("name: x\nsteps:\n  - {name: a, type: signoff, assignee: {user: a}, deadline: soon}\n", "duration"),
        (
            "name: x\nsteps:\n  - {name: a, type: cosign, mode: quorum, quorum: 3,\n"
            "     assignees: [{user: a}], deadline: 1d}\n",
            "quorum",
        ),
        ("name: x\ndefault: true\nsteps: []\n", "exactly one definition"),
        ("name: x\napplies_to: {document_types: [rechnung]}\nsteps: []\n", "already used"),
        ("name: x\nsteps: []\nsurprise: 1\n", "surprise"),
    ],
)
def test_invalid_definitions_are_refused_with_file_and_reason(tmp_path: Path, yaml_text: str, message: str) -> None:
    directory = _copy(tmp_path)
    (directory / "zz-broken.yaml").write_text(yaml_text)
    with pytest.raises(DefinitionError) as failed:
        load_definitions(directory, load_organisation(directory / "org_units.yaml"))
    assert message in str(failed.value)
    assert "zz-broken.yaml" in str(failed.value) or "exactly one" in str(failed.value)


def test_durations() -> None:
    assert parse_duration("3d") == timedelta(days=3)
    assert parse_duration("12h") == timedelta(hours=12)
    assert parse_duration(2) == timedelta(days=2)


def test_the_controllable_clock_only_moves_forward() -> None:
    clock = make_clock("controllable")
    assert isinstance(clock, ControllableClock)
    moved: list[bool] = []
    clock.on_change(lambda: moved.append(True))
    before = clock.now()
    after = clock.advance(86400)
    assert after - before >= timedelta(days=1) and moved
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        make_clock("sundial")


def test_reach_keys_cover_the_person_and_whom_they_stand_in_for() -> None:
    henrik = Actor("henrik", frozenset({"clerk"}), frozenset({"10"}))
    keys = reach_keys(henrik, [Actor("sabine", frozenset({"approver"}), frozenset({"50"}))])
    assert keys.people == {"henrik", "sabine"}
    assert keys.roles == {"clerk", "approver"} and keys.units == {"10", "50"}


def test_the_inbox_shows_a_task_only_to_whom_may_act_on_it_now() -> None:
    anton = Actor("anton", frozenset({"approver"}), frozenset({"50"}))
    assert inbox_access(anton, [], ROLE_TASK, ["clara"], {}, "t1") is not None
    assert inbox_access(anton, [], ROLE_TASK, ["anton"], {}, "t1") is None  # four-eyes
    assert inbox_access(anton, [], ROLE_TASK, ["clara"], {"anton": "t2"}, "t1") is None  # holds another slot
    assert inbox_access(anton, [], ROLE_TASK, ["clara"], {"anton": "t1"}, "t1") is not None
