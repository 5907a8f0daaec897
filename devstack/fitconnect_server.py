"""A local FIT-Connect Submission API for the tests (FITKO's test environment cannot be reached from here).

Built from FITKO's published OpenAPI description of the Submission API v1, it implements only what a sender (the
PyPI package `fitconnect`, FITKO's Python SDK) and our subscriber call: the OAuth2 token endpoint (client
credentials), a destination and its public encryption key, creating a submission, uploading encrypted
attachments, submitting it, listing the submissions waiting for pickup, fetching a submission and its attachments,
and the case's event log (Security Event Tokens, signature checked with the subscriber's public key). A submission
leaves the pickup list once an `accept-submission` or `reject-submission` event for it arrives.

It runs in a thread of the test process on 127.0.0.1 (uvicorn), so a test reads its state directly.
"""

import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import uvicorn
from fastapi import FastAPI, Form, Header, HTTPException, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from devstack.fitconnect_schema import metadata_schema
from devstack.processes import free_port

EVENTS = "https://schema.fitko.de/fit-connect/events/"
PROBLEMS = "https://schema.fitko.de/fit-connect/submission-api/problems/"


@dataclass
class StoredSubmission:
    submission_id: str
    case_id: str
    destination_id: str
    service_type: dict[str, str]
    announced: list[str]
    attachments: dict[str, str] = field(default_factory=dict)
    encrypted_metadata: str = ""
    encrypted_data: str = ""
    submitted: bool = False
    decided: str = ""  # the event name (accept-submission / reject-submission) once one arrived


@dataclass
class ReceivedEvent:
    case_id: str
    name: str  # accept-submission, reject-submission
    payload: dict[str, Any]
    at: float


class LocalFitConnect:
    """The server's state and its app; `start()` serves it on a free loopback port."""

    def __init__(
        self,
        destination_id: str,
        encryption_key: dict[str, Any],
        subscriber_key: dict[str, Any],
        clients: dict[str, str],
    ) -> None:
        self.destination_id = destination_id
        self.encryption_key = {**encryption_key, "key_ops": ["wrapKey"], "alg": "RSA-OAEP-256", "use": "enc"}
        self.encryption_kid = str(encryption_key.get("kid") or RSAKey.import_key(encryption_key).thumbprint())
        self.encryption_key["kid"] = self.encryption_kid
        self.subscriber_key = RSAKey.import_key(subscriber_key)
        self.clients = clients  # client id -> secret
        self.tokens: set[str] = set()
        self.submissions: dict[str, StoredSubmission] = {}
        self.events: list[ReceivedEvent] = []
        self.rejected_events: list[str] = []  # why an event was refused (bad signature, unknown case)
        self.lock = threading.Lock()
        self.app = self._build()
        self.port = free_port()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "LocalFitConnect":
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="local-fitconnect", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the local FIT-Connect server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)

    def events_of(self, case_id: str) -> list[ReceivedEvent]:
        with self.lock:
            return [e for e in self.events if e.case_id == case_id]

    def relist(self, submission_id: str) -> None:
        """Put a decided submission back on the pickup list (as if its event had not arrived)."""
        with self.lock:
            self.submissions[submission_id].decided = ""

    # --- the app -------------------------------------------------------------------------------------------
    def _build(self) -> FastAPI:
        app = FastAPI(title="local FIT-Connect Submission API (tests)")
        self._token_route(app)
        self._destination_routes(app)
        self._sender_routes(app)
        self._subscriber_routes(app)
        self._event_routes(app)
        return app

    def _authorised(self, authorization: str | None) -> None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or token not in self.tokens:
            raise HTTPException(401, "missing or invalid access token")

    def _submission(self, submission_id: str) -> StoredSubmission:
        found = self.submissions.get(submission_id)
        if found is None:
            raise HTTPException(404, {"type": PROBLEMS + "submission-not-found", "title": "Submission not found"})
        return found

    def _token_route(self, app: FastAPI) -> None:
        @app.post("/token")
        def token(
            grant_type: Annotated[str, Form()], client_id: Annotated[str, Form()], client_secret: Annotated[str, Form()]
        ) -> dict[str, Any]:
            if grant_type != "client_credentials" or self.clients.get(client_id) != client_secret:
                raise HTTPException(401, "invalid_client")
            issued = secrets.token_urlsafe(24)
            self.tokens.add(issued)
            return {"access_token": issued, "token_type": "Bearer", "expires_in": 1800}

    def _destination_routes(self, app: FastAPI) -> None:
        @app.get("/v1/destinations/{destination_id}")
        def destination(destination_id: str, authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
            self._authorised(authorization)
            if destination_id != self.destination_id:
                raise HTTPException(404, {"type": PROBLEMS + "destination-not-found"})
            return {"destinationId": destination_id, "status": "active", "encryptionKid": self.encryption_kid}

        @app.get("/v1/destinations/{destination_id}/keys/{kid}")
        def key(destination_id: str, kid: str, authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
            self._authorised(authorization)
            if destination_id != self.destination_id or kid != self.encryption_kid:
                raise HTTPException(404, "no such key")
            return self.encryption_key

    def _sender_routes(self, app: FastAPI) -> None:
        @app.post("/v1/submissions", status_code=201)
        def create(body: dict[str, Any], authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
            self._authorised(authorization)
            if body.get("destinationId") != self.destination_id:
                raise HTTPException(404, {"type": PROBLEMS + "destination-not-found"})
            stored = StoredSubmission(
                str(uuid.uuid4()),
                str(uuid.uuid4()),
                self.destination_id,
                dict(body.get("serviceType") or {}),
                [str(a) for a in body.get("announcedAttachments") or []],
            )
            with self.lock:
                self.submissions[stored.submission_id] = stored
            return {
                "destinationId": stored.destination_id,
                "submissionId": stored.submission_id,
                "caseId": stored.case_id,
            }

        @app.put("/v1/submissions/{submission_id}/attachments/{attachment_id}", status_code=204)
        async def upload(
            submission_id: str,
            attachment_id: str,
            request: Request,
            authorization: Annotated[str | None, Header()] = None,
        ) -> Response:
            self._authorised(authorization)
            stored = self._submission(submission_id)
            if attachment_id not in stored.announced or stored.submitted:
                raise HTTPException(422, "attachment not announced, or the submission is already submitted")
            stored.attachments[attachment_id] = (await request.body()).decode().strip()
            return Response(status_code=204)

        @app.put("/v1/submissions/{submission_id}", status_code=202)
        def submit(
            submission_id: str, body: dict[str, Any], authorization: Annotated[str | None, Header()] = None
        ) -> dict[str, Any]:
            self._authorised(authorization)
            stored = self._submission(submission_id)
            if set(stored.attachments) != set(stored.announced):
                raise HTTPException(409, {"type": PROBLEMS + "missing-attachments"})
            stored.encrypted_metadata = str(body.get("encryptedMetadata") or "")
            stored.encrypted_data = str(body.get("encryptedData") or "")
            stored.submitted = True
            return {"destinationId": stored.destination_id, "submissionId": submission_id, "caseId": stored.case_id}

    def _subscriber_routes(self, app: FastAPI) -> None:
        @app.get("/v1/submissions")
        def pickup_list(
            destinationId: str | None = None,
            offset: int = 0,
            limit: int = 100,
            authorization: Annotated[str | None, Header()] = None,
        ) -> dict[str, Any]:
            self._authorised(authorization)
            with self.lock:
                waiting = [
                    s
                    for s in self.submissions.values()
                    if s.submitted and not s.decided and destinationId in (None, s.destination_id)
                ]
            page = waiting[offset : offset + min(limit, 500)]
            return {
                "count": len(page),
                "offset": offset,
                "totalCount": len(waiting),
                "submissions": [
                    {"destinationId": s.destination_id, "submissionId": s.submission_id, "caseId": s.case_id}
                    for s in page
                ],
            }

        @app.get("/v1/submissions/{submission_id}")
        def fetch(submission_id: str, authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
            self._authorised(authorization)
            stored = self._submission(submission_id)
            return {
                "destinationId": stored.destination_id,
                "submissionId": stored.submission_id,
                "caseId": stored.case_id,
                "serviceType": stored.service_type,
                "attachments": stored.announced,
                "encryptedMetadata": stored.encrypted_metadata,
                "encryptedData": stored.encrypted_data,
            }

        @app.get("/v1/submissions/{submission_id}/attachments/{attachment_id}")
        def attachment(
            submission_id: str, attachment_id: str, authorization: Annotated[str | None, Header()] = None
        ) -> PlainTextResponse:
            self._authorised(authorization)
            stored = self._submission(submission_id)
            if attachment_id not in stored.attachments:
                raise HTTPException(404, {"type": PROBLEMS + "attachment-not-found"})
            return PlainTextResponse(stored.attachments[attachment_id], media_type="application/jose")

    def _event_routes(self, app: FastAPI) -> None:
        @app.post("/v1/cases/{case_id}/events", status_code=204)
        async def post_event(
            case_id: str, request: Request, authorization: Annotated[str | None, Header()] = None
        ) -> Response:
            self._authorised(authorization)
            if request.headers.get("content-type", "").split(";")[0] != "application/jose":
                raise HTTPException(415, "a Security Event Token is sent as application/jose")
            token = (await request.body()).decode().strip()
            payload = self._verified(case_id, token)
            name = next(iter(payload["events"])).removeprefix(EVENTS)
            with self.lock:
                submission = self.submissions[payload["sub"].removeprefix("submission:")]
                if name == "accept-submission":
                    self._check_tags(submission, payload["events"][EVENTS + name])
                submission.decided = name
                self.events.append(ReceivedEvent(case_id, name, payload, time.monotonic()))
            return Response(status_code=204)

        @app.get("/v1/cases/{case_id}/events")
        def event_log(case_id: str, authorization: Annotated[str | None, Header()] = None) -> JSONResponse:
            self._authorised(authorization)
            return JSONResponse({"eventLog": [json.dumps(e.payload) for e in self.events_of(case_id)]})

    def _check_tags(self, submission: StoredSubmission, content: dict[str, Any]) -> None:
        """An acceptance names the authentication tags of exactly what was submitted."""

        def tag(token: str) -> str:
            return token.rsplit(".", 1)[-1]

        expected: dict[str, Any] = {"metadata": tag(submission.encrypted_metadata)}
        if submission.encrypted_data:
            expected["data"] = tag(submission.encrypted_data)
        if submission.attachments:
            expected["attachments"] = {a: tag(t) for a, t in submission.attachments.items()}
        if content.get("authenticationTags") != expected:
            self.rejected_events.append(f"authentication tags differ for {submission.submission_id}")
            raise HTTPException(422, "the authentication tags do not match the submission")

    def _verified(self, case_id: str, token: str) -> dict[str, Any]:
        """The SET's payload, if signed with the subscriber's key (PS512) and about a submission of this case."""
        try:
            signed = jws.deserialize_compact(token, self.subscriber_key, algorithms=["PS512"])
            payload: dict[str, Any] = json.loads(signed.payload)
        except (JoseError, ValueError) as exc:
            self.rejected_events.append(f"bad signature: {exc}")
            raise HTTPException(422, "the Security Event Token's signature is not valid") from exc
        submission = self.submissions.get(str(payload.get("sub", "")).removeprefix("submission:"))
        header_ok = signed.protected.get("typ") == "secevent+jwt"
        if (
            submission is None
            or submission.case_id != case_id
            or payload.get("txn") != f"case:{case_id}"
            or not header_ok
        ):
            self.rejected_events.append(f"not about a submission of case {case_id}: {payload}")
            raise HTTPException(422, "the event is not about a submission of this case")
        if not isinstance(payload.get("events"), dict) or len(payload["events"]) != 1:
            raise HTTPException(422, "exactly one event per token")
        return payload


SENDER = ("kiel-portal", "sender-secret")  # the online service's OAuth client (test only)
SUBSCRIBER = ("kiel-eakte", "subscriber-secret")  # the e-file's OAuth client (test only)


def local_destination(folder: Path, poll_s: float = 0.5) -> tuple[LocalFitConnect, dict[str, str]]:
    """A local Submission API with one destination, not yet started, and the ingest service's settings for it.

    The destination's encryption key and the subscriber's signing key are RSA 4096 (as FIT-Connect demands); the
    private halves are written as JWK files into `folder`, as IT would place them for the subscriber."""
    public: list[dict[str, Any]] = []
    files: list[Path] = []
    for name in ("decryption", "signing"):
        key = RSAKey.generate_key(4096, private=True)
        path = folder / f"fitconnect-{name}.jwk.json"
        path.write_text(json.dumps({**key.as_dict(private=True), "kid": key.thumbprint()}))
        public.append({**key.as_dict(private=False), "kid": key.thumbprint()})
        files.append(path)
    destination = str(uuid.uuid4())
    server = LocalFitConnect(destination, public[0], public[1], dict([SENDER, SUBSCRIBER]))
    env = {
        "EAKTE_FITCONNECT_API_URL": server.url,
        "EAKTE_FITCONNECT_TOKEN_URL": f"{server.url}/token",
        "EAKTE_FITCONNECT_CLIENT_ID": SUBSCRIBER[0],
        "EAKTE_FITCONNECT_CLIENT_SECRET": SUBSCRIBER[1],
        "EAKTE_FITCONNECT_DESTINATION_ID": destination,
        "EAKTE_FITCONNECT_PRIVATE_KEY_FILE": str(files[0]),
        "EAKTE_FITCONNECT_SIGNING_KEY_FILE": str(files[1]),
        "EAKTE_FITCONNECT_METADATA_SCHEMA": str(metadata_schema()),
        "EAKTE_FITCONNECT_POLL_S": str(poll_s),
    }
    return server, env
