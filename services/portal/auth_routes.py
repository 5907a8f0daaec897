"""Signing in and out: a development page to pick a user and roles, or the OpenID Connect provider."""

from typing import Annotated

from authlib.integrations.base_client import OAuthError
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from services.portal.identity import Csrf, safe_next, session_user, sign_in, sign_out
from services.portal.oidc import identity_from_claims
from services.portal.pages import home_path, render
from services.portal.wording import t
from shared.auth import ROLES, parse_org_units
from shared.reserved_names import is_reserved
from shared.workflow_catalog import org_units_of

router = APIRouter()

# Sample people of the development set-up; their org units come from config/workflows/org_units.yaml membership
# (clara, anton and berta work in 50 Sozialamt; rita and adam see by their role, in no unit).
DEV_PEOPLE = (
    ("clara", ("clerk",)),
    ("anton", ("approver",)),
    ("berta", ("approver",)),
    ("rita", ("records_officer",)),
    ("adam", ("admin",)),
)
ROLE_ORDER = ("clerk", "approver", "records_officer", "admin")


@router.get("/")
async def start(request: Request) -> Response:
    user = session_user(request)
    return RedirectResponse(home_path(user) if user else "/anmelden", status_code=303)


@router.get("/anmelden")
async def sign_in_page(request: Request, next: str = "/") -> Response:
    oidc = request.app.state.oidc
    if oidc is not None:
        redirect_uri = _public_url(request, "/anmelden/rueckkehr")
        request.session["next"] = safe_next(next)
        return await oidc.authorize_redirect(request, redirect_uri)
    # The sign-in form carries a CSRF token too (render adds it), so no other site can sign someone in.
    return _sign_in_page(request, next)


def _sign_in_page(request: Request, next: str, status: int = 200, **error: str) -> Response:
    settings = request.app.state.settings
    units = {person: sorted(org_units_of(settings, person)) for person, _ in DEV_PEOPLE}
    return render(
        request, "sign_in.html", status, people=DEV_PEOPLE, units=units, roles=ROLE_ORDER, next=safe_next(next), **error
    )


def _plain(name: str) -> bool:
    return bool(name) and name.replace(".", "").replace("-", "").replace("_", "").isalnum()


@router.post("/anmelden", dependencies=[Csrf])
async def dev_sign_in(
    request: Request,
    user: Annotated[str, Form(max_length=200)] = "",
    roles: Annotated[list[str] | None, Form()] = None,
    org_units: Annotated[str, Form(max_length=500)] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Development sign-in. Org units: the field's (comma-separated), else the person's in org_units.yaml."""
    if request.app.state.oidc is not None:
        return RedirectResponse("/anmelden", status_code=303)
    chosen = frozenset(roles or ()) & ROLES
    name = user.strip()
    units = parse_org_units(org_units) or org_units_of(request.app.state.settings, name)
    if not _plain(name) or not chosen or not all(_plain(unit) and len(unit) <= 50 for unit in units):
        return _sign_in_page(request, next, 422, error=t("signin.invalid"))
    if is_reserved(name, request.app.state.settings.hotfolder_user):
        return _sign_in_page(request, next, 403, error=t("signin.reserved", user=name))
    signed_in = sign_in(request, name, chosen, units)
    target = safe_next(next)
    return RedirectResponse(target if target != "/" else home_path(signed_in), status_code=303)


@router.get("/anmelden/rueckkehr")
async def oidc_return(request: Request) -> Response:
    oidc = request.app.state.oidc
    if oidc is None:
        return RedirectResponse("/anmelden", status_code=303)
    try:
        token = await oidc.authorize_access_token(request)
    except OAuthError:
        return render(request, "error.html", 401, title=t("signin.failed_title"), message=t("signin.failed"))
    claims = dict(token.get("userinfo") or {})
    user, roles = identity_from_claims(claims, request.app.state.settings)
    if not user or not roles:
        return render(request, "error.html", 403, title=t("signin.no_roles_title"), message=t("signin.no_roles"))
    if is_reserved(user, request.app.state.settings.hotfolder_user):
        message = t("signin.reserved", user=user)
        return render(request, "error.html", 403, title=t("signin.reserved_title"), message=message)
    target = safe_next(request.session.get("next"))
    # The services are called with the person's own access token, for as long as it is valid.
    access_token, expires_at = str(token.get("access_token") or ""), float(token.get("expires_at") or 0)
    signed_in = sign_in(request, user, roles, access_token=access_token, access_expires_at=expires_at)
    return RedirectResponse(target if target != "/" else home_path(signed_in), status_code=303)


@router.post("/abmelden", dependencies=[Csrf])
async def sign_out_action(request: Request) -> Response:
    sign_out(request)
    return RedirectResponse("/abgemeldet", status_code=303)


@router.get("/abgemeldet")
async def signed_out(request: Request) -> Response:
    return render(request, "signed_out.html")


def _public_url(request: Request, path: str) -> str:
    base = request.app.state.settings.portal_public_url.rstrip("/")
    return f"{base}{path}" if base else str(request.url_for("oidc_return"))
