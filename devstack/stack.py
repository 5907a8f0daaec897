"""The whole stack on loopback: Kafka, MinIO and the three services, for `eakte up` and the tests."""

import os
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from devstack.kafka import KafkaServer, dev_credentials
from devstack.minio import MinioServer
from devstack.postgres import PostgresServer
from devstack.processes import ManagedProcess, free_port, free_ports, require_free_port
from shared.kafka_acl import ADMIN
from shared.kafka_setup import set_up_kafka
from shared.settings import Settings
from shared.storage import ObjectStore, ensure_buckets

SERVICES = ("ingest", "workflow", "archive", "portal")
# What runs as N replicas with `replicas` > 1 (the portal stays one: it keeps no state of its own).
REPLICATED = ("ingest", "workflow", "archive")
# `eakte up --replicas N`: replica n (2..N) of a service listens on the service's port + REPLICA_PORT_STEP * (n - 1).
REPLICA_PORT_STEP = 10
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
    # Replicas 2..N by instance name ("ingest-2"); replica 1 is `services[name]`.
    replicas: dict[str, int] = field(default_factory=dict)

    @classmethod
    def defaults(cls, settings: Settings, replicas: int = 1) -> "Ports":
        ports = cls(
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
        ports.replicas = {
            instance: ports.services[service] + REPLICA_PORT_STEP * (index - 1)
            for service in REPLICATED
            for index, instance in _numbered(service, replicas)
        }
        return ports

    @classmethod
    def free(cls, replicas: int = 1) -> "Ports":
        numbered = [instance for service in REPLICATED for _i, instance in _numbered(service, replicas)]
        found = iter(free_ports(4 + len(SERVICES) + len(numbered)))
        ports = cls(next(found), next(found), next(found), next(found), {name: next(found) for name in SERVICES})
        ports.replicas = {instance: next(found) for instance in numbered}
        return ports


def _numbered(service: str, replicas: int) -> list[tuple[int, str]]:
    """Replicas 2..N of a service by instance name: (2, "ingest-2"), ...; replica 1 keeps the plain name."""
    return [(index, f"{service}-{index}") for index in range(2, replicas + 1)]


def service_of(instance: str) -> str:
    """ "ingest-2" -> "ingest"; "ingest" -> "ingest"."""
    return instance.split("-", 1)[0]


def replica_index(instance: str) -> int:
    return int(instance.split("-", 1)[1]) if "-" in instance else 1


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
    # N replicas of ingest, workflow and archive (own ports, one database each service on PostgreSQL: see
    # `start_postgres`); replica 1 is named like the service, the others "ingest-2", ... in `services`.
    replicas: int = 1
    postgres: PostgresServer | None = None

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

    def start_postgres(self, data_dir: Path | None = None, port: int | None = None) -> dict[str, str]:
        """One PostgreSQL cluster with a database per service (what replicas need); returns their URLs."""
        self.postgres = PostgresServer(data_dir or self.data_dir / "postgres", port or self._spare_port()).start()
        for name in REPLICATED:
            self.database_urls[name] = self.postgres.create_database(f"eakte_{name}")
        return dict(self.database_urls)

    def _spare_port(self) -> int:
        """A free port that is none of this stack's own (a service's is free until the service starts)."""
        own = {*self.ports.services.values(), *self.ports.replicas.values()}
        return next(port for port in iter(free_port, None) if port not in own)

    # --- services -------------------------------------------------------------------------------
    def instances(self) -> list[str]:
        """Every service process this stack runs: replica 1 by the service's name, then "ingest-2", ..."""
        extra = [instance for service in REPLICATED for _i, instance in _numbered(service, self.replicas)]
        return [*SERVICES, *extra]

    def replicas_of(self, service: str) -> list[str]:
        return [name for name in self.instances() if service_of(name) == service]

    def env_for(self, instance: str) -> dict[str, str]:
        name = service_of(instance)
        env = {k: v for k, v in os.environ.items() if not k.startswith("EAKTE_")}
        env.update({f"EAKTE_{key.upper()}": value for key, value in self._settings_values().items()})
        env["EAKTE_KAFKA_USERNAME"] = name
        env["EAKTE_KAFKA_PASSWORD"] = self.kafka_credentials[name]
        if name in self.database_urls:
            env["EAKTE_DATABASE_URL"] = self.database_urls[name]
        if name == "ingest" and self.hotfolder is not None:
            env["EAKTE_HOTFOLDER"] = str(self.hotfolder)
        if name in REPLICATED and self.replicas > 1:
            env |= {"EAKTE_REPLICAS": str(self.replicas), "EAKTE_REPLICA_INDEX": str(replica_index(instance))}
            env[f"EAKTE_{name.upper()}_PORT"] = str(self.port_of(instance))  # its own port; others reach replica 1
        env.update(self.base_env.get(name, {}))
        env.update(self.extra_env.get(instance, {}))
        env["PYTHONPATH"] = str(PROJECT_ROOT)
        return env

    def port_of(self, instance: str) -> int:
        return self.ports.services.get(instance) or self.ports.replicas[instance]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port_of(name)}"

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
        """Start the services (every replica) side by side, then wait for each to be healthy."""
        for name in self.instances():
            self.launch(name)
        for name in self.instances():
            self._wait_healthy(name, timeout_s)

    def launch(self, name: str) -> ManagedProcess:
        """Start a service (or one replica: "ingest-2") without waiting until it is healthy."""
        require_free_port(self.port_of(name), f"the {name} service")
        process = ManagedProcess(
            name,
            [sys.executable, "-m", f"services.{service_of(name)}"],
            self.data_dir / "logs" / f"{name}.log",
            env=self.env_for(name),
            cwd=PROJECT_ROOT,
        ).start()
        self.services[name] = process
        return process

    def _wait_healthy(self, name: str, timeout_s: float) -> None:
        self.services[name].wait_ready(lambda: _http_ok(f"{self.url(name)}/health"), timeout_s)

    def processes(self) -> list[ManagedProcess]:
        servers = (self.kafka, self.minio, self.postgres)
        infra = [server.process for server in servers if server and server.process]
        return [*self.services.values(), *infra]

    def stop(self) -> None:
        for process in self.services.values():
            process.stop(timeout_s=DRAIN_TIMEOUT_S)
        for server in (self.minio, self.kafka, self.postgres):
            if server is not None:
                server.stop()


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False
