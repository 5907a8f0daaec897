"""Signing in and out: a development page to pick a user and roles, or the OpenID Connect provider."""

from typing import Annotated

from authlib.integrations.base_client import OAuthError
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from services.portal.identity import Csrf, safe_next, session_user, sign_in, sign_out
from services.portal.oidc import identity_from_claims
from services.portal.pages import home_path, render
from services.portal.wording import t
from shared.auth import ROLES

router = APIRouter()

# Sample people of the development set-up (their names match config/workflows/org_units.yaml where relevant).
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
    return render(request, "sign_in.html", people=DEV_PEOPLE, roles=ROLE_ORDER, next=safe_next(next))


@router.post("/anmelden", dependencies=[Csrf])
async def dev_sign_in(
    request: Request,
    user: Annotated[str, Form(max_length=200)] = "",
    roles: Annotated[list[str] | None, Form()] = None,
    next: Annotated[str, Form()] = "/",
) -> Response:
    if request.app.state.oidc is not None:
        return RedirectResponse("/anmelden", status_code=303)
    chosen = frozenset(roles or ()) & ROLES
    name = user.strip()
    if not name or not chosen or not name.replace(".", "").replace("-", "").replace("_", "").isalnum():
        message = t("signin.invalid")
        return render(
            request, "sign_in.html", 422, people=DEV_PEOPLE, roles=ROLE_ORDER, next=safe_next(next), error=message
        )
    signed_in = sign_in(request, name, chosen)
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
    target = safe_next(request.session.get("next"))
    # The services are called with the person's own access token, for as long as it is valid.
    access_token, expires_at = str(token.get("access_token") or ""), float(token.get("expires_at") or 0)
    signed_in = sign_in(request, user, roles, access_token, expires_at)
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
