"""Production mode: a process refuses to start with development secrets (EAKTE_ENV=production).

`problems` lists everything wrong with a configuration for one process (a service name or "portal"); the
`__main__` of every service and of the portal calls `refuse_unsafe_start` before it builds or connects anything.
"""

import sys

from shared.settings import DEV_JWT_SECRET, DEV_S3_ACCESS_KEY, DEV_S3_SECRET_KEY, Settings, dev_kafka_password

ENVIRONMENTS = ("development", "production")
KAFKA_PRINCIPALS = ("ingest", "workflow", "archive", "portal", "operator")
PORTAL = "portal"


def problems(settings: Settings, process: str) -> list[str]:
    """Every reason this configuration must not run `process`, each naming its variable; empty: fine."""
    if settings.env not in ENVIRONMENTS:
        return [f"EAKTE_ENV must be one of {', '.join(ENVIRONMENTS)}, not {settings.env!r}"]
    found = replica_problems(settings, process)
    if settings.env != "production":
        return found
    found += _token_problems(settings) + _kafka_problems(settings)
    if process == PORTAL:
        found += _portal_problems(settings)
    else:  # the portal keeps no objects: only the services talk to the object store
        found += _s3_problems(settings)
    if process == "ingest":
        found += fitconnect_problems(settings)
    return found


def fitconnect_problems(settings: Settings) -> list[str]:
    """Online applications carry personal data: in production, FIT-Connect is reached over TLS only."""
    urls = {"EAKTE_FITCONNECT_API_URL": settings.fitconnect_api_url}
    if settings.fitconnect_api_url:
        urls["EAKTE_FITCONNECT_TOKEN_URL"] = settings.fitconnect_token_url
    return [
        f"{name} must be an https:// address" for name, url in urls.items() if url and not url.startswith("https://")
    ]


def replica_problems(settings: Settings, process: str) -> list[str]:
    """Replicas share one database: SQLite is one process's database, so `EAKTE_REPLICAS` > 1 needs PostgreSQL."""
    if settings.replicas < 1:
        return [f"EAKTE_REPLICAS must be 1 or more, not {settings.replicas}"]
    if process == PORTAL or settings.replicas == 1 or not settings.database_url_for(process).startswith("sqlite"):
        return []
    return [
        f"EAKTE_REPLICAS is {settings.replicas}, but the {process} database is SQLite, which serves one process only: "
        "set EAKTE_DATABASE_URL to a PostgreSQL database (postgresql://...) or run a single replica"
    ]


def _token_problems(settings: Settings) -> list[str]:
    if settings.oidc_issuer or settings.jwt_secret not in ("", DEV_JWT_SECRET):
        return []
    return ["EAKTE_JWT_SECRET is unset or the development value, and no EAKTE_OIDC_ISSUER is configured"]


def _s3_problems(settings: Settings) -> list[str]:
    found = []
    if settings.s3_access_key in ("", DEV_S3_ACCESS_KEY):
        found.append("EAKTE_S3_ACCESS_KEY is unset or the development value")
    if settings.s3_secret_key in ("", DEV_S3_SECRET_KEY):
        found.append("EAKTE_S3_SECRET_KEY is unset or the development value")
    return found


def _kafka_problems(settings: Settings) -> list[str]:
    found = []
    if not settings.kafka_username:
        found.append("EAKTE_KAFKA_USERNAME is unset")
    dev_passwords = {dev_kafka_password(name) for name in (*KAFKA_PRINCIPALS, settings.kafka_username)}
    if settings.kafka_password in ("", *dev_passwords):
        found.append("EAKTE_KAFKA_PASSWORD is unset or the development value")
    # Optional (empty: no dead-letter repair on the system page), but never the development one.
    if settings.kafka_operator_password in dev_passwords | {dev_kafka_password(settings.kafka_operator_username)}:
        found.append("EAKTE_KAFKA_OPERATOR_PASSWORD is the development value")
    return found


def _portal_problems(settings: Settings) -> list[str]:
    found = []
    if settings.portal_auth != "oidc":
        found.append(f"EAKTE_PORTAL_AUTH is {settings.portal_auth!r}: production signs in only by 'oidc'")
    else:
        for name in ("portal_oidc_issuer", "portal_oidc_client_id", "portal_oidc_client_secret"):
            if not getattr(settings, name):
                found.append(f"EAKTE_{name.upper()} is unset (needed for EAKTE_PORTAL_AUTH=oidc)")
    session = settings.portal_session_secret
    others = {
        settings.jwt_secret,
        settings.s3_secret_key,
        settings.kafka_password,
        settings.portal_oidc_client_secret,
        DEV_JWT_SECRET,
        DEV_S3_SECRET_KEY,
    }
    if not session:
        found.append("EAKTE_PORTAL_SESSION_SECRET is unset (the session key would be derived from EAKTE_JWT_SECRET)")
    elif session in others:
        found.append("EAKTE_PORTAL_SESSION_SECRET equals another secret: give the session key a secret of its own")
    return found


def refuse_unsafe_start(settings: Settings, process: str) -> None:
    """Exit with status 2 and one message naming every offending variable, before anything is connected."""
    found = problems(settings, process)
    if not found:
        return
    lines = "\n".join(f"  - {problem}" for problem in found)
    print(f"eakte {process}: refusing to start (EAKTE_ENV={settings.env}):\n{lines}", file=sys.stderr)
    raise SystemExit(2)
