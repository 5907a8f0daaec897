"""HTTP side of the metrics: the counting middleware and `GET /metrics` (for the services and the portal)."""

import time
from collections.abc import Callable, Sequence

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, Match

from shared.metrics import (
    CONTENT_TYPE,
    HTTP_REQUESTS,
    HTTP_SECONDS,
    UNMATCHED_ROUTE,
    Exposition,
    allowed_networks,
    may_scrape,
)
from shared.request_gate import ASGIApp, Message, Receive, Scope, Send

METRICS_PATH = "/metrics"
# The method label: these, or `other` (a caller must not make new series by inventing methods).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(scope: Scope, routes: Sequence[BaseRoute]) -> str:
    """The template of the route that answered (`/api/v1/documents/{document_id}`), never the raw path.

    The router puts the matched route into the scope; a request answered before routing (401 by the request
    gate) is matched here against the app's routes; nothing matches: `UNMATCHED_ROUTE`.
    """
    route: object = scope.get("route")
    if route is None:  # FastAPI keeps included routers as such: its public iterator flattens them
        route = next((r for r in iter_route_contexts(routes) if r.matches(scope)[0] is not Match.NONE), None)
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(template) if template else UNMATCHED_ROUTE


class MetricsMiddleware:
    """Pure ASGI: counts each HTTP request by route template, method and status, and times it."""

    def __init__(self, app: ASGIApp, service: str, routes: Callable[[], Sequence[BaseRoute]]) -> None:
        self._app = app
        self._service = service
        self._routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception that escapes before a response started becomes a 500

        async def noting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self._app(scope, receive, noting_send)
        finally:
            route = route_template(scope, self._routes())
            method = str(scope.get("method", "")) if scope.get("method") in METHODS else "other"
            HTTP_REQUESTS.labels(self._service, route, method, str(status)).inc()
            HTTP_SECONDS.labels(self._service, route, method).observe(time.perf_counter() - started)


def add_metrics(app: FastAPI, service: str, exposition: Exposition, allow: str) -> None:
    """`GET /metrics` (no token; only callers from the networks in `allow`, EAKTE_METRICS_ALLOW) and the counting.

    Add it after the app's other middleware, so that it is the outermost and also counts the gate's answers.
    """
    networks = allowed_networks(allow)

    @app.get(METRICS_PATH, include_in_schema=False)
    async def metrics(request: Request) -> Response:
        host = request.client.host if request.client else None
        if not may_scrape(host, networks):
            reason = "metrics may be read only from the networks in EAKTE_METRICS_ALLOW"
            return JSONResponse({"error": "forbidden", "reason": reason}, status_code=403)
        return Response(await exposition.render(), media_type=CONTENT_TYPE)

    app.state.metrics = exposition
    app.add_middleware(MetricsMiddleware, service=service, routes=lambda: app.router.routes)
