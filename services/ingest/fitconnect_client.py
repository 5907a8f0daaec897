"""The FIT-Connect adapter: the Submission API over HTTP (OAuth2 client credentials) and the JOSE work
(JWE RSA-OAEP-256 + A256GCM decryption with the destination's private key, JWS PS512 signatures of the Security
Event Tokens the subscriber sends), with joserfc.

Endpoints used (FITKO's Submission API v1): `GET /v1/submissions?destinationId=…` (submissions waiting for pickup),
`GET /v1/submissions/{id}`, `GET /v1/submissions/{id}/attachments/{attachmentId}` (a compact JWE) and
`POST /v1/cases/{caseId}/events` (a signed SET, `application/jose`).
"""

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from joserfc import jwe, jws
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

PAGE_SIZE = 100
DECRYPTION_ALGORITHMS = ["RSA-OAEP-256", "A256GCM", "DEF"]  # key wrap, content encryption, optional compression
SIGNING_ALGORITHM = "PS512"


class DecryptionFailed(Exception):
    pass


class FitConnectUnavailable(Exception):
    """FIT-Connect did not answer as expected (network, status); the poll tries again later."""


@dataclass(frozen=True)
class SubmissionStub:
    """A submission waiting for pickup, as the list names it."""

    submission_id: str
    case_id: str


class FitConnectKeys:
    """The destination's private decryption key and the subscriber's private signing key (both JWK files)."""

    def __init__(self, decryption_key_file: Path, signing_key_file: Path) -> None:
        self._decryption = _rsa_key(decryption_key_file, "decryption")
        self._signing = _rsa_key(signing_key_file, "signing")
        self._signing_kid = str(self._signing.get("kid") or self._signing.thumbprint())

    def decrypt(self, token: str) -> bytes:
        try:
            return jwe.decrypt_compact(token, self._decryption, algorithms=DECRYPTION_ALGORITHMS).plaintext or b""
        except (JoseError, ValueError, TypeError) as exc:
            raise DecryptionFailed(f"{type(exc).__name__}: {exc}") from exc

    def sign(self, payload: dict[str, Any]) -> str:
        header = {"alg": SIGNING_ALGORITHM, "typ": "secevent+jwt", "kid": self._signing_kid}
        body = json.dumps(payload, separators=(",", ":")).encode()
        return jws.serialize_compact(header, body, self._signing, algorithms=[SIGNING_ALGORITHM])


def _rsa_key(path: Path, what: str) -> RSAKey:
    try:
        key = RSAKey.import_key(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, JoseError) as exc:
        raise ValueError(f"FIT-Connect {what} key {path}: not a readable RSA JWK: {exc}") from exc
    if not key.is_private:
        raise ValueError(f"FIT-Connect {what} key {path}: a private key is needed")
    return key


class FitConnectClient:
    """The Submission API for one destination, as its subscriber (thread-safe: the poller runs in a thread)."""

    def __init__(
        self, api_url: str, token_url: str, client_id: str, client_secret: str, timeout_s: float = 30.0
    ) -> None:
        base = api_url.rstrip("/")
        self._base = base if base.endswith("/v1") else f"{base}/v1"
        self._token_url = token_url
        self._credentials = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
        self._http = httpx.Client(timeout=timeout_s)
        self._lock = threading.Lock()
        self._token = ""
        self._token_expires = 0.0

    def close(self) -> None:
        self._http.close()

    def _bearer(self) -> dict[str, str]:
        with self._lock:
            if not self._token or time.monotonic() > self._token_expires:
                answer = self._call("POST", self._token_url, data=self._credentials, authorised=False)
                body = answer.json()
                self._token = str(body["access_token"])
                # Renewed a minute early (or after half its life, if it is shorter), never used to the last second.
                lifetime = float(body.get("expires_in", 300))
                self._token_expires = time.monotonic() + max(lifetime - 60, lifetime / 2)
            return {"Authorization": f"Bearer {self._token}"}

    def _call(self, method: str, url: str, authorised: bool = True, **kwargs: Any) -> httpx.Response:
        headers = {**kwargs.pop("headers", {}), **(self._bearer() if authorised else {})}
        try:
            answer = self._http.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise FitConnectUnavailable(f"{method} {url}: {exc}") from exc
        if answer.status_code == 401 and authorised:
            with self._lock:
                self._token = ""  # revoked or expired early: a new token next time
        if answer.status_code >= 400:
            raise FitConnectUnavailable(f"{method} {url}: HTTP {answer.status_code} {answer.text[:300]}")
        return answer

    def submissions(self, destination_id: str) -> list[SubmissionStub]:
        """Every submission waiting for pickup at the destination (all pages)."""
        found: list[SubmissionStub] = []
        offset = 0
        while True:
            params: dict[str, str | int] = {"destinationId": destination_id, "offset": offset, "limit": PAGE_SIZE}
            page = self._call("GET", f"{self._base}/submissions", params=params).json()
            entries = page.get("submissions", [])
            found += [SubmissionStub(str(e["submissionId"]), str(e["caseId"])) for e in entries]
            offset += len(entries)
            if not entries or offset >= int(page.get("totalCount", offset)):
                return found

    def submission(self, submission_id: str) -> dict[str, Any]:
        body: dict[str, Any] = self._call("GET", f"{self._base}/submissions/{submission_id}").json()
        return body

    def attachment(self, submission_id: str, attachment_id: str) -> str:
        """The attachment as a compact JWE."""
        return self._call("GET", f"{self._base}/submissions/{submission_id}/attachments/{attachment_id}").text.strip()

    def send_event(self, case_id: str, security_event_token: str) -> None:
        headers = {"Content-Type": "application/jose"}
        self._call("POST", f"{self._base}/cases/{case_id}/events", content=security_event_token, headers=headers)
