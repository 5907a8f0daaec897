"""Log lines: plain text for `make up`, or one JSON object per line (`EAKTE_LOG_FORMAT=json`) for IT's collectors.

A JSON line carries `time` (ISO 8601, UTC), `level`, `service`, `logger`, `message` and, where known, the
`document_id` and `correlation_id` of the work being done and the W3C `traceparent` of the current span:

    {"time": "2026-11-30T02:10:00.123Z", "level": "INFO", "service": "workflow", "logger": "services.workflow...",
     "message": "...", "document_id": "…", "correlation_id": "…", "traceparent": "00-…-…-01"}

The ids come from context variables: a consumed Kafka event sets its document and correlation id
(`shared.messaging.subscribe`), an HTTP request its `X-Correlation-ID` (or a fresh one, echoed in the response:
`CorrelationId`). Log calls name ids, never titles, names, file names or content; bearer tokens and JWTs that
slip into a message (an exception's text) are cut out before the line is written.
"""

import contextlib
import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.tracing import current_traceparent

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CORRELATION_HEADER = "X-Correlation-ID"

_document_id: ContextVar[str | None] = ContextVar("eakte_document_id", default=None)
_correlation_id: ContextVar[str | None] = ContextVar("eakte_correlation_id", default=None)

# Secrets that must never reach a log line, whatever a message or an exception's text contains.
_SECRETS = (
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"), "Bearer [redacted]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "[redacted-jwt]"),
    (re.compile(r"(?i)\b(password|passwd|secret|secret_key|access_key|token)=([^\s&,;]+)"), r"\1=[redacted]"),
)
# Loggers of the libraries whose lines go through the same handler (they bring handlers of their own otherwise).
LIBRARY_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "faststream", "faststream.kafka")
# A correlation id from a client is taken only in this shape (it lands in every log line of the request).
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


@contextlib.contextmanager
def log_context(document_id: str | None = None, correlation_id: str | None = None) -> Iterator[None]:
    """Log lines written inside (this task, and threads started with its context) name these ids."""
    doc_token = _document_id.set(document_id) if document_id is not None else None
    corr_token = _correlation_id.set(correlation_id) if correlation_id is not None else None
    try:
        yield
    finally:
        if corr_token is not None:
            _correlation_id.reset(corr_token)
        if doc_token is not None:
            _document_id.reset(doc_token)


def current_ids() -> dict[str, str]:
    ids = {"document_id": _document_id.get(), "correlation_id": _correlation_id.get()}
    return {key: value for key, value in ids.items() if value}


def _iso_utc(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines inside a message or a traceback are escaped)."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _iso_utc(record.created),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        line |= current_ids()
        traceparent = current_traceparent()
        if traceparent:
            line["traceparent"] = traceparent
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        elif record.stack_info:
            line["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(line, ensure_ascii=False, default=str)


class RedactingFormatter(logging.Formatter):
    """The plain text lines of `make up`, with the same secrets cut out."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


_HANDLER_NAME = "eakte"


def configure_logging(service: str, log_format: str = "text", level: int = logging.INFO) -> None:
    """Send every log line of this process (ours, uvicorn's, FastStream's, warnings) through one formatter.

    Idempotent: a second call replaces the handler it added, and touches no other handler of the root logger.
    """
    if log_format not in FORMATS:
        raise ValueError(f"EAKTE_LOG_FORMAT must be one of {', '.join(FORMATS)}, not {log_format!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter(service) if log_format == "json" else RedactingFormatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        for own in list(library.handlers):
            library.removeHandler(own)
        library.propagate = True
    logging.captureWarnings(True)
    if log_format == "json":
        sys.excepthook = _log_uncaught


def _log_uncaught(exc_type: type[BaseException], exc: BaseException, traceback: TracebackType | None) -> None:
    logging.getLogger("eakte.uncaught").critical("uncaught exception", exc_info=(exc_type, exc, traceback))


def correlation_id_of(value: str | None) -> str:
    """The client's correlation id when it has a safe shape, a fresh one otherwise."""
    return value if value and _CLIENT_ID.match(value) else str(uuid.uuid4())


class CorrelationId:
    """ASGI middleware: each HTTP request runs with a correlation id (`X-Correlation-ID` or a fresh one),
    which its log lines carry and its response echoes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope.get("headers") or [])
        given = sent.get(CORRELATION_HEADER.lower().encode())
        correlation = correlation_id_of(given.decode("latin-1") if given else None)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[CORRELATION_HEADER] = correlation
            await send(message)

        with log_context(correlation_id=correlation):
            await self.app(scope, receive, send_with_id)
