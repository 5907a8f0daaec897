"""Sign-in through an OpenID Connect provider (Keycloak or any standard one), with Authlib."""

from typing import Any

from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App

from shared.auth import ROLES, claim_at
from shared.settings import Settings


class OidcMisconfigured(ValueError):
    pass


def make_oidc(settings: Settings) -> StarletteOAuth2App | None:
    if settings.portal_auth == "dev":
        return None
    if settings.portal_auth != "oidc":
        raise OidcMisconfigured(f"EAKTE_PORTAL_AUTH must be 'dev' or 'oidc', not {settings.portal_auth!r}")
    missing = [
        name
        for name in ("portal_oidc_issuer", "portal_oidc_client_id", "portal_oidc_client_secret")
        if not getattr(settings, name)
    ]
    if missing:
        raise OidcMisconfigured(f"EAKTE_PORTAL_AUTH=oidc needs {', '.join('EAKTE_' + m.upper() for m in missing)}")
    oauth = OAuth()
    issuer = settings.portal_oidc_issuer.rstrip("/")
    return oauth.register(
        name="sso",
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_id=settings.portal_oidc_client_id,
        client_secret=settings.portal_oidc_client_secret,
        client_kwargs={"scope": settings.portal_oidc_scope, "code_challenge_method": "S256"},
    )


def identity_from_claims(claims: dict[str, Any], settings: Settings) -> tuple[str, frozenset[str]]:
    """User name and the portal roles among the provider's roles (others, e.g. Keycloak's defaults, are ignored)."""
    user = claim_at(claims, settings.portal_oidc_user_claim) or claims.get("sub") or ""
    raw = claim_at(claims, settings.portal_oidc_roles_claim) or []
    if isinstance(raw, str):
        raw = raw.replace(",", " ").split()
    roles = frozenset(str(role) for role in raw if isinstance(role, str)) & ROLES
    return str(user), roles
