"""Who is signed in: the user and roles in the session cookie, CSRF tokens, and the role check on every page.

The session is Starlette's signed cookie (HttpOnly, SameSite=Lax, Secure on https). It holds only the user
name, the roles, the org units (need-to-know: they travel in every call's token), the CSRF token and, signed in
through OIDC, the person's access token (the portal calls the services with it; no script on the page can read
it); nothing a page shows comes from it.
"""

import secrets
import time
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

from shared.auth import ROLES

SESSION_USER = "user"
SESSION_ROLES = "roles"
SESSION_ORG_UNITS = "org_units"
SESSION_CSRF = "csrf"
SESSION_ACCESS_TOKEN = "access_token"
SESSION_ACCESS_EXPIRES = "access_expires_at"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class User:
    name: str
    roles: frozenset[str]
    org_units: frozenset[str] = frozenset()
    # Signed in through OIDC: the person's access token and when it expires (epoch seconds); empty in development.
    access_token: str = field(default="", repr=False)
    access_expires_at: float = 0.0

    def has(self, *roles: str) -> bool:
        return bool(self.roles & set(roles))

    def access_expired(self) -> bool:
        return bool(self.access_expires_at) and time.time() >= self.access_expires_at - ACCESS_TOKEN_MARGIN_S


class NotSignedIn(Exception):
    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class NotAllowed(Exception):
    pass


class SignInExpired(NotSignedIn):
    """The person's access token has expired (or a service no longer accepts it): sign in again."""


class CsrfRejected(Exception):
    pass


ACCESS_TOKEN_MARGIN_S = 10  # an access token this close to its expiry is not sent any more


def sign_in(
    request: Request,
    user: str,
    roles: frozenset[str],
    org_units: frozenset[str] = frozenset(),
    access_token: str = "",
    access_expires_at: float = 0.0,
) -> User:
    # A fresh session on every sign-in: nothing from before (a planted session id, an old token) survives.
    request.session.clear()
    request.session[SESSION_USER] = user
    request.session[SESSION_ROLES] = sorted(roles & ROLES)
    request.session[SESSION_ORG_UNITS] = sorted(org_units)
    request.session[SESSION_CSRF] = secrets.token_urlsafe(32)
    if access_token:
        request.session[SESSION_ACCESS_TOKEN] = access_token
        request.session[SESSION_ACCESS_EXPIRES] = access_expires_at
    return User(user, roles & ROLES, frozenset(org_units), access_token, access_expires_at)


def sign_out(request: Request) -> None:
    request.session.clear()


def session_user(request: Request) -> User | None:
    name = request.session.get(SESSION_USER)
    roles = frozenset(request.session.get(SESSION_ROLES) or ()) & ROLES
    if not name or not roles:
        return None
    org_units = frozenset(str(unit) for unit in request.session.get(SESSION_ORG_UNITS) or ())
    token = str(request.session.get(SESSION_ACCESS_TOKEN) or "")
    return User(str(name), roles, org_units, token, float(request.session.get(SESSION_ACCESS_EXPIRES) or 0.0))


def csrf_token(request: Request) -> str:
    token = request.session.get(SESSION_CSRF)
    if not token:
        token = request.session[SESSION_CSRF] = secrets.token_urlsafe(32)
    return str(token)


def safe_next(path: str | None) -> str:
    """Only a path on this site: `next=https://evil.example` or `//evil.example` must not redirect away."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


def signed_in(request: Request) -> User:
    user = session_user(request)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise NotSignedIn(quote(target, safe="/?=&"))
    return user


def allowed(*roles: str):  # noqa: ANN201 - returns a FastAPI dependency
    """A page dependency: signed in and holding one of `roles`, checked on the server for every request."""

    def check(user: Annotated[User, Depends(signed_in)]) -> User:
        if not user.has(*roles):
            raise NotAllowed()
        return user

    return check


async def check_csrf(request: Request) -> None:
    """Every state-changing request carries the session's token, in a header (scripts), the query (multipart
    forms: `?csrf_token=`, so that no upload is parsed before the check) or a url-encoded form field.

    Nothing of the body is read before the session is known; a multipart body is never parsed for the check.
    """
    expected = request.session.get(SESSION_CSRF)
    if not expected:
        raise CsrfRejected()  # no session: refused before a byte of the body is read
    sent = request.headers.get(CSRF_HEADER)
    content_type = request.headers.get("content-type", "")
    if sent is None and content_type.startswith("multipart/form-data"):
        sent = request.query_params.get(CSRF_FIELD)
    elif sent is None and content_type.startswith("application/x-www-form-urlencoded"):
        form = await request.form()  # cached by Starlette: the route reads the same form again
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not _same_token(str(expected), sent):
        raise CsrfRejected()


def _same_token(expected: str, sent: str) -> bool:
    # Header values arrive as Latin-1 text: compare bytes, so that non-ASCII bytes are a mismatch, never an error.
    return secrets.compare_digest(expected.encode(), sent.encode("utf-8", errors="replace"))


Csrf = Depends(check_csrf)
CLERK = ("clerk", "admin")
APPROVER = ("approver", "admin")
RECORDS = ("records_officer", "admin")
ADMIN = ("admin",)
