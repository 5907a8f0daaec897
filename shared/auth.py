"""Bearer-token auth: JWTs carrying `sub`, `roles` and `org_units`, checked on every route."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.settings import get_settings

ROLES = frozenset({"clerk", "approver", "records_officer", "admin"})
ALGORITHM = "HS256"


@dataclass(frozen=True)
class Principal:
    user: str
    roles: frozenset[str]
    # The org units the person works for (need-to-know); a person without one is a member of none.
    org_units: frozenset[str] = frozenset()


class InvalidRoles(ValueError):
    pass


def parse_roles(text: str) -> frozenset[str]:
    roles = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = roles - ROLES
    if not roles or unknown:
        raise InvalidRoles(f"roles must be a non-empty subset of {sorted(ROLES)}; unknown: {sorted(unknown)}")
    return roles


def parse_org_units(text: str) -> frozenset[str]:
    return frozenset(part.strip() for part in text.split(",") if part.strip())


def issue_token(
    user: str, roles: frozenset[str], secret: str, ttl: timedelta, org_units: frozenset[str] = frozenset()
) -> str:
    if not user:
        raise ValueError("user must not be empty")
    if not roles or not roles <= ROLES:
        raise InvalidRoles(f"roles must be a non-empty subset of {sorted(ROLES)}")
    now = datetime.now(UTC)
    claims = {"sub": user, "roles": sorted(roles), "org_units": sorted(org_units), "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(token: str, secret: str) -> Principal:
    claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp"]})
    roles = _strings(claims.get("roles", []), "roles")
    org_units = _strings(claims.get("org_units", []), "org_units")
    return Principal(user=str(claims["sub"]), roles=roles & ROLES, org_units=org_units)


def _strings(value: object, claim: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise jwt.InvalidTokenError(f"{claim} must be a list of strings")
    return frozenset(value)


_bearer = HTTPBearer(auto_error=False)


def current_principal(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    unauthorized = HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail={"error": "unauthorized", "reason": "missing or invalid bearer token"},
        headers={"WWW-Authenticate": "Bearer"},
    )
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized
    try:
        return authenticate(credentials.credentials)
    except jwt.PyJWTError as exc:
        raise unauthorized from exc


def authenticate(token: str) -> Principal:
    """The one answer to "is this bearer token valid" (routes and the request gate ask it); raises `PyJWTError`."""
    return decode_token(token, get_settings().jwt_secret)


def principal_from_header(authorization: bytes | None) -> Principal | None:
    """The caller named by a raw `Authorization` header, or None when it is missing, malformed or invalid."""
    if not authorization:
        return None
    try:
        scheme, _, token = authorization.decode("ascii").partition(" ")
    except UnicodeDecodeError:
        return None
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        return authenticate(token.strip())
    except (jwt.PyJWTError, ValueError):
        return None


def require_roles(*allowed: str) -> Callable[[Principal], Principal]:
    """A FastAPI dependency that lets a caller through only with one of the allowed roles."""

    def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.roles & set(allowed):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail={"error": "forbidden", "reason": f"requires one of the roles {sorted(allowed)}"},
            )
        return principal

    return check
