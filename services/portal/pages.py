"""Rendering: Jinja2 templates with the German wording, dates, the signed-in user and the navigation."""

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import StrictUndefined

from services.ingest.domain import channel_name
from services.portal.identity import ADMIN, APPROVER, CLERK, CSRF_FIELD, RECORDS, User, csrf_token, session_user
from services.portal.wording import GermanDates, file_size, t, t_or

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

# The main navigation: (path, wording key, roles that see it). The pages check the same roles again.
NAVIGATION = (
    ("/erfassen", "nav.upload", CLERK),
    ("/dokumente", "nav.documents", CLERK),
    ("/aufgaben", "nav.tasks", APPROVER),
    ("/abwesenheit", "nav.absence", APPROVER),
    ("/archiv", "nav.archive", RECORDS),
    ("/aussonderung", "nav.disposal", RECORDS),
    ("/admin/quarantaene", "nav.quarantine", ADMIN),
    ("/admin/system", "nav.system", ADMIN),
    ("/einstellungen", "nav.settings", (*CLERK, *APPROVER, *RECORDS)),
    ("/suche", "search.nav", ("clerk", "approver", "records_officer", "admin")),
)


def make_templates(timezone: str) -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    env = templates.env
    env.undefined = StrictUndefined  # a typo in a template is an error in the tests, not a blank on screen
    dates = GermanDates(timezone)
    env.globals.update(t=t, t_or=t_or, CSRF_FIELD=CSRF_FIELD)
    env.filters.update(
        datum=dates.date,
        zeit=dates.datetime,
        groesse=file_size,
        role_label=lambda role: t_or(f"roles.{role}", role),
        status_label=lambda status: t_or(f"status.{status}", status),
        kanal=channel_name,  # the channel a document came through, in German (Scan, Upload, E-Mail, ...)
    )
    return templates


def navigation(user: User | None) -> list[tuple[str, str]]:
    if user is None:
        return []
    return [(path, t(key)) for path, key, roles in NAVIGATION if user.has(*roles)]


def home_path(user: User) -> str:
    entries = navigation(user)
    return entries[0][0] if entries else "/abmelden"


def flash(request: Request, message: str, kind: str = "ok") -> None:
    """A one-time message shown on the next page (after a redirect), e.g. "Freigabe gespeichert"."""
    request.session["flash"] = {"message": message, "kind": kind}


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    user = session_user(request)
    templates: Jinja2Templates = request.app.state.templates
    base = {
        "user": user,
        "nav": navigation(user),
        "current_path": request.url.path,
        "csrf": csrf_token(request),
        "flash": request.session.pop("flash", None),
        "auth_mode": request.app.state.settings.portal_auth,
    }
    return templates.TemplateResponse(request, template, {**base, **context}, status_code=status_code)


def not_found(request: Request) -> HTMLResponse:
    return render(request, "error.html", 404, title=t("errors.not_found_title"), message=t("errors.not_found"))
