"""Calls to the ingest, workflow and archive services, made with the signed-in user's identity.

The portal owns no business data: every page asks the services, and every call carries the user's token:
signed in through OIDC, the person's own access token; in development, a short-lived token the portal signs
(the services check roles themselves, so the portal cannot widen anyone's rights).
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import Request
from fastapi.responses import StreamingResponse

from services.portal.identity import SignInExpired, User
from shared.auth import issue_token
from shared.settings import Settings

CALL_TOKEN_TTL = timedelta(minutes=5)
SERVICES = ("ingest", "workflow", "archive")


class ServiceDown(Exception):
    """The service did not answer (not running, timed out)."""

    def __init__(self, service: str) -> None:
        super().__init__(service)
        self.service = service


class ServiceRefused(Exception):
    """The service answered with an error; `body` is its JSON error (error, reason, message ...)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body

    @property
    def code(self) -> str:
        return str(self.body.get("error", ""))


# What a download keeps of the service's answer: type, size, file name and the checksum the service took.
PASSED_HEADERS = ("content-type", "content-length", "content-disposition", "x-content-sha256")


@dataclass
class Download:
    """A streamed answer: headers to pass on and the bytes, read while the browser receives them."""

    headers: dict[str, str]
    chunks: AsyncIterator[bytes]

    def response(self) -> StreamingResponse:
        headers = {name: value for name, value in self.headers.items() if name.lower() in PASSED_HEADERS}
        return StreamingResponse(self.chunks, headers=headers)


class Backend:
    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._settings = settings
        self._urls = {name: settings.service_url(name) for name in SERVICES}
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=3.0), transport=transport)

    async def close(self) -> None:
        await self._http.aclose()

    def url(self, service: str) -> str:
        return self._urls[service]

    def as_user(self, user: User) -> "UserCalls":
        token = user.access_token or issue_token(
            user.name, user.roles, self._settings.jwt_secret, CALL_TOKEN_TTL, org_units=user.org_units
        )
        return UserCalls(self, {"Authorization": f"Bearer {token}"})

    async def health(self, service: str) -> bool:
        try:
            response = await self._http.get(f"{self._urls[service]}/health", timeout=3.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def request(self, service: str, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, f"{self._urls[service]}{path}", headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise ServiceDown(service) from exc
        _raise_for_error(response)
        return response.json() if response.content else None

    async def forward(
        self, service: str, path: str, headers: dict[str, str], content: AsyncIterator[bytes]
    ) -> httpx.Response:
        try:
            return await self._http.post(f"{self._urls[service]}{path}", content=content, headers=headers)
        except httpx.TransportError as exc:
            raise ServiceDown(service) from exc

    async def stream(self, service: str, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> Download:
        request = self._http.build_request(method, f"{self._urls[service]}{path}", headers=headers, **kwargs)
        try:
            response = await self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise ServiceDown(service) from exc
        if response.is_error:
            await response.aread()
            await response.aclose()
            _raise_for_error(response)

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in response.aiter_bytes():
                    yield chunk
            finally:
                await response.aclose()

        headers = dict(response.headers)
        if "content-encoding" in headers:
            headers.pop("content-length", None)  # the bytes are passed on decoded, so that length would be wrong
        return Download(headers, chunks())


def _raise_for_error(response: httpx.Response) -> None:
    if not response.is_error:
        return
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {"detail": body}
    raise ServiceRefused(response.status_code, body)


class UserCalls:
    """One user's calls; paths are the services' public API paths."""

    def __init__(self, backend: Backend, headers: dict[str, str]) -> None:
        self._backend = backend
        self._headers = headers

    async def get(self, service: str, path: str, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v not in (None, "")}
        return await self._backend.request(service, "GET", path, self._headers, params=query)

    async def post(
        self, service: str, path: str, json: Any = None, content_type: str | None = None, **kwargs: Any
    ) -> Any:
        headers = {**self._headers, "Content-Type": content_type} if content_type else self._headers
        return await self._backend.request(service, "POST", path, headers, json=json, **kwargs)

    async def put(self, service: str, path: str, json: Any = None) -> Any:
        return await self._backend.request(service, "PUT", path, self._headers, json=json)

    async def delete(self, service: str, path: str) -> Any:
        return await self._backend.request(service, "DELETE", path, self._headers)

    async def stream(self, service: str, method: str, path: str, **kwargs: Any) -> Download:
        headers = {**self._headers, **kwargs.pop("headers", {})}  # e.g. Accept: application/pdf
        return await self._backend.stream(service, method, path, headers, **kwargs)

    async def forward(
        self, service: str, path: str, content: AsyncIterator[bytes], content_type: str
    ) -> httpx.Response:
        """Pass a request body through unread (an upload streams from the browser to the service)."""
        headers = {**self._headers, "Content-Type": content_type}
        return await self._backend.forward(service, path, headers, content)


def calls(request: Request, user: User) -> UserCalls:
    """The signed-in user's calls, for a page handler; signed in through OIDC, only with a live access token."""
    backend: Backend = request.app.state.backend
    if request.app.state.oidc is not None and (not user.access_token or user.access_expired()):
        raise SignInExpired(quote(request.url.path, safe="/") if request.method == "GET" else "/")
    return backend.as_user(user)
