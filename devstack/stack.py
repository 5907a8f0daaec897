"""The whole stack on loopback: Kafka, MinIO and the three services, for `eakte up` and the tests."""

import os
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from devstack.kafka import KafkaServer, dev_credentials
from devstack.minio import MinioServer
from devstack.processes import ManagedProcess, free_port, require_free_port
from shared.kafka_acl import ADMIN
from shared.kafka_setup import set_up_kafka
from shared.settings import Settings
from shared.storage import ObjectStore, ensure_buckets

SERVICES = ("ingest", "workflow", "archive", "portal")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# SIGTERM drains a service (handlers up to 15 s, the outbox relay's batch): wait this long before SIGKILL.
DRAIN_TIMEOUT_S = 30.0


@dataclass
class Ports:
    kafka: int
    kafka_controller: int
    minio: int
    minio_console: int
    services: dict[str, int]

    @classmethod
    def defaults(cls, settings: Settings) -> "Ports":
        return cls(
            9092,
            9093,
            int(settings.s3_endpoint.rsplit(":", 1)[-1]),
            9001,
            {
                "ingest": settings.ingest_port,
                "workflow": settings.workflow_port,
                "archive": settings.archive_port,
                "portal": settings.portal_port,
            },
        )

    @classmethod
    def free(cls) -> "Ports":
        return cls(free_port(), free_port(), free_port(), free_port(), {name: free_port() for name in SERVICES})


@dataclass
class Stack:
    data_dir: Path
    ports: Ports
    access_key: str = "eakte"
    secret_key: str = "eakte-dev-secret"
    jwt_secret: str = ""
    database_urls: dict[str, str] = field(default_factory=dict)
    hotfolder: Path | None = None
    # Per-service environment on top of the stack's settings: `base_env` always, `extra_env` until the
    # next restart (tests restart a service with other limits), e.g. {"workflow": {"EAKTE_CLOCK": "controllable"}}.
    base_env: dict[str, dict[str, str]] = field(default_factory=dict)
    extra_env: dict[str, dict[str, str]] = field(default_factory=dict)
    # SCRAM-SHA-512 user -> password: the admin (topics, ACLs, the tests) and one principal per service.
    kafka_credentials: dict[str, str] = field(default_factory=dev_credentials)
    kafka: KafkaServer | None = None
    minio: MinioServer | None = None
    services: dict[str, ManagedProcess] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.resolve()

    # --- infrastructure -------------------------------------------------------------------------
    def start_infra(self) -> None:
        self.kafka = KafkaServer(
            self.data_dir / "kafka", self.ports.kafka, self.ports.kafka_controller, self.kafka_credentials
        ).start()
        self.minio = MinioServer(
            self.data_dir / "minio", self.ports.minio, self.ports.minio_console, self.access_key, self.secret_key
        ).start()
        settings = self.settings()
        set_up_kafka(settings)  # topics and ACLs, as the admin principal
        ensure_buckets(ObjectStore(settings), settings)

    def settings(self) -> Settings:
        return Settings(**self._settings_values())  # type: ignore[arg-type]  # pydantic parses the strings

    def _settings_values(self) -> dict[str, str]:
        values = {
            "data_dir": str(self.data_dir),
            "kafka_bootstrap": f"127.0.0.1:{self.ports.kafka}",
            # The stack's own view (devstack, tests) is the admin's; each service gets its own principal.
            "kafka_username": ADMIN,
            "kafka_password": self.kafka_credentials[ADMIN],
            "s3_endpoint": f"127.0.0.1:{self.ports.minio}",
            "s3_access_key": self.access_key,
            "s3_secret_key": self.secret_key,
            "ingest_port": str(self.ports.services["ingest"]),
            "workflow_port": str(self.ports.services["workflow"]),
            "archive_port": str(self.ports.services["archive"]),
            "portal_port": str(self.ports.services["portal"]),
        }
        if self.jwt_secret:
            values["jwt_secret"] = self.jwt_secret
        return values

    # --- services -------------------------------------------------------------------------------
    def env_for(self, name: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EAKTE_")}
        env.update({f"EAKTE_{key.upper()}": value for key, value in self._settings_values().items()})
        env["EAKTE_KAFKA_USERNAME"] = name
        env["EAKTE_KAFKA_PASSWORD"] = self.kafka_credentials[name]
        if name in self.database_urls:
            env["EAKTE_DATABASE_URL"] = self.database_urls[name]
        if name == "ingest" and self.hotfolder is not None:
            env["EAKTE_HOTFOLDER"] = str(self.hotfolder)
        env.update(self.base_env.get(name, {}))
        env.update(self.extra_env.get(name, {}))
        env["PYTHONPATH"] = str(PROJECT_ROOT)
        return env

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports.services[name]}"

    def restart_service(self, name: str, **env: str) -> ManagedProcess:
        """Stop a service and start it again with extra environment (none: its normal settings)."""
        self.services[name].stop()
        self.extra_env[name] = env
        return self.start_service(name)

    def start_service(self, name: str, timeout_s: float = 60.0) -> ManagedProcess:
        process = self.launch(name)
        self._wait_healthy(name, timeout_s)
        return process

    def start_services(self, timeout_s: float = 60.0) -> None:
        """Start the three services side by side, then wait for each to be healthy."""
        for name in SERVICES:
            self.launch(name)
        for name in SERVICES:
            self._wait_healthy(name, timeout_s)

    def launch(self, name: str) -> ManagedProcess:
        """Start a service without waiting until it is healthy (a benchmark times the start itself)."""
        require_free_port(self.ports.services[name], f"the {name} service")
        process = ManagedProcess(
            name,
            [sys.executable, "-m", f"services.{name}"],
            self.data_dir / "logs" / f"{name}.log",
            env=self.env_for(name),
            cwd=PROJECT_ROOT,
        ).start()
        self.services[name] = process
        return process

    def _wait_healthy(self, name: str, timeout_s: float) -> None:
        self.services[name].wait_ready(lambda: _http_ok(f"{self.url(name)}/health"), timeout_s)

    def processes(self) -> list[ManagedProcess]:
        infra = [server.process for server in (self.kafka, self.minio) if server and server.process]
        return [*self.services.values(), *infra]

    def stop(self) -> None:
        for process in self.services.values():
            process.stop(timeout_s=DRAIN_TIMEOUT_S)
        for server in (self.minio, self.kafka):
            if server is not None:
                server.stop()


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False
