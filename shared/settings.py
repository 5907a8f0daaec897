"""Settings for every service, read from `EAKTE_*` environment variables."""

import math
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "eakte-development-secret-not-for-production"
DEV_S3_ACCESS_KEY = "eakte"
DEV_S3_SECRET_KEY = "eakte-dev-secret"


def dev_kafka_password(principal: str) -> str:
    """The development password of a Kafka principal (ingest, workflow, archive, portal): never for production."""
    return f"{principal}-kafka-dev-secret"


CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EAKTE_", extra="ignore")

    # `development` (default: make up, tests) or `production` (compose): production refuses development secrets.
    env: str = "development"

    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    ingest_port: int = 8081
    workflow_port: int = 8082
    archive_port: int = 8083
    portal_port: int = 8080
    # Where the portal reaches the three services; empty: http://127.0.0.1:<port> (compose sets the host names).
    ingest_url: str = ""
    workflow_url: str = ""
    archive_url: str = ""

    kafka_bootstrap: str = "127.0.0.1:9092"
    # Partitions of the topics kafka_setup creates: how many replicas of one consumer group can share a topic.
    kafka_partitions: int = 6
    # Kafka consumers per subscription in each process: messages of different partitions are handled concurrently,
    # those of one partition (one document: the key) in order. More than kafka_partitions / replicas stay idle.
    # 0: as many as this replica's share of the partitions (`consumer_workers`).
    kafka_consumer_workers: int = Field(default=0, ge=0, le=32)
    # SASL/SCRAM-SHA-512 principal of this process (each service has its own: ingest, workflow, archive, portal).
    kafka_username: str = ""
    kafka_password: str = ""
    # IT's repair principal for the dead letters (`eakte dlq`, the portal's system page; shared.kafka_acl).
    # Empty password outside production: the development one.
    kafka_operator_username: str = "operator"
    kafka_operator_password: str = ""

    s3_endpoint: str = "127.0.0.1:9000"
    s3_access_key: str = DEV_S3_ACCESS_KEY
    s3_secret_key: str = DEV_S3_SECRET_KEY
    s3_secure: bool = False
    inbox_bucket: str = "eakte-inbox"
    archive_bucket: str = "eakte-archive"
    quarantine_bucket: str = "eakte-quarantine"

    # One database per service process; empty means a SQLite file in data_dir.
    database_url: str = ""
    # How many replicas of this service run side by side (set by whoever starts them): more than one needs
    # PostgreSQL; start-up refuses SQLite then. `replica_index` (1..N, stable across restarts) names this one for
    # the work it alone finishes (its queued uploads and hot-folder files); 0: the host name (a compose container).
    replicas: int = 1
    replica_index: int = 0

    jwt_secret: str = DEV_JWT_SECRET
    token_ttl_hours: int = 12
    # The organisation's OpenID Connect provider: the services accept its access tokens (RS256/ES256, JWKS).
    oidc_issuer: str = ""
    oidc_audience: str = ""
    oidc_user_claim: str = "preferred_username"
    oidc_roles_claim: str = "roles"  # dotted path, e.g. realm_access.roles
    oidc_org_units_claim: str = "org_units"  # dotted path
    # Request bodies: JSON above this gets 413 while it streams in (uploads and xdomea have their own limits).
    max_json_bytes: int = 1024 * 1024

    file_plan: Path = CONFIG_DIR / "aktenplan.yaml"
    # A deliberate second copy of the same bytes may be filed in another Akte when this is on.
    allow_duplicates_in_other_akte: bool = False

    # Scanner drop directory (hot-folder); empty: none. Polled, so it works on network shares too.
    hotfolder: Path | None = None
    hotfolder_poll_s: float = 1.0
    hotfolder_user: str = "scanner"
    max_batch_files: int = 1000

    # OCR (OCRmyPDF + Tesseract) for scans without a text layer, off the request path.
    ocr_enabled: bool = True
    ocr_languages: str = "deu+eng"
    ocr_page_timeout_s: float = 120.0
    ocr_startup_allowance_s: float = 30.0
    ocr_max_pages: int = 300

    # Archive: presigned download links expire after this; retention override is for development/tests only.
    presigned_url_ttl_s: int = 300
    archive_retention_override_s: int | None = None
    archive_object_lock: bool = True  # False only for development/tests: a bucket without WORM
    archive_disposal_interval_s: float = 60.0  # how often handed-over packages are checked for deletion
    # xdomea disposal: who offers (this authority) and who receives (the state archive); the schema to check with.
    xdomea_sender: str = "Stadtverwaltung"
    xdomea_receiver: str = "Landesarchiv"
    xdomea_schema: str = ""
    # xdomea sender identity in Kopf/Absender (Behoerdenkennung: Behördenschlüssel and Präfix, e.g. `ags:`) and
    # the sender's organisational unit; the receiver's (the state archive) likewise in Kopf/Empfaenger.
    xdomea_sender_key: str = ""
    xdomea_sender_prefix: str = ""
    xdomea_sender_org_unit: str = ""
    xdomea_receiver_key: str = ""
    xdomea_receiver_prefix: str = ""
    xdomea_receiver_org_unit: str = ""
    # Scheduled fixity: every archived package is re-read once per cycle, spread evenly (fractions of a day allowed).
    fixity_cycle_days: float = Field(default=90.0, gt=0)

    max_upload_bytes: int = 100 * 1024 * 1024
    max_pages: int = 2000
    pdf_check_timeout_s: float = 30.0

    # Workflow service: definitions (YAML directory; empty = the shipped examples), org units (empty =
    # org_units.yaml in the definitions directory), the clock (`system`, or `controllable` for tests only),
    # the deadline scheduler's period, and when the audit trail travels by object reference instead of inline.
    workflow_definitions_dir: str = ""
    org_units_file: str = ""
    clock: str = "system"
    timezone: str = "Europe/Berlin"  # whose calendar days absences and resubmissions mean
    scheduler_interval_s: float = 1.0
    audit_inline_max_bytes: int = 256 * 1024
    # Log lines: `text` (make up) or `json`, one object per line for IT's collectors (compose; shared.logs).
    log_format: Literal["text", "json"] = "text"
    # Test aid: a service started with this publishes nothing from its outbox (commit without publish).
    outbox_relay_paused: bool = False
    # Test aid: every Kafka handler waits this long before it starts (a slow handler, to test the SIGTERM drain).
    kafka_handler_delay_s: float = 0.0

    # Who may read GET /metrics (no token): comma-separated CIDR list of client networks; empty: nobody.
    metrics_allow: str = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"

    # Browser portal: `dev` shows a sign-in page where you pick a user and roles (development only);
    # `oidc` signs in through an OpenID Connect provider (e.g. Keycloak) with the settings below.
    portal_auth: str = "dev"
    portal_public_url: str = ""  # e.g. https://eakte.kiel.de; an https address makes session cookies Secure
    portal_session_secret: str = ""  # empty: derived from jwt_secret
    portal_session_hours: int = 8
    portal_oidc_issuer: str = ""  # e.g. https://sso.example.org/realms/stadt
    portal_oidc_client_id: str = ""
    portal_oidc_client_secret: str = ""
    portal_oidc_scope: str = "openid profile email"
    portal_oidc_roles_claim: str = "roles"  # dotted path into the ID token / userinfo, e.g. realm_access.roles
    portal_oidc_user_claim: str = "preferred_username"

    # Open311 GeoReport v2 (citizens' defect reports, /open311/v2/...): the client apps' api_keys (comma-separated,
    # each at least 16 characters; empty: every report is refused with 403), the report types, the requests each
    # key may send (per replica, e.g. "30/minute"), the largest photo, and when a report is a duplicate of an open one
    # of the same type (within this many metres and hours).
    open311_api_keys: str = ""
    open311_services: Path = CONFIG_DIR / "open311_services.yaml"
    open311_rate_limit: str = "30/minute"
    open311_max_photo_bytes: int = 10 * 1024 * 1024
    open311_duplicate_radius_m: float = 30.0
    open311_duplicate_window_h: float = 14 * 24.0
    # Poststelle mailbox (ingest): `imaps://mail.example.org:993/INBOX` (`imap://` without TLS only to a loopback
    # host); empty: no mailbox. Processed messages move to `mail_done_folder`, never deleted.
    mail_imap_url: str = ""
    mail_user: str = ""
    mail_password: str = ""
    mail_poll_s: float = 60.0
    mail_done_folder: str = "Erledigt"
    mail_routing: Path = CONFIG_DIR / "mail_routing.yaml"
    mail_submitted_by: str = "poststelle"  # who the mailbox's documents are submitted by (their clerk's view)
    # Evidence (RFC 3161 time-stamps, RFC 4998 evidence records) for the archive's packages: the TSA's address
    # (empty: no evidence records), its CA bundle (PEM) to check tokens against, an optional client certificate
    # and key (mTLS) or HTTP basic credentials, and how long packages are collected into one hash tree.
    tsa_url: str = ""
    tsa_ca_file: Path | None = None
    tsa_client_cert: Path | None = None
    tsa_client_key: Path | None = None
    tsa_username: str = ""
    tsa_password: str = ""
    tsa_batch_s: float = 60.0
    # FIT-Connect (OZG online applications): the subscriber polls the Submission API for one destination when
    # `fitconnect_api_url` is set. Keys are JWK files: the destination's private decryption key and the private
    # key that signs the accept/reject events. The metadata schema is FITKO's file (see the README).
    fitconnect_api_url: str = ""
    fitconnect_token_url: str = ""
    fitconnect_client_id: str = ""
    fitconnect_client_secret: str = ""
    fitconnect_destination_id: str = ""
    fitconnect_private_key_file: Path | None = None
    fitconnect_signing_key_file: Path | None = None
    fitconnect_metadata_schema: Path | None = None
    fitconnect_services: Path = CONFIG_DIR / "online_services" / "services.yaml"
    fitconnect_poll_s: float = 30.0
    # Page previews (services.ingest.previews): page images rendered off the request path, in the PDF checkers.
    preview_enabled: bool = True
    preview_dpi: int = 150  # the large page image; the thumbnail is scaled down from it
    preview_thumb_px: int = 200  # the thumbnail's longer side
    preview_max_pages: int = 50  # longer documents preview their first pages; the PDF shows all
    preview_page_timeout_s: float = 10.0
    preview_startup_allowance_s: float = 10.0
    # E-mail notifications (workflow service): the SMTP server (`smtp://host:25`, `smtp://host:587?starttls=true`
    # or `smtps://host:465`; user and password in the URL or below; empty: mails are queued but not sent), the
    # sender address, the domain of addresses made from user names (`<user>@mail_domain`) when a token carries no
    # `email` claim, the portal address the links point to (empty: portal_public_url, else http://127.0.0.1:<port>),
    # the local hour of the daily digest, how often the sender looks for due mails and the longest retry pause.
    smtp_url: str = ""
    smtp_from: str = "e-akte@localhost"
    smtp_starttls: bool = False
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_timeout_s: float = 10.0
    mail_domain: str = "localhost"
    portal_url: str = ""
    mail_digest_hour: int = Field(default=7, ge=0, le=23)
    mail_send_interval_s: float = 1.0
    mail_retry_max_s: float = 900.0

    def service_url(self, service: str) -> str:
        configured = {"ingest": self.ingest_url, "workflow": self.workflow_url, "archive": self.archive_url}[service]
        if configured:
            return configured.rstrip("/")
        port = {"ingest": self.ingest_port, "workflow": self.workflow_port, "archive": self.archive_port}[service]
        return f"http://127.0.0.1:{port}"

    @property
    def consumer_workers(self) -> int:
        """Kafka consumers per subscription in this process: as set, else one per partition this replica can get
        (each handles its partitions' documents while another waits on the object store or the database)."""
        return self.kafka_consumer_workers or max(1, math.ceil(self.kafka_partitions / max(1, self.replicas)))

    def database_url_for(self, service: str) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / f'{service}.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
