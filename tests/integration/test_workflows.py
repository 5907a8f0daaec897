"""Approval workflows as a municipality runs them, on the real Kafka broker and MinIO server.

The workflow service runs here with a copy of the shipped definitions plus a few test definitions, and with
the controllable clock (EAKTE_CLOCK=controllable): deadlines are reached by moving time, never by sleeping.
Documents enter as `documents.ingested` events published to Kafka (as the ingest service would publish them,
including fields it does not send yet: document type, file plan class, version), with the original in MinIO.
"""

import hashlib
import io
import json
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from devstack.processes import SetupError
from devstack.stack import Stack
from services.workflow.definitions import SHIPPED_DIR
from shared.auth import issue_token
from shared.events import DocumentIngested, DocumentMetadata, StoredObject
from shared.storage import ObjectStore
from tests.conftest import corpus_file, token
from tests.integration.conftest import JWT_SECRET, TopicReader, wait_for

APPROVER = ("approver",)

TEST_DEFINITIONS = {
    "t-quorum.yaml": """
name: t_quorum
title: Zwei von drei Prüfern, dann Amtsleitung
steps:
  - name: Mitzeichnung (2 von 3)
    type: cosign
    mode: quorum
    quorum: 2
    assignees: [{role: approver}, {role: approver}, {role: approver}]
    deadline: 5d
  - name: Schlusszeichnung
    type: signoff
    assignee: {user: sabine}
    deadline: 5d
""",
    "t-any.yaml": """
name: t_any
steps:
  - name: Mitzeichnung Recht oder Finanzen
    type: cosign
    mode: any
    assignees: [{org_unit: "30"}, {org_unit: "20"}]
    deadline: 5d
""",
    "t-user.yaml": """
name: t_user
steps:
  - name: Schlusszeichnung Sachgebiet
    type: signoff
    assignee: {user: karl}
    deadline: 3d
    remind_before: 1d
""",
    "t-role-escalation.yaml": """
name: t_role_escalation
steps:
  - name: Schlusszeichnung Sachgebiet
    type: signoff
    assignee: {user: karl}
    deadline: 3d
    remind_before: 1d
    escalate_to: {role: admin}
""",
    "t-rolf.yaml": """
name: t_rolf
steps:
  - name: Schlusszeichnung Rechtsamt
    type: signoff
    assignee: {org_unit: "30"}
    deadline: 10d
""",
    "t-change.yaml": """
name: t_change
steps:
  - name: Schlusszeichnung
    type: signoff
    assignee: {user: konrad}
    deadline: 5d
""",
}

T_CHANGE_V2 = """
name: t_change
steps:
  - name: Vorprüfung
    type: signoff
    assignee: {user: karl}
    deadline: 5d
  - name: Schlusszeichnung
    type: signoff
    assignee: {user: konrad}
    deadline: 5d
"""


class Workflows:
    """Drives the workflow service the way its users and the ingest service do."""

    def __init__(self, stack: Stack, topics: TopicReader, definitions: Path) -> None:
        self.stack = stack
        self.topics = topics
        self.definitions = definitions
        self.http = httpx.Client(timeout=30)
        self.pdf = corpus_file("sf__minimal-document.pdf").read_bytes()
        self.settings = stack.settings()
        self.store = ObjectStore(self.settings)

    @property
    def url(self) -> str:
        return f"{self.stack.url('workflow')}/api/v1"

    def headers(self, user: str, *roles: str) -> dict[str, str]:
        return token(user, *(roles or APPROVER), secret=JWT_SECRET)

    def clerk_headers(self) -> dict[str, str]:
        """clara, clerk of the Sozialamt (50), which owns the documents submitted here: she may read them all."""
        clara = issue_token("clara", frozenset({"clerk"}), JWT_SECRET, timedelta(hours=1), org_units=frozenset({"50"}))
        return {"Authorization": f"Bearer {clara}"}

    # --- documents arriving ---------------------------------------------------------------------------
    def submit(
        self,
        workflow: str = "default",
        submitted_by: str = "clara",
        document_type: str = "",
        file_plan_class: str = "",
        document_id: str | None = None,
        version: int = 1,
        title: str = "Testvorgang",
    ) -> str:
        document_id = document_id or str(uuid.uuid4())
        data = self.pdf + f"\n%version {version}\n".encode()
        key = f"documents/{document_id}/original.pdf"
        sha256 = hashlib.sha256(data).hexdigest()
        # As intake stores it: with the SHA-256 recorded on the object (the archive checks it).
        self.store.client.put_object(
            self.settings.inbox_bucket, key, io.BytesIO(data), len(data), metadata={"sha256": sha256}
        )
        event = DocumentIngested(
            document_id=uuid.UUID(document_id),
            correlation_id=uuid.uuid4(),
            original=StoredObject(bucket=self.settings.inbox_bucket, key=key, size=len(data), sha256=sha256),
            metadata=DocumentMetadata(
                title=title,
                aktenzeichen="50.10-2026/0042",
                filename="scan.pdf",
                document_type=document_type,
                file_plan_class=file_plan_class,
                org_unit="50",  # the Sozialamt's: its clerks (clara) read its workflow (need-to-know)
            ),
            workflow=workflow,
            submitted_by=submitted_by,
            version=version,
        )
        self.publish(event)
        return document_id

    def publish(self, event: DocumentIngested) -> tuple[int, int]:
        return self.topics.publish(event.TOPIC, str(event.document_id), event.model_dump_json().encode())

    # --- HTTP -------------------------------------------------------------------------------------------
    def state(self, document_id: str) -> dict:
        response = self.http.get(f"{self.url}/workflows/{document_id}", headers=self.clerk_headers())
        response.raise_for_status()
        return response.json()

    def wait_state(self, document_id: str, timeout_s: float = 30) -> dict:
        def probe() -> dict | None:
            response = self.http.get(f"{self.url}/workflows/{document_id}", headers=self.clerk_headers())
            return response.json() if response.status_code == 200 else None

        return wait_for(probe, timeout_s)

    def audit(self, document_id: str) -> dict:
        response = self.http.get(f"{self.url}/workflows/{document_id}/audit", headers=self.clerk_headers())
        response.raise_for_status()
        return response.json()

    def tasks(self, user: str, *roles: str) -> list[dict]:
        response = self.http.get(f"{self.url}/tasks", headers=self.headers(user, *roles))
        response.raise_for_status()
        return response.json()

    def tasks_for(self, document_id: str, user: str, *roles: str) -> list[dict]:
        return [t for t in self.tasks(user, *roles) if t["document_id"] == document_id and t["kind"] == "approval"]

    def task_for(self, document_id: str, user: str, *roles: str, step: int | None = None) -> dict:
        def probe() -> dict | None:
            found = [t for t in self.tasks_for(document_id, user, *roles) if step is None or t["step"] == step]
            return found[0] if found else None

        return wait_for(probe)

    def decide(self, task_id: str, decision: str, user: str, comment: str = "", *roles: str) -> httpx.Response:
        return self.http.post(
            f"{self.url}/tasks/{task_id}/decision",
            headers=self.headers(user, *roles),
            json={"decision": decision, "comment": comment},
        )

    def approve(self, task_id: str, user: str) -> dict:
        response = self.decide(task_id, "approve", user, "passt")
        assert response.status_code == 200, response.text
        return response.json()

    def claim(self, task_id: str, user: str, *roles: str) -> httpx.Response:
        return self.http.post(f"{self.url}/tasks/{task_id}/claim", headers=self.headers(user, *roles))

    def now(self) -> datetime:
        response = self.http.get(f"{self.url}/_test/clock", headers=self.headers("adam", "admin"))
        response.raise_for_status()
        return datetime.fromisoformat(response.json()["now"])

    def today(self) -> date:
        """The service's calendar day (its time zone), which absences and resubmissions go by."""
        response = self.http.get(f"{self.url}/_test/clock", headers=self.headers("adam", "admin"))
        response.raise_for_status()
        return date.fromisoformat(response.json()["today"])

    def advance(self, delta: timedelta) -> datetime:
        response = self.http.post(
            f"{self.url}/_test/clock",
            headers=self.headers("adam", "admin"),
            json={"advance_seconds": delta.total_seconds()},
        )
        response.raise_for_status()
        return datetime.fromisoformat(response.json()["now"])

    def on_topic(self, topic: str, document_id: str, count: int = 1) -> list[dict]:
        return wait_for(lambda: (found := self.topics.about(topic, document_id)) and len(found) >= count and found)

    def restart(self, **env: str | None) -> None:
        """Restart the workflow service with changed environment (None removes a variable)."""
        extra = self.stack.extra_env.setdefault("workflow", {})
        for key, value in env.items():
            if value is None:
                extra.pop(key, None)
            else:
                extra[key] = value
        self.stack.services["workflow"].stop()
        self.stack.start_service("workflow")


@pytest.fixture(scope="module")
def wf(stack: Stack, topics: TopicReader, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workflows]:
    definitions = tmp_path_factory.mktemp("definitions") / "workflows"
    shutil.copytree(SHIPPED_DIR, definitions)
    for name, text in TEST_DEFINITIONS.items():
        (definitions / name).write_text(text)
    saved = dict(stack.extra_env.get("workflow", {}))
    client = Workflows(stack, topics, definitions)
    try:
        client.restart(EAKTE_CLOCK="controllable", EAKTE_WORKFLOW_DEFINITIONS_DIR=str(definitions))
        yield client
    finally:
        # The stack is shared with the other test modules: leave the workflow service as it was.
        stack.extra_env["workflow"] = saved
        stack.services["workflow"].stop()
        stack.start_service("workflow")
        client.http.close()


def test_without_the_controllable_clock_there_is_no_way_to_move_time(stack: Stack) -> None:
    """Runs before the module's fixture: the service as shipped (system clock) has no `_test` route at all."""
    admin = token("adam", "admin", secret=JWT_SECRET)
    url = f"{stack.url('workflow')}/api/v1/_test/clock"
    assert httpx.post(url, headers=admin, json={"advance_seconds": 86400}).status_code == 404
    assert httpx.get(url, headers=admin).status_code == 404


# --- definitions ---------------------------------------------------------------------------------------


def test_invoice_cosign_by_department_and_treasury_then_head_signoff(wf: Workflows) -> None:
    document_id = wf.submit(document_type="rechnung", title="Rechnung Büromaterial")
    state = wf.wait_state(document_id)
    assert state["definition"] == "rechnung" and state["state"] == "in_review" and state["current_step"] == 1
    assert [s["type"] for s in state["steps"]] == ["cosign", "signoff"]
    assert {(t["assignee_kind"], t["assignee"]) for t in state["open"]} == {("org_unit", "50"), ("org_unit", "20")}

    # Offered to the Sozialamt's members as a group: anton claims it, then it is his alone.
    offered = wf.task_for(document_id, "anton")
    assert offered["assignee_kind"] == "org_unit" and offered["step_name"].startswith("Mitzeichnung")
    assert wf.task_for(document_id, "berta")["task_id"] == offered["task_id"]
    claimed = wf.claim(offered["task_id"], "anton")
    assert claimed.status_code == 200 and claimed.json()["claimed_by"] == "anton"
    assert wf.tasks_for(document_id, "berta") == []
    assert wf.claim(offered["task_id"], "berta").status_code == 409
    assert wf.decide(offered["task_id"], "approve", "berta").status_code == 409
    assert wf.tasks_for(document_id, "rosa") == []  # Rechtsamt: not offered to them

    assert wf.approve(offered["task_id"], "anton")["workflow_state"] == "in_review"
    treasury = wf.task_for(document_id, "kira")
    assert wf.approve(treasury["task_id"], "kira")["workflow_state"] == "in_review"

    head = wf.task_for(document_id, "sabine", step=2)
    assert head["assignee_kind"] == "user" and head["assignee"] == "sabine"
    assert wf.claim(head["task_id"], "sabine").json()["error"] == "not_claimable"
    assert wf.approve(head["task_id"], "sabine")["workflow_state"] == "approved"

    approved = wf.on_topic("documents.approved", document_id)
    assert len(approved) == 1
    event = approved[0]
    assert [(d["step"], d["decided_by"]) for d in event["decisions"]] == [(1, "anton"), (1, "kira"), (2, "sabine")]
    assert [e["action"] for e in event["audit"]][:1] == ["created"] and event["audit"][-1]["action"] == "approved"
    started = wf.topics.about("documents.review_started", document_id)
    assert sorted(e["step"] for e in started) == [1, 2]

    final = wf.state(document_id)
    assert final["state"] == "approved" and final["open"] == []
    assert [s["state"] for s in final["steps"]] == ["completed", "completed"]
    decided = [(t["decided_by"], t["decision"], t["comment"]) for s in final["steps"] for t in s["tasks"]]
    assert decided == [("anton", "approve", "passt"), ("kira", "approve", "passt"), ("sabine", "approve", "passt")]


def test_decision_letter_legal_and_finance_cosign_in_parallel_then_rejection_travels(wf: Workflows) -> None:
    document_id = wf.submit(file_plan_class="50.10.2", title="Bescheid Wohngeld")
    state = wf.wait_state(document_id)
    assert state["definition"] == "bescheid"
    assert sorted(t["assignee"] for t in state["open"]) == ["konrad", "rolf"]  # both heads at once

    legal = wf.task_for(document_id, "rolf")
    finance = wf.task_for(document_id, "konrad")
    wf.approve(finance["task_id"], "konrad")
    assert wf.state(document_id)["current_step"] == 1  # mode all: the legal office is still missing
    wf.approve(legal["task_id"], "rolf")

    head = wf.task_for(document_id, "sabine", step=2)
    missing = wf.decide(head["task_id"], "reject", "sabine")
    assert missing.status_code == 422 and missing.json()["error"] == "reason_required"
    assert wf.decide(head["task_id"], "reject", "sabine", "Rechtsbehelfsbelehrung fehlt").status_code == 200

    rejected = wf.on_topic("documents.rejected", document_id)
    assert len(rejected) == 1 and rejected[0]["reason"] == "Rechtsbehelfsbelehrung fehlt"
    assert rejected[0]["decisions"][-1]["decided_by"] == "sabine"
    assert rejected[0]["audit"][-1]["action"] == "rejected"
    assert wf.state(document_id)["state"] == "rejected"


def test_quorum_two_of_three_and_one_person_holds_one_slot(wf: Workflows) -> None:
    document_id = wf.submit(workflow="t_quorum")
    wf.wait_state(document_id)
    slots = wait_for(lambda: len(found := wf.tasks_for(document_id, "anton")) == 3 and found)

    wf.approve(slots[0]["task_id"], "anton")
    assert wf.tasks_for(document_id, "anton") == []  # his other slots of this step are gone from his inbox
    twice = wf.decide(slots[1]["task_id"], "approve", "anton")
    assert twice.status_code == 409 and twice.json()["error"] == "already_signed"

    assert wf.approve(slots[1]["task_id"], "berta")["workflow_state"] == "in_review"
    state = wf.state(document_id)
    assert state["steps"][0]["state"] == "completed" and state["steps"][0]["approvals"] == 2
    assert [t["state"] for t in state["steps"][0]["tasks"]] == ["done", "done", "cancelled"]
    assert wf.tasks_for(document_id, "sven") == []  # the third slot is no longer offered
    wf.approve(wf.task_for(document_id, "sabine", step=2)["task_id"], "sabine")
    assert wf.state(document_id)["state"] == "approved"


def test_any_mode_needs_one_cosigner(wf: Workflows) -> None:
    document_id = wf.submit(workflow="t_any")
    wf.wait_state(document_id)
    task = wf.task_for(document_id, "rolf")
    assert wf.approve(task["task_id"], "rolf")["workflow_state"] == "approved"
    assert wf.tasks_for(document_id, "konrad") == []
    assert len(wf.on_topic("documents.approved", document_id)) == 1


def test_filing_only_and_default_map_to_shipped_definitions(wf: Workflows) -> None:
    filed = wf.submit(workflow="none")
    assert wf.wait_state(filed)["definition"] == "eingangspost"
    assert wf.on_topic("documents.approved", filed)[0]["decisions"][0]["decided_by"] == "system"
    standard = wf.submit(workflow="default")
    state = wf.wait_state(standard)
    assert state["definition"] == "standard" and state["open"][0]["assignee"] == "approver"


def test_unknown_workflow_goes_to_the_dead_letter_topic(wf: Workflows) -> None:
    document_id = wf.submit(workflow="gibt_es_nicht")
    letters = wf.on_topic("documents.ingested.dlq", document_id)
    assert "unknown workflow 'gibt_es_nicht'" in letters[0]["reason"] and letters[0]["consumer"] == "workflow"


# --- return for revision -------------------------------------------------------------------------------


def test_return_for_revision_goes_back_and_a_new_version_restarts_at_step_one(wf: Workflows) -> None:
    document_id = wf.submit(workflow="t_quorum")
    wf.wait_state(document_id)
    first = wait_for(lambda: len(found := wf.tasks_for(document_id, "anton")) == 3 and found)
    wf.approve(first[0]["task_id"], "anton")
    assert wf.decide(first[1]["task_id"], "return", "berta").status_code == 422
    returned = wf.decide(first[1]["task_id"], "return", "berta", "Bitte Anlage 2 beifügen")
    assert returned.status_code == 200 and returned.json()["workflow_state"] == "returned"

    event = wf.on_topic("documents.returned", document_id)[0]
    assert event["comment"] == "Bitte Anlage 2 beifügen" and event["submitted_by"] == "clara"
    assert event["returned_by"] == "berta" and event["version"] == 1
    state = wf.state(document_id)
    assert state["state"] == "returned" and state["open"] == []
    assert wf.tasks_for(document_id, "sven") == []

    # A new version comes in (same document id, version 2), uploaded by henrik for the clerk.
    wf.submit(workflow="t_quorum", document_id=document_id, version=2, submitted_by="henrik")
    restarted = wait_for(lambda: (s := wf.state(document_id))["version"] == 2 and s)
    assert restarted["state"] == "in_review" and restarted["run"] == 2 and restarted["current_step"] == 1
    assert all(t["decision"] is None for s in restarted["steps"] for t in s["tasks"])
    assert any(t["decision"] == "return" for t in restarted["earlier_runs"])
    again = wait_for(lambda: len(found := wf.tasks_for(document_id, "anton")) == 3 and found)
    assert {t["version"] for t in again} == {2}
    assert wf.tasks_for(document_id, "henrik") == []  # he submitted a version: four-eyes holds for him too
    assert wf.decide(again[0]["task_id"], "approve", "henrik").json()["error"] == "four_eyes"
    wf.approve(again[0]["task_id"], "anton")  # anton may sign the new version's step one again
    wf.approve(again[1]["task_id"], "berta")
    wf.approve(wf.task_for(document_id, "sabine", step=2)["task_id"], "sabine")
    approved = wf.on_topic("documents.approved", document_id)
    assert len(approved) == 1 and approved[0]["version"] == 2
    assert approved[0]["original"]["sha256"] == hashlib.sha256(wf.pdf + b"\n%version 2\n").hexdigest()


# --- four-eyes -----------------------------------------------------------------------------------------


def test_submitter_never_approves_through_role_group_or_substitution(wf: Workflows) -> None:
    # berta works in the Sozialamt and holds the approver role; she submits an invoice.
    document_id = wf.submit(document_type="rechnung", submitted_by="berta")
    wf.wait_state(document_id)
    group_task = wf.task_for(document_id, "anton")
    assert wf.tasks_for(document_id, "berta") == []  # not through her org unit
    assert wf.claim(group_task["task_id"], "berta").json()["error"] == "four_eyes"
    assert wf.decide(group_task["task_id"], "approve", "berta").json()["error"] == "four_eyes"

    standard = wf.submit(workflow="default", submitted_by="berta")
    wf.wait_state(standard)
    role_task = wf.task_for(standard, "anton")
    assert wf.tasks_for(standard, "berta") == []  # not through her role
    assert wf.decide(role_task["task_id"], "approve", "berta").status_code == 403

    # Nor as a deputy: sabine (head, final sign-off) is away and berta stands in for her.
    wf.approve(group_task["task_id"], "anton")
    wf.approve(wf.task_for(document_id, "kira")["task_id"], "kira")
    head_task = wf.task_for(document_id, "sabine", step=2)
    today = wf.today()
    absence = wf.http.post(
        f"{wf.url}/absences",
        headers=wf.headers("sabine"),
        json={"deputy": "berta", "starts_on": today.isoformat(), "ends_on": (today + timedelta(days=5)).isoformat()},
    )
    assert absence.status_code == 201
    assert wf.tasks_for(document_id, "berta") == []
    refused = wf.decide(head_task["task_id"], "approve", "berta")
    assert refused.status_code == 403 and refused.json()["error"] == "four_eyes"
    assert wf.state(document_id)["state"] == "in_review"


# --- substitution --------------------------------------------------------------------------------------


def test_absent_approvers_tasks_show_for_the_deputy_who_decides_on_their_behalf(wf: Workflows) -> None:
    document_id = wf.submit(workflow="t_rolf")
    wf.wait_state(document_id)
    task = wf.task_for(document_id, "rolf")
    tomorrow = wf.today() + timedelta(days=1)
    recorded = wf.http.post(
        f"{wf.url}/absences",
        headers=wf.headers("rolf"),
        json={"deputy": "rosa", "starts_on": tomorrow.isoformat(), "ends_on": (tomorrow + timedelta(2)).isoformat()},
    )
    assert recorded.status_code == 201, recorded.text
    listed = wf.http.get(f"{wf.url}/absences", headers=wf.headers("rosa")).json()
    assert any(a["absence_id"] == recorded.json()["absence_id"] and a["user"] == "rolf" for a in listed)
    bad = wf.http.post(
        f"{wf.url}/absences",
        headers=wf.headers("rolf"),
        json={"deputy": "rosa", "starts_on": tomorrow.isoformat(), "ends_on": "2000-01-01"},
    )
    assert bad.status_code == 422

    assert wf.tasks_for(document_id, "rosa") == []  # not yet absent
    assert wf.decide(task["task_id"], "approve", "rosa").status_code == 404  # not hers: she may not see it
    wf.advance(timedelta(days=1))
    shown = wf.task_for(document_id, "rosa")
    assert shown["on_behalf_of"] == "rolf" and shown["task_id"] == task["task_id"]

    decided = wf.decide(task["task_id"], "approve", "rosa", "i. V. geprüft")
    assert decided.status_code == 200 and decided.json()["on_behalf_of"] == "rolf"
    state = wf.state(document_id)
    signed = state["steps"][0]["tasks"][0]
    assert signed["decided_by"] == "rosa" and signed["on_behalf_of"] == "rolf"
    event = wf.on_topic("documents.approved", document_id)[0]
    assert event["decisions"][0]["on_behalf_of"] == "rolf"
    trail = wf.audit(document_id)["entries"]
    assert any(e["action"] == "delegated" and e["payload"]["to"] == "rosa" for e in trail)
    assert any(e["action"] == "decided" and e["actor"] == "rosa" and e["on_behalf_of"] == "rolf" for e in trail)


# --- deadlines and resubmission (moved clock, no sleeping) ---------------------------------------------


def test_reminder_before_the_deadline_then_escalation_to_the_unit_head_or_a_named_role(wf: Workflows) -> None:
    to_head = wf.submit(workflow="t_user")
    to_role = wf.submit(workflow="t_role_escalation")
    wf.wait_state(to_head)
    wf.wait_state(to_role)
    task = wf.task_for(to_head, "karl")
    deadline = datetime.fromisoformat(task["deadline_at"])
    now = wf.now()
    assert timedelta(days=2, hours=23) < deadline - now <= timedelta(days=3)

    wf.advance(deadline - now - timedelta(days=1) + timedelta(minutes=1))  # inside the reminder window
    reminder = wf.on_topic("workflow.deadline_reminder", to_head)
    assert len(reminder) == 1 and reminder[0]["assignee"] == "karl" and reminder[0]["task_id"] == task["task_id"]
    assert wf.topics.about("workflow.escalated", to_head) == []
    assert wf.tasks_for(to_head, "konrad") == []

    wf.advance(timedelta(days=1))  # past the deadline
    escalated = wf.on_topic("workflow.escalated", to_head)
    assert len(escalated) == 1 and escalated[0]["escalated_to_user"] == "konrad"  # head of Kämmerei (20)
    assert wf.on_topic("workflow.escalated", to_role)[0]["escalated_to_role"] == "admin"
    by_head = wf.task_for(to_head, "konrad")
    assert by_head["escalated"] is True
    assert wf.task_for(to_role, "adam", "admin")["escalated"] is True
    assert wf.approve(by_head["task_id"], "konrad")["workflow_state"] == "approved"
    assert len(wf.topics.about("workflow.deadline_reminder", to_head)) == 1  # once, however often the clock ticks
    actions = [e["action"] for e in wf.audit(to_head)["entries"]]
    assert actions.index("reminded") < actions.index("escalated") < actions.index("decided")


def test_wiedervorlage_puts_the_document_back_into_the_inbox_on_its_date(wf: Workflows) -> None:
    document_id = wf.submit(workflow="t_quorum")  # offered to the approvers: anton may see it (need-to-know)
    wf.wait_state(document_id)
    on = wf.today() + timedelta(days=2)
    created = wf.http.post(
        f"{wf.url}/resubmissions",
        headers=wf.headers("anton"),
        json={"document_id": document_id, "on": on.isoformat(), "note": "Zahlungseingang prüfen"},
    )
    assert created.status_code == 201, created.text
    resubmission_id = created.json()["resubmission_id"]

    def mine() -> list[dict]:
        return [t for t in wf.tasks("anton") if t["document_id"] == document_id and t["kind"] == "resubmission"]

    assert mine() == []
    wf.advance(timedelta(days=1))
    assert mine() == []
    wf.advance(timedelta(days=1))
    due = wait_for(mine)
    assert due[0]["task_id"] == resubmission_id and due[0]["note"] == "Zahlungseingang prüfen"
    event = wf.on_topic("workflow.resubmission_due", document_id)[0]
    assert event["user"] == "anton" and event["due_on"] == on.isoformat()
    listed = wf.http.get(f"{wf.url}/resubmissions", headers=wf.headers("anton")).json()
    assert any(r["resubmission_id"] == resubmission_id and r["due"] for r in listed)
    done = wf.http.post(f"{wf.url}/resubmissions/{resubmission_id}/done", headers=wf.headers("anton"))
    assert done.status_code == 200 and done.json()["done"] is True
    assert mine() == []
    missing = wf.http.post(
        f"{wf.url}/resubmissions",
        headers=wf.headers("anton"),
        json={"document_id": str(uuid.uuid4()), "on": on.isoformat()},
    )
    assert missing.status_code == 404


# --- audit trail ---------------------------------------------------------------------------------------


def test_audit_chain_is_verified_and_a_changed_row_is_named(wf: Workflows) -> None:
    document_id = wf.submit(workflow="t_any")
    wf.wait_state(document_id)
    task = wf.task_for(document_id, "konrad")
    assert wf.claim(task["task_id"], "konrad").status_code == 409  # assigned to him in person: nothing to claim
    wf.approve(task["task_id"], "konrad")
    event = wf.on_topic("documents.approved", document_id)[0]

    trail = wf.audit(document_id)
    assert trail["verified"] is True and trail["first_broken_entry"] is None
    assert trail["entries"] == event["audit"]  # the full trail travels with the outcome
    actions = [e["action"] for e in trail["entries"]]
    assert actions[0] == "created" and "assigned" in actions and "decided" in actions and actions[-1] == "approved"
    for before, after in zip(trail["entries"], trail["entries"][1:], strict=False):
        assert after["prev_hash"] == before["hash"]
    decided = next(e for e in trail["entries"] if e["action"] == "decided")

    database = wf.stack.data_dir / "workflow.db"
    with sqlite3.connect(database) as connection:
        connection.execute(
            "UPDATE audit_entries SET payload = replace(payload, 'passt', 'gefälscht')"
            " WHERE document_id = ? AND seq = ?",
            (document_id, decided["seq"]),
        )
    broken = wf.audit(document_id)
    assert broken["verified"] is False and broken["first_broken_entry"] == decided["seq"]
    assert "gefälscht" in json.dumps(broken["entries"], ensure_ascii=False)


# --- never lose, never double --------------------------------------------------------------------------


def test_redelivered_ingested_event_gives_one_workflow(wf: Workflows) -> None:
    document_id = str(uuid.uuid4())
    wf.submit(workflow="t_quorum", document_id=document_id)
    wf.wait_state(document_id)
    original = wf.topics.about("documents.ingested", document_id)[0]
    for _ in range(2):
        partition, offset = wf.topics.publish("documents.ingested", document_id, json.dumps(original).encode())
    wf.topics.wait_consumed("workflow", "documents.ingested", partition, offset)
    # The same document once more under a new event id (a re-sent upload): still the one workflow.
    wf.submit(workflow="t_quorum", document_id=document_id)
    latest = wf.topics.about("documents.ingested", document_id)[-1]
    partition, offset = wf.topics.publish("documents.ingested", document_id, json.dumps(latest).encode())
    wf.topics.wait_consumed("workflow", "documents.ingested", partition, offset)

    state = wf.state(document_id)
    assert state["run"] == 1 and len(state["open"]) == 3
    assert len(wf.tasks_for(document_id, "anton")) == 3
    assert len(wf.topics.about("documents.review_started", document_id)) == 1
    assert [e["action"] for e in wf.audit(document_id)["entries"]].count("created") == 1


def test_concurrent_decisions_on_one_task_one_wins_the_others_get_409(wf: Workflows) -> None:
    document_id = wf.submit(workflow="default")
    wf.wait_state(document_id)
    task = wf.task_for(document_id, "anton")
    deciders = ["anton", "berta", "sven", "kira", "karl", "rosa", "henrik", "hanna"]
    results: dict[str, int] = {}
    barrier = threading.Barrier(len(deciders))

    def decide(user: str) -> None:
        with httpx.Client(timeout=30) as client:
            barrier.wait()
            response = client.post(
                f"{wf.url}/tasks/{task['task_id']}/decision",
                headers=wf.headers(user),
                json={"decision": "approve", "comment": f"von {user}"},
            )
            results[user] = response.status_code

    threads = [threading.Thread(target=decide, args=(user,)) for user in deciders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results.values()) == [200] + [409] * (len(deciders) - 1)
    winner = next(user for user, code in results.items() if code == 200)
    approved = wf.on_topic("documents.approved", document_id)
    assert len(approved) == 1 and approved[0]["decisions"][0]["decided_by"] == winner


def test_event_survives_a_kill_between_commit_and_publish_and_goes_out_once(wf: Workflows) -> None:
    document_id = wf.submit(workflow="default")
    wf.wait_state(document_id)
    task = wf.task_for(document_id, "anton")
    try:
        wf.restart(EAKTE_OUTBOX_RELAY_PAUSED="true")
        assert wf.approve(task["task_id"], "anton")["workflow_state"] == "approved"  # committed ...
        wf.stack.services["workflow"].kill()  # ... and the process dies before its relay published anything
        assert wf.topics.about("documents.approved", document_id) == []
    finally:
        wf.restart(EAKTE_OUTBOX_RELAY_PAUSED=None)
    assert len(wf.on_topic("documents.approved", document_id)) == 1
    wf.advance(timedelta(seconds=1))  # let the scheduler and relay run another round
    assert len(wf.topics.about("documents.approved", document_id)) == 1


def test_definition_change_affects_new_documents_only_and_large_trails_travel_by_reference(wf: Workflows) -> None:
    running = wf.submit(workflow="t_change")
    before = wf.wait_state(running)
    assert before["definition_version"] == 1 and len(before["steps"]) == 1

    # A broken file stops the start-up with a message naming the file and the field.
    changed = wf.definitions / "t-change.yaml"
    changed.write_text(T_CHANGE_V2.replace("type: signoff\n    assignee: {user: karl}", "type: sign-off"))
    try:
        with pytest.raises(SetupError) as failed:
            wf.restart()
        assert "t-change.yaml" in str(failed.value) and "steps.0.type" in str(failed.value)
    finally:
        changed.write_text(T_CHANGE_V2)
        wf.restart(EAKTE_AUDIT_INLINE_MAX_BYTES="1500")
    try:
        fresh = wf.submit(workflow="t_change")
        after = wf.wait_state(fresh)
        assert after["definition_version"] == 2 and [s["name"] for s in after["steps"]] == [
            "Vorprüfung",
            "Schlusszeichnung",
        ]
        kept = wf.state(running)
        assert kept["definition_version"] == 1 and [s["name"] for s in kept["steps"]] == ["Schlusszeichnung"]

        # The running document finishes under version 1: konrad's one sign-off is enough.
        assert wf.approve(wf.task_for(running, "konrad")["task_id"], "konrad")["workflow_state"] == "approved"
        assert wf.task_for(fresh, "karl")["step_name"] == "Vorprüfung"

        # Its trail is larger than the (lowered) inline limit: the event carries a reference into MinIO.
        event = wf.on_topic("documents.approved", running)[0]
        assert event["audit"] is None and event["audit_ref"]["bucket"] == wf.settings.inbox_bucket
        stored = wf.store.client.get_object(event["audit_ref"]["bucket"], event["audit_ref"]["key"]).read()
        assert hashlib.sha256(stored).hexdigest() == event["audit_ref"]["sha256"]
        assert json.loads(stored) == wf.audit(running)["entries"]
    finally:
        wf.restart(EAKTE_AUDIT_INLINE_MAX_BYTES=None)


def test_new_routes_check_the_caller(wf: Workflows) -> None:
    some = str(uuid.uuid4())
    routes = [
        ("POST", f"{wf.url}/tasks/{some}/claim"),
        ("GET", f"{wf.url}/workflows/{some}"),
        ("GET", f"{wf.url}/workflows/{some}/audit"),
        ("GET", f"{wf.url}/absences"),
        ("POST", f"{wf.url}/absences"),
        ("GET", f"{wf.url}/resubmissions"),
        ("POST", f"{wf.url}/resubmissions"),
        ("POST", f"{wf.url}/_test/clock"),
    ]
    for method, url in routes:
        assert wf.http.request(method, url).status_code == 401, url
    approver = wf.headers("anton")
    assert wf.http.post(f"{wf.url}/_test/clock", headers=approver, json={"advance_seconds": 1}).status_code == 403
    assert wf.http.post(f"{wf.url}/tasks/{some}/claim", headers=wf.headers("clara", "clerk")).status_code == 403
    assert wf.http.get(f"{wf.url}/workflows/{some}", headers=approver).status_code == 404
