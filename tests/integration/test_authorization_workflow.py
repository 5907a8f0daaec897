"""Need-to-know on the workflow service, as a table: every route × {no token, each role, own / other org unit,
task holder / not} → the answer, on the real stack (Kafka, MinIO, the workflow service).

Two documents of the Sozialamt (org unit 50), both submitted by clara: one in review with a task for hugo in
person (his deputy dora stands in while he is away), one filed without review (finished: the records office sees
it). What a caller may not see answers 404, exactly like a document that does not exist. Cells read:
a status code; `in` / `out`: 200, and the document's entry (task, resubmission, absence; for absences: hugo's) is /
is not in the caller's list.
"""

import hashlib
import io
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import httpx
import pytest

from devstack.stack import Stack
from services.workflow.definitions import SHIPPED_DIR
from shared.auth import issue_token
from shared.events import DocumentIngested, DocumentMetadata, StoredObject
from shared.storage import ObjectStore
from tests.conftest import corpus_file
from tests.integration.conftest import JWT_SECRET, TopicReader, wait_for

HOLDER, DEPUTY = "hugo", "dora"  # people no other test uses: their absence touches nobody else's documents
T_AUTHZ = f"""
name: t_authz
steps:
  - name: Schlusszeichnung
    type: signoff
    assignee: {{user: {HOLDER}}}
    deadline: 30d
"""


@dataclass(frozen=True)
class Case:
    user: str | None  # None: no token
    roles: tuple[str, ...] = ()
    org_units: tuple[str, ...] = ()
    finished: bool = False  # asks about the finished document instead of the one in review


CASES = {
    "no token": Case(None),
    "clerk, submitter": Case("clara", ("clerk",)),
    "clerk, own org unit": Case("carl", ("clerk",), ("50",)),
    "clerk, other org unit": Case("kira", ("clerk",), ("20",)),
    "approver, task holder": Case(HOLDER, ("approver",)),
    "approver, deputy of the task holder": Case(DEPUTY, ("approver",)),
    "approver, own org unit, no task": Case("anton", ("approver",), ("50",)),
    "records_officer, in review": Case("rita", ("records_officer",)),
    "records_officer, finished": Case("rita", ("records_officer",), finished=True),
    "admin": Case("adam", ("admin",)),
}

# route → the expected answer per case, in the order of CASES (the routes run in this order: the resubmission
# a case adds is the one it lists and marks done).
# fmt: off
TABLE: dict[str, tuple[int | str, ...]] = {
    #                                           none clara carl  kira  hugo  dora  anton rita  rita✓ adam
    "GET /workflows/{id}":                     (401, 200,  200,  404,  200,  200,  404,  404,  200,  200),
    "GET /workflows/{id}/audit":               (401, 200,  200,  404,  200,  200,  404,  404,  200,  200),
    "GET /tasks":                              (401, 403,  403,  403,  "in", "in", "out", 403,  403,  "out"),
    "POST /tasks/{task}/claim":                (401, 403,  403,  403,  409,  409,  404,  403,  403,  409),
    "POST /tasks/{task}/decision":             (401, 403,  403,  403,  422,  422,  404,  403,  403,  403),
    "POST /resubmissions":                     (401, 201,  201,  404,  201,  201,  404,  404,  201,  201),
    "GET /resubmissions":                      (401, "in", "in", 200,  "in", "in", 200,  200,  "in", "in"),
    "POST /resubmissions/{own or other}/done": (401, 200,  200,  404,  200,  200,  404,  404,  200,  200),
    "GET /absences":                           (401, "out", "out", "out", "in", "in", "out", "out", "out", "in"),
    "POST /absences":                          (401, 201,  201,  201,  201,  201,  201,  201,  201,  201),
    "GET /inbox":                              (401, 403,  403,  403,  "in", "in", "out", 403,  403,  "out"),
    # a bulk decision answers 200 with each task's outcome: the code the single decision would refuse with
    "POST /tasks/decisions":                   (401, 403,  403,  403,  "reason_required", "reason_required",
                                                "not_found", 403, 403, "forbidden"),
    "GET /notifications/preferences":          (401, 200,  200,  200,  200,  200,  200,  200,  200,  200),
    "PUT /notifications/preferences":          (401, 200,  200,  200,  200,  200,  200,  200,  200,  200),
}
# fmt: on


class World:
    """The workflow service with the two documents, hugo away today with dora standing in."""

    def __init__(self, stack: Stack, topics: TopicReader) -> None:
        self.stack = stack
        self.topics = topics
        self.http = httpx.Client(timeout=30)
        self.settings = stack.settings()
        self.url = f"{stack.url('workflow')}/api/v1"
        self.in_review = self.submit("t_authz")
        self.finished = self.submit("eingangspost")  # filed without review: approved at once
        wait_for(lambda: self.state(self.finished).get("state") == "approved")
        self.task_id = wait_for(lambda: [t["task_id"] for t in self.state(self.in_review).get("open", [])])[0]
        self.today = date.fromisoformat(self.get("/_test/clock", Case("adam", ("admin",))).json()["today"])
        away = {"deputy": DEPUTY, "starts_on": str(self.today), "ends_on": str(self.today + timedelta(days=1))}
        absence = self.post("/absences", Case(HOLDER, ("approver",)), away)
        assert absence.status_code == 201, absence.text
        self.hugos_absence = absence.json()["absence_id"]
        self.resubmissions: dict[str, str] = {}  # case name → the resubmission it added

    def submit(self, workflow: str) -> str:
        document_id = str(uuid.uuid4())
        data = corpus_file("sf__minimal-document.pdf").read_bytes() + document_id.encode()
        key = f"documents/{document_id}/original.pdf"
        ObjectStore(self.settings).client.put_object(self.settings.inbox_bucket, key, io.BytesIO(data), len(data))
        event = DocumentIngested(
            document_id=uuid.UUID(document_id),
            correlation_id=uuid.uuid4(),
            original=StoredObject(
                bucket=self.settings.inbox_bucket, key=key, size=len(data), sha256=hashlib.sha256(data).hexdigest()
            ),
            metadata=DocumentMetadata(title="Bescheid Sozialhilfe", aktenzeichen="50.10-2026/0001", org_unit="50"),
            workflow=workflow,
            submitted_by="clara",
        )
        self.topics.publish(event.TOPIC, document_id, event.model_dump_json().encode())
        return document_id

    def state(self, document_id: str) -> dict:
        response = self.get(f"/workflows/{document_id}", Case("adam", ("admin",)))
        return response.json() if response.status_code == 200 else {}

    def headers(self, case: Case) -> dict[str, str]:
        if case.user is None:
            return {}
        token = issue_token(
            case.user, frozenset(case.roles), JWT_SECRET, timedelta(minutes=5), org_units=frozenset(case.org_units)
        )
        return {"Authorization": f"Bearer {token}"}

    def get(self, path: str, case: Case) -> httpx.Response:
        return self.http.get(f"{self.url}{path}", headers=self.headers(case))

    def post(self, path: str, case: Case, body: dict | None = None) -> httpx.Response:
        return self.http.post(f"{self.url}{path}", headers=self.headers(case), json=body)


@pytest.fixture(scope="module")
def world(stack: Stack, topics: TopicReader, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    definitions = tmp_path_factory.mktemp("authz-definitions") / "workflows"
    shutil.copytree(SHIPPED_DIR, definitions)
    (definitions / "t-authz.yaml").write_text(T_AUTHZ)
    saved = dict(stack.extra_env.get("workflow", {}))
    extra = stack.extra_env.setdefault("workflow", {})
    extra.update(EAKTE_CLOCK="controllable", EAKTE_WORKFLOW_DEFINITIONS_DIR=str(definitions))
    stack.services["workflow"].stop()
    stack.start_service("workflow")
    world = World(stack, topics)
    try:
        yield world
    finally:
        # The stack is shared with the other test modules: leave the workflow service as it was.
        stack.extra_env["workflow"] = saved
        stack.services["workflow"].stop()
        stack.start_service("workflow")
        world.http.close()


def _listed(response: httpx.Response, found: Callable[[list[dict]], bool]) -> int | str:
    if response.status_code != 200:
        return response.status_code
    return "in" if found(response.json()) else "out"


def _call(world: World, route: str, name: str, case: Case) -> int | str:
    """Ask `route` as `case`; the answer as the table writes it."""
    document_id = world.finished if case.finished else world.in_review
    if route == "GET /workflows/{id}":
        return world.get(f"/workflows/{document_id}", case).status_code
    if route == "GET /workflows/{id}/audit":
        return world.get(f"/workflows/{document_id}/audit", case).status_code
    if route == "GET /tasks":
        return _listed(world.get("/tasks", case), lambda tasks: any(t["task_id"] == world.task_id for t in tasks))
    if route == "POST /tasks/{task}/claim":  # offered in person: not claimable (409) for whoever may see it
        return world.post(f"/tasks/{world.task_id}/claim", case).status_code
    if route == "POST /tasks/{task}/decision":  # a rejection without reason: refused (422) after every check
        return world.post(f"/tasks/{world.task_id}/decision", case, {"decision": "reject"}).status_code
    if route == "GET /inbox":
        page = world.get("/inbox?limit=200", case)
        return _listed(page, lambda body: any(t["task_id"] == world.task_id for t in body["items"]))
    if route == "POST /tasks/decisions":
        response = world.post("/tasks/decisions", case, {"task_ids": [world.task_id], "decision": "reject"})
        return response.json()["results"][0]["error"] if response.status_code == 200 else response.status_code
    return _call_resubmissions_and_absences(world, route, name, case, document_id)


def _call_resubmissions_and_absences(world: World, route: str, name: str, case: Case, document_id: str) -> int | str:
    if route == "POST /resubmissions":
        body = {"document_id": document_id, "on": str(world.today + timedelta(days=30)), "note": name}
        response = world.post("/resubmissions", case, body)
        if response.status_code == 201:
            world.resubmissions[name] = response.json()["resubmission_id"]
        return response.status_code
    if route == "GET /resubmissions":
        own = world.resubmissions.get(name)
        response = world.get("/resubmissions", case)
        if own is None:
            return response.status_code
        return _listed(response, lambda rows: any(r["resubmission_id"] == own for r in rows))
    if route == "POST /resubmissions/{own or other}/done":
        # Its own resubmission, else clara's: someone else's is not found.
        resubmission_id = world.resubmissions.get(name) or world.resubmissions["clerk, submitter"]
        return world.post(f"/resubmissions/{resubmission_id}/done", case).status_code
    if route == "GET /notifications/preferences":  # one's own choice only: nobody reads another's
        return world.get("/notifications/preferences", case).status_code
    if route == "PUT /notifications/preferences":
        body = {"delivery": "immediate", "archived": False}
        url = f"{world.url}/notifications/preferences"
        return world.http.put(url, headers=world.headers(case), json=body).status_code
    if route == "GET /absences":
        return _listed(world.get("/absences", case), lambda rows: any(a["user"] == HOLDER for a in rows))
    assert route == "POST /absences"
    later = world.today + timedelta(days=400)
    body = {"deputy": "t-authz-deputy", "starts_on": str(later), "ends_on": str(later)}
    return world.post("/absences", case, body).status_code


def test_every_workflow_route_answers_each_caller_as_the_access_model_says(world: World) -> None:
    cells = [(route, name) for route in TABLE for name in CASES]
    assert all(len(expected) == len(CASES) for expected in TABLE.values())
    got = {(route, name): _call(world, route, name, CASES[name]) for route, name in cells}
    expected = {(route, name): TABLE[route][i] for route in TABLE for i, name in enumerate(CASES)}
    wrong = {cell: (expected[cell], got[cell]) for cell in cells if got[cell] != expected[cell]}
    assert not wrong, "\n".join(f"{route} as {name}: expected {e}, got {g}" for (route, name), (e, g) in wrong.items())
    print(f"\nauthorization table of the workflow: {len(TABLE)} routes × {len(CASES)} cases = {len(cells)} cells")


def test_the_records_office_sees_nothing_of_a_document_in_review_and_its_trail_once_it_is_finished(
    world: World,
) -> None:
    rita = CASES["records_officer, in review"]
    hidden = world.get(f"/workflows/{world.in_review}/audit", rita)
    missing = world.get(f"/workflows/{uuid.uuid4()}/audit", rita)
    assert (hidden.status_code, hidden.json()) == (missing.status_code, missing.json())  # existence not revealed
    trail = world.get(f"/workflows/{world.finished}/audit", rita).json()
    assert trail["verified"] is True and "approved" in [e["action"] for e in trail["entries"]]
