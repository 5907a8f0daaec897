"""Adapter: asks the workflow service whether it lets the caller see a document (task holders, deputies).

`GET {workflow}/api/v1/workflows/{document_id}` with the caller's own bearer token: 200 means the workflow lets
this person see the document, anything else (404, an error, no answer in time) means it does not.
"""

import logging

import httpx

log = logging.getLogger(__name__)


class WorkflowTasks:
    def __init__(self, base_url: str, timeout_s: float = 3.0) -> None:
        self._base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s

    def __call__(self, document_id: str, token: str) -> bool:
        url = f"{self._base_url}/api/v1/workflows/{document_id}"
        try:
            response = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=self._timeout_s)
        except httpx.HTTPError as exc:
            log.warning("need-to-know: workflow service unreachable, %s treated as not visible: %s", document_id, exc)
            return False
        return response.status_code == 200


class WorkflowTaskDocuments:
    """The documents the caller has an open task on (`GET {workflow}/api/v1/tasks` with their token), for the search.

    No answer in time or an error: none (the search then shows what ingest's own facts allow)."""

    def __init__(self, base_url: str, timeout_s: float = 3.0) -> None:
        self._base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s

    def __call__(self, token: str) -> frozenset[str]:
        url = f"{self._base_url}/api/v1/tasks"
        try:
            response = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=self._timeout_s)
        except httpx.HTTPError as exc:
            log.warning("search: workflow service unreachable, no task documents: %s", exc)
            return frozenset()
        if response.status_code != 200:
            return frozenset()
        return frozenset(str(task["document_id"]) for task in response.json())
