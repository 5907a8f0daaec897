"""Bearer-token auth, checked on every route.

Two kinds of token: the organisation's OIDC access tokens (RS256/ES256, verified with the issuer's JWKS when
EAKTE_OIDC_ISSUER is set) and development tokens signed with the shared secret (HS256, `eakte token`). The
token header's `alg` picks the check; `none` and anything else is refused.
"""

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import jwt
from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.reserved_names import is_reserved
from shared.settings import DEV_JWT_SECRET, Settings, get_settings

ROLES = frozenset({"clerk", "approver", "records_officer", "admin"})
ALGORITHM = "HS256"
OIDC_ALGORITHMS = ("RS256", "ES256")
OIDC_TIMEOUT_S = 3.0  # discovery and JWKS fetches: a provider that is down gives 503 quickly, never a hang
JWKS_LIFESPAN_S = 300.0  # the key set is fetched again after this
JWKS_REFRESH_COOLDOWN_S = 30.0  # an unknown key id refetches the key set at most this often
CLOCK_LEEWAY_S = 30
PROVIDER_RETRY_AFTER_S = 5.0  # after a failed fetch, requests get 503 at once for this long instead of queueing


@dataclass(frozen=True)
class Principal:
    user: str
    roles: frozenset[str]
    # The org units the person works for (need-to-know); a person without one is a member of none.
    org_units: frozenset[str] = frozenset()
    # The token's `email` claim, if it has one (notifications go there; else `<user>@EAKTE_MAIL_DOMAIN`).
    email: str = ""


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
    return _decode_shared(token, secret)[0]


def _decode_shared(token: str, secret: str) -> tuple[Principal, float]:
    """The principal of a shared-secret token, and the token's expiry (POSIX time)."""
    claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp"]})
    roles = _strings(claims.get("roles", []), "roles")
    org_units = _strings(claims.get("org_units", []), "org_units")
    principal = Principal(user=str(claims["sub"]), roles=roles & ROLES, org_units=org_units, email=_email(claims))
    return principal, float(claims["exp"])


def _strings(value: object, claim: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise jwt.InvalidTokenError(f"{claim} must be a list of strings")
    return frozenset(value)


class ProviderUnavailable(Exception):
    """The OIDC provider (discovery or JWKS) did not answer: the token cannot be checked now."""


def claim_at(claims: dict[str, Any], dotted: str) -> Any:
    """The value at a dotted path (`realm_access.roles`), or None."""
    value: Any = claims
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _claim_strings(claims: dict[str, Any], dotted: str) -> frozenset[str]:
    value = claim_at(claims, dotted)
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, list):
        return frozenset()
    return frozenset(item for item in value if isinstance(item, str))


class _Jwks:
    """One issuer's key set: `jwks_uri` discovered on first use, keys cached and refetched for an unknown kid."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self._client: jwt.PyJWKClient | None = None
        self._lock = asyncio.Lock()
        self._failed: tuple[float, str] | None = None  # when the provider last failed, and why

    def _check_not_failing(self) -> None:
        if self._failed is not None and time.monotonic() - self._failed[0] < PROVIDER_RETRY_AFTER_S:
            raise ProviderUnavailable(self._failed[1])

    def _failing(self, reason: str) -> ProviderUnavailable:
        self._failed = (time.monotonic(), reason)
        return ProviderUnavailable(reason)

    async def _discover(self) -> jwt.PyJWKClient:
        self._check_not_failing()
        async with self._lock:
            self._check_not_failing()
            if self._client is None:
                url = f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"
                try:
                    async with httpx.AsyncClient(timeout=OIDC_TIMEOUT_S) as http:
                        response = await http.get(url)
                    response.raise_for_status()
                    jwks_uri = str(response.json()["jwks_uri"])
                except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                    raise self._failing(f"OIDC discovery at {url} failed: {exc}") from exc
                self._client = jwt.PyJWKClient(
                    jwks_uri,
                    lifespan=JWKS_LIFESPAN_S,
                    timeout=OIDC_TIMEOUT_S,
                    cooldown_duration=JWKS_REFRESH_COOLDOWN_S,
                )
            return self._client

    async def key_for(self, token: str) -> jwt.PyJWK:
        client = await self._discover()
        try:
            # PyJWKClient fetches with urllib (blocking): off the event loop, bounded by its timeout.
            return await asyncio.to_thread(client.get_signing_key_from_jwt, token)
        except jwt.PyJWKClientConnectionError as exc:
            raise self._failing(f"OIDC key set could not be fetched: {exc}") from exc


_jwks: dict[str, _Jwks] = {}


def reset_oidc_cache() -> None:
    """Forget discovered providers and their keys, and the tokens checked with them (tests; a changed issuer)."""
    _jwks.clear()
    _verified.clear()


async def decode_oidc_token(token: str, settings: Settings) -> Principal:
    """An access token of the organisation's provider: signature by its JWKS, issuer, audience, expiry."""
    return (await _decode_oidc(token, settings))[0]


async def _decode_oidc(token: str, settings: Settings) -> tuple[Principal, float]:
    if not settings.oidc_audience:
        raise ProviderUnavailable("EAKTE_OIDC_AUDIENCE is not set: OIDC access tokens cannot be checked")
    jwks = _jwks.setdefault(settings.oidc_issuer, _Jwks(settings.oidc_issuer))
    key = await jwks.key_for(token)
    claims = jwt.decode(
        token,
        key,
        algorithms=list(OIDC_ALGORITHMS),
        audience=settings.oidc_audience,
        issuer=settings.oidc_issuer,
        leeway=CLOCK_LEEWAY_S,
        options={"require": ["iss", "aud", "exp"]},
    )
    user = claim_at(claims, settings.oidc_user_claim)
    if not isinstance(user, str) or not user:
        raise jwt.InvalidTokenError(f"the token has no {settings.oidc_user_claim}")
    roles = _claim_strings(claims, settings.oidc_roles_claim) & ROLES
    org_units = _claim_strings(claims, settings.oidc_org_units_claim)
    return Principal(user=user, roles=roles, org_units=org_units, email=_email(claims)), float(claims["exp"])


def _email(claims: dict[str, Any]) -> str:
    """The `email` claim when it is a plausible address (one `@`, no spaces, no line breaks), else ""."""
    value = claims.get("email")
    if not isinstance(value, str) or len(value) > 254 or value.count("@") != 1 or any(c.isspace() for c in value):
        return ""
    return value


class _VerifiedTokens:
    """Tokens that passed `verify_token` lately, with whom they name. A request's token is checked twice (by the
    request gate before the body, by the route), and a client sends the same token with every request until it
    expires; the check was ~5 % of an upload's CPU. Only tokens that passed are kept, at most `size`, each for
    at most `hold_s` and never past its expiry; the key includes the settings that judged it."""

    def __init__(self, size: int = 1024, hold_s: float = 60.0, clock: Callable[[], float] = time.time) -> None:
        self._size = size
        self._hold_s = hold_s
        self._clock = clock
        self._entries: OrderedDict[tuple[str, tuple[str, ...]], tuple[Principal, float]] = OrderedDict()

    def get(self, token: str, settings: Settings) -> Principal | None:
        key = (token, _judged_by(settings))
        found = self._entries.get(key)
        if found is None:
            return None
        if self._clock() >= found[1]:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return found[0]

    def put(self, token: str, settings: Settings, principal: Principal, expires_at: float) -> None:
        self._entries[(token, _judged_by(settings))] = (principal, min(expires_at, self._clock() + self._hold_s))
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


def _judged_by(settings: Settings) -> tuple[str, ...]:
    """The settings a token's check depends on."""
    return (
        settings.env,
        settings.jwt_secret,
        settings.oidc_issuer,
        settings.oidc_audience,
        settings.oidc_user_claim,
        settings.oidc_roles_claim,
        settings.oidc_org_units_claim,
        settings.hotfolder_user,
    )


_verified = _VerifiedTokens()


async def verify_token(token: str, settings: Settings) -> Principal:
    """Any accepted bearer token: the header's alg chooses the check (never `none`, never HS256 with a public key)."""
    known = _verified.get(token, settings)
    if known is not None:
        return known
    alg = jwt.get_unverified_header(token).get("alg")
    if alg == ALGORITHM:
        principal, expires_at = _decode_shared(token, _shared_secret(settings))
    elif alg in OIDC_ALGORITHMS and settings.oidc_issuer:
        principal, expires_at = await _decode_oidc(token, settings)
    else:
        raise jwt.InvalidAlgorithmError(f"tokens signed with {alg!r} are not accepted")
    if is_reserved(principal.user, settings.hotfolder_user):  # the system's own names never sign in
        raise jwt.InvalidTokenError("this name is reserved for the system")
    _verified.put(token, settings, principal, expires_at)
    return principal


def _shared_secret(settings: Settings) -> str:
    # Production with an OIDC issuer may leave EAKTE_JWT_SECRET unset: then no shared-secret token is accepted,
    # least of all one signed with the development secret printed in the README.
    if settings.env == "production" and settings.jwt_secret == DEV_JWT_SECRET:
        raise jwt.InvalidTokenError("development tokens are not accepted in production")
    return settings.jwt_secret


_bearer = HTTPBearer(auto_error=False)


async def current_principal(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("missing or invalid bearer token")
    try:
        return await verify_token(credentials.credentials, get_settings())
    except ProviderUnavailable as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail={"error": "identity_provider_unavailable", "reason": str(exc)},
        ) from exc
    except jwt.PyJWTError as exc:
        raise _unauthorized(f"invalid bearer token: {exc}") from exc


def _unauthorized(reason: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail={"error": "unauthorized", "reason": reason},
        headers={"WWW-Authenticate": "Bearer"},
    )


class MissingToken(jwt.InvalidTokenError):
    """No bearer token, or a header that is not one (another scheme, bytes that are not ASCII)."""


async def principal_from_header(authorization: bytes | None) -> Principal:
    """The caller named by a raw `Authorization` header; the request gate asks this before any body is read.

    It checks exactly what the routes check (`verify_token`). Raises `MissingToken` or another `PyJWTError`
    with the reason; `ProviderUnavailable` when the identity provider is away (not the caller's fault).
    """
    try:
        scheme, _, token = (authorization or b"").decode("ascii").partition(" ")
    except UnicodeDecodeError as exc:
        raise MissingToken("missing or invalid bearer token") from exc
    if scheme.lower() != "bearer" or not token.strip():
        raise MissingToken("missing or invalid bearer token")
    try:
        return await verify_token(token.strip(), get_settings())
    except ValueError as exc:  # a token that is not even a JWT
        raise jwt.InvalidTokenError(str(exc)) from exc


def require_roles(*allowed: str) -> Callable[[Principal], Coroutine[Any, Any, Principal]]:
    """A FastAPI dependency that lets a caller through only with one of the allowed roles.

    Async though it awaits nothing: FastAPI runs a plain `def` dependency in its thread pool, and such a hop
    (waiting for a worker thread and the GIL) took about 10 ms under load, here for a set intersection."""

    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.roles & set(allowed):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail={"error": "forbidden", "reason": f"requires one of the roles {sorted(allowed)}"},
            )
        return principal

    return check
