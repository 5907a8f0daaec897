"""The first gate of every service request: the caller is known before any body is read, and bodies are bounded.

A plain ASGI middleware (no body buffering): for every path but the open ones it verifies the bearer token
(`shared.auth.principal_from_header`) from the headers alone and answers 401 at once; it then counts the body's
bytes as the app reads them and answers 413 when they pass the route's limit (a too large `Content-Length` is
refused before a byte is read). The routes' own role checks (`require_roles`) stay: this gate comes first.
"""

import json
import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

import jwt

from shared.auth import MissingToken, ProviderUnavailable, principal_from_header

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Open without a token: they describe the service and reveal no data (other issues add their own on purpose).
OPEN_PATHS = frozenset({"/health", "/ready", "/metrics", "/openapi.json", "/asyncapi.json", "/docs", "/redoc"})
# Open311 GeoReport v2 (citizens' defect-reporting apps): exactly its four routes; a report needs the app's
# api_key instead (checked by the route before the body), and the public views show no personal data.
OPEN311_PATHS = frozenset({"/open311/v2/services.json", "/open311/v2/requests.json"})
OPEN311_REQUEST = re.compile(r"^/open311/v2/requests/[A-Za-z0-9-]{1,64}\.json$")
OPEN_PREFIXES = ("/docs/",)
XDOMEA_PREFIX = "/api/v1/archive/xdomea/"
XDOMEA_MAX_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class BodyLimits:
    """How many body bytes a route may send: JSON (and anything else) by default, xdomea messages, uploads."""

    json_bytes: int
    xdomea_bytes: int = XDOMEA_MAX_BYTES
    # Multipart uploads are bounded per file while they stream (`max_upload_bytes`, checked by the upload parser).
    upload_bytes: int | None = None
    open_paths: frozenset[str] = OPEN_PATHS
    open_prefixes: tuple[str, ...] = OPEN_PREFIXES

    def is_open(self, path: str) -> bool:
        if path in OPEN311_PATHS or OPEN311_REQUEST.match(path):
            return True
        return path in self.open_paths or path.startswith(self.open_prefixes)

    def limit_for(self, path: str, content_type: str) -> int | None:
        if path.startswith(XDOMEA_PREFIX):
            return self.xdomea_bytes
        if content_type.lower().startswith("multipart/form-data"):
            return self.upload_bytes
        return self.json_bytes


class BodyTooLarge(Exception):
    pass


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


async def _answer(
    send: Send, status: int, error: str, reason: str, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    body = json.dumps({"error": error, "reason": reason}).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers]
    # The body may still be on its way: tell the client this connection ends with the answer.
    head.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


def _declared_length(scope: Scope) -> int | None:
    """The `Content-Length`, or -1 when it is present but not a non-negative integer (a malformed header)."""
    raw = _header(scope, b"content-length")
    if raw is None:
        return None
    text = raw.strip()
    return int(text) if text.isdigit() and text.isascii() else -1


class RequestGate:
    """ASGI middleware: 401 before the body for protected paths, 413 while the body streams past the limit."""

    def __init__(self, app: ASGIApp, limits: Callable[[], BodyLimits]) -> None:
        self._app = app
        self._limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        limits = self._limits()
        path = str(scope.get("path", ""))
        if not limits.is_open(path) and not await self._caller_known(scope, send):
            return
        content_type = (_header(scope, b"content-type") or b"").decode("latin-1")
        limit = limits.limit_for(path, content_type)
        declared = _declared_length(scope)
        if declared == -1:
            await _answer(send, 400, "invalid_request", "the Content-Length header is not a number")
            return
        if limit is not None and declared is not None and declared > limit:
            await _answer(send, 413, "too_large", f"the request body is larger than {limit} bytes")
            return
        await self._pass_on(scope, receive, send, limit)

    async def _caller_known(self, scope: Scope, send: Send) -> bool:
        """True when the bearer token is valid; otherwise the answer (401, or 503 without the provider) is sent."""
        try:
            await principal_from_header(_header(scope, b"authorization"))
        except ProviderUnavailable as exc:
            await _answer(send, 503, "identity_provider_unavailable", str(exc))
            return False
        except jwt.PyJWTError as exc:
            reason = str(exc) if isinstance(exc, MissingToken) else f"invalid bearer token: {exc}"
            await _answer(send, 401, "unauthorized", reason, [(b"www-authenticate", b"Bearer")])
            return False
        return True

    async def _pass_on(self, scope: Scope, receive: Receive, send: Send, limit: int | None) -> None:
        if limit is None:
            await self._app(scope, receive, send)
            return
        counted = 0
        state = {"exceeded": False, "answered": False, "app_started": False}

        async def bounded_receive() -> Message:
            nonlocal counted
            message = await receive()
            if message["type"] == "http.request":
                counted += len(message.get("body", b""))
                if counted > limit:
                    state["exceeded"] = True
                    raise BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            # Whatever the app made of the interrupted body (a parse error, say), the caller learns it was too large.
            if state["exceeded"] and not state["app_started"]:
                if not state["answered"]:
                    state["answered"] = True
                    await _answer(send, 413, "too_large", f"the request body is larger than {limit} bytes")
                return
            if message["type"] == "http.response.start":
                state["app_started"] = state["answered"] = True
            await send(message)

        try:
            await self._app(scope, bounded_receive, guarded_send)
        except BodyTooLarge:
            if not state["answered"]:
                await _answer(send, 413, "too_large", f"the request body is larger than {limit} bytes")
