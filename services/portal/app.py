"""Wires the portal together: sessions, templates, the backend client and the pages."""

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware

from services.portal import (
    admin_routes,
    akte_routes,
    approver_routes,
    auth_routes,
    clerk_routes,
    records_routes,
    repair_routes,
)
from services.portal.backend import SERVICES, Backend, ServiceDown, ServiceRefused
from services.portal.identity import CsrfRejected, NotAllowed, NotSignedIn, SignInExpired, sign_out
from services.portal.oidc import make_oidc
from services.portal.pages import TEMPLATES_DIR, make_templates, not_found, render
from services.portal.preview_routes import router as preview_router
from services.portal.search_routes import router as search_router
from services.portal.settings_routes import router as settings_router
from services.portal.wording import t
from shared.logs import CorrelationId
from shared.metrics import Exposition
from shared.metrics_http import add_metrics
from shared.request_gate import BodyLimits, RequestGate
from shared.settings import Settings, get_settings

log = logging.getLogger(__name__)
STATIC_DIR = TEMPLATES_DIR.parent / "static"

# Scripts and styles only from the portal itself; the PDF view embeds the portal's own document route.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'self'; frame-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "SAMEORIGIN",
}


def session_secret(settings: Settings) -> str:
    if settings.portal_session_secret:
        return settings.portal_session_secret
    # Derived, not equal: the cookie key and the service token key should not be the same secret.
    return hashlib.sha256(f"eakte-portal-session:{settings.jwt_secret}".encode()).hexdigest()


def create_app(settings: Settings | None = None, backend: Backend | None = None) -> FastAPI:
    settings = settings or get_settings()
    backend = backend or Backend(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.portal_auth == "dev":
            log.warning("portal: development sign-in, anyone may pick any role; EAKTE_PORTAL_AUTH=oidc for real use")
        log.info("portal started (sign-in: %s)", settings.portal_auth)
        yield
        await backend.close()

    app = FastAPI(title="E-Akte Portal", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.backend = backend
    app.state.templates = make_templates(settings.timezone)
    app.state.oidc = make_oidc(settings)
    # Form bodies are bounded while they stream (pages sign in by session, not token: every path is open here;
    # multipart uploads stream through to the ingest service, which bounds each file).
    page_limits = BodyLimits(json_bytes=settings.max_json_bytes, open_prefixes=("/",))
    app.add_middleware(RequestGate, limits=lambda: page_limits)
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret(settings),
        session_cookie="eakte_portal",
        max_age=settings.portal_session_hours * 3600,
        same_site="lax",
        https_only=settings.portal_public_url.startswith("https://"),
    )
    app.add_middleware(CorrelationId)  # log lines of a request name its X-Correlation-ID (echoed in the response)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "public, max-age=3600")
        else:
            response.headers.setdefault("Cache-Control", "no-store")  # pages show personal data
        return response

    _add_error_pages(app)

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": "portal"}

    _add_ready(app, backend)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in (auth_routes, clerk_routes, approver_routes, records_routes, admin_routes, repair_routes):
        app.include_router(module.router)
    app.include_router(akte_routes.router)  # the Akte page (issue 17)
    app.include_router(preview_router)  # page images of documents (services.ingest previews)
    app.include_router(settings_router)  # /einstellungen: notification mails
    app.include_router(search_router)  # /suche: the search for clerks and approvers
    add_metrics(app, "portal", Exposition(), settings.metrics_allow)  # HTTP metrics; the portal has no gauges
    return app


def _add_ready(app: FastAPI, backend: Backend) -> None:
    @app.get("/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        # The portal is ready when the services it calls answer; open, check names only.
        reachable = await asyncio.gather(*(backend.health(name) for name in SERVICES))
        checks = {name: "ok" if ok else "unreachable" for name, ok in zip(SERVICES, reachable, strict=True)}
        ok = all(reachable)
        body = {"status": "ready" if ok else "not_ready", "service": "portal", "checks": checks}
        return JSONResponse(body, status_code=200 if ok else 503)


def sign_in_again(request: Request, next_path: str) -> Response:
    """The person's sign-in has expired: the session ends, and the page says so and offers to sign in again."""
    sign_out(request)
    if request.headers.get("x-requested-with") == "fetch":
        return Response(t("errors.session_expired"), status_code=401, media_type="text/plain; charset=utf-8")
    title, message = t("errors.session_expired_title"), t("errors.session_expired")
    return render(request, "error.html", 401, title=title, message=message, again=f"/anmelden?next={next_path}")


def _add_error_pages(app: FastAPI) -> None:
    @app.exception_handler(NotSignedIn)
    async def _not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        if request.headers.get("x-requested-with") == "fetch":
            return Response(t("errors.session_expired"), status_code=401, media_type="text/plain; charset=utf-8")
        return RedirectResponse(f"/anmelden?next={exc.next_path}", status_code=303)

    @app.exception_handler(SignInExpired)
    async def _sign_in_expired(request: Request, exc: SignInExpired) -> Response:
        return sign_in_again(request, exc.next_path)

    @app.exception_handler(NotAllowed)
    async def _not_allowed(request: Request, _exc: NotAllowed) -> Response:
        return render(request, "error.html", 403, title=t("errors.forbidden_title"), message=t("errors.forbidden"))

    @app.exception_handler(CsrfRejected)
    async def _csrf(request: Request, _exc: CsrfRejected) -> Response:
        return render(request, "error.html", 403, title=t("errors.csrf_title"), message=t("errors.csrf"))

    @app.exception_handler(ServiceDown)
    async def _down(request: Request, exc: ServiceDown) -> Response:
        message = t("errors.service_down", service=t(f"services.{exc.service}"))
        return render(request, "error.html", 503, title=t("errors.service_down_title"), message=message)

    @app.exception_handler(ServiceRefused)
    async def _refused(request: Request, exc: ServiceRefused) -> Response:
        # What a page did not handle itself: 404 and 403 have their own wording, the rest shows the reason.
        if exc.status == 404:
            return not_found(request)
        if exc.status == 401 and request.app.state.oidc is not None:
            return sign_in_again(request, "/")  # the provider's token is no longer accepted (expired, revoked)
        if exc.status in (401, 403):
            return render(request, "error.html", 403, title=t("errors.forbidden_title"), message=t("errors.forbidden"))
        message = str(exc.body.get("message") or exc.body.get("reason") or exc.status)
        return render(request, "error.html", 502, title=t("errors.refused_title"), message=message)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 404:
            return not_found(request)
        return render(request, "error.html", exc.status_code, title=t("errors.refused_title"), message=str(exc.detail))
