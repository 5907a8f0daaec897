"""Bearer-token auth: JWTs carrying `sub` and `roles`, checked on every route."""

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


class InvalidRoles(ValueError):
    pass


def parse_roles(text: str) -> frozenset[str]:
    roles = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = roles - ROLES
    if not roles or unknown:
        raise InvalidRoles(f"roles must be a non-empty subset of {sorted(ROLES)}; unknown: {sorted(unknown)}")
    return roles


def issue_token(user: str, roles: frozenset[str], secret: str, ttl: timedelta) -> str:
    if not user:
        raise ValueError("user must not be empty")
    if not roles or not roles <= ROLES:
        raise InvalidRoles(f"roles must be a non-empty subset of {sorted(ROLES)}")
    now = datetime.now(UTC)
    claims = {"sub": user, "roles": sorted(roles), "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(token: str, secret: str) -> Principal:
    claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp"]})
    roles = claims.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise jwt.InvalidTokenError("roles must be a list of strings")
    return Principal(user=str(claims["sub"]), roles=frozenset(roles) & ROLES)


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
        return decode_token(credentials.credentials, get_settings().jwt_secret)
    except jwt.PyJWTError as exc:
        raise unauthorized from exc


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
