"""The person's own settings (`/einstellungen`): how notification mails reach them.

The choice is stored per person by the workflow service (`/api/v1/notifications/preferences`), which sends the
mails: immediately or as one daily digest, and whether archived documents are announced.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from services.portal.backend import ServiceRefused, calls
from services.portal.identity import Csrf, User, allowed
from services.portal.pages import flash, render
from services.portal.wording import t

router = APIRouter()
EVERYONE = ("clerk", "approver", "records_officer", "admin")
Person = Annotated[User, Depends(allowed(*EVERYONE))]
PREFERENCES = "/api/v1/notifications/preferences"
DELIVERIES = ("immediate", "digest")


@router.get("/einstellungen")
async def settings_page(request: Request, user: Person) -> Response:
    preferences = await calls(request, user).get("workflow", PREFERENCES)
    return render(request, "settings.html", preferences=preferences, deliveries=DELIVERIES)


@router.post("/einstellungen", dependencies=[Csrf])
async def save_settings(
    request: Request,
    user: Person,
    delivery: Annotated[str, Form(max_length=20)] = "",
    archived: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    if delivery not in DELIVERIES:
        preferences = await calls(request, user).get("workflow", PREFERENCES)
        error = t("settings.delivery_required")
        return render(request, "settings.html", 422, preferences=preferences, deliveries=DELIVERIES, error=error)
    body = {"delivery": delivery, "archived": archived == "on"}
    try:
        await calls(request, user).put("workflow", PREFERENCES, json=body)
    except ServiceRefused as exc:
        preferences = await calls(request, user).get("workflow", PREFERENCES)
        error = t("settings.refused", reason=str(exc.body.get("reason") or exc.status))
        return render(request, "settings.html", 422, preferences=preferences, deliveries=DELIVERIES, error=error)
    flash(request, t("settings.saved"))
    return RedirectResponse("/einstellungen", status_code=303)
