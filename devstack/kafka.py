"""A real Apache Kafka broker (KRaft, single node) from Maven Central jars, run with the machine's Java."""

import os
import shutil
import subprocess
import uuid
from pathlib import Path

from devstack.processes import ManagedProcess, SetupError, apt_install, cache_dir, require_free_port, tcp_open
from shared.kafka_acl import ADMIN, SERVICE_PRINCIPALS
from shared.kafka_setup import add_missing_users
from shared.messaging import kafka_python_auth
from shared.settings import dev_kafka_password

KAFKA_VERSION = "4.3.1"
POM = Path(__file__).parent / "kafka" / "pom.xml"


def _scram_marker(data_dir: Path) -> Path:
    """Written after a format that created the SCRAM users."""
    return data_dir / "scram-users.txt"


LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = warn
logger.apache.name = org.apache.kafka
logger.apache.level = warn
"""

SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:{cport}
listeners=SASL_PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}
advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}
inter.broker.listener.name=SASL_PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
# Clients authenticate with SASL/SCRAM-SHA-512; the controller listener stays on loopback, inside the broker.
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=\
  org.apache.kafka.common.security.scram.ScramLoginModule required username="{admin}" password="{admin_password}";
# ACLs (shared.kafka_acl): each service principal may only what its table row says. The controller listener's
# ANONYMOUS principal is the broker talking to its own controller on loopback.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:{admin};User:ANONYMOUS
log.dirs={logs}
num.partitions=6
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
"""


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        apt_install("openjdk-17-jre-headless")
        java = shutil.which("java")
    if java is None:
        raise SetupError("Java 17+ is required for the Kafka broker and could not be installed")
    return java


def kafka_libs() -> Path:
    """The broker's classpath, fetched once from Maven Central into the cache."""
    libs = cache_dir() / f"kafka-{KAFKA_VERSION}" / "libs"
    if (libs / f"kafka_2.13-{KAFKA_VERSION}.jar").exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        apt_install("maven")
        mvn = shutil.which("mvn")
    if mvn is None:
        raise SetupError("Maven (mvn) is required to fetch the Kafka jars and could not be installed")
    print(f"[eakte] fetching Apache Kafka {KAFKA_VERSION} jars from Maven Central (first run only, ~1 min)", flush=True)
    partial = libs.with_name("libs.partial")
    shutil.rmtree(partial, ignore_errors=True)
    done = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={partial}",
            "-DincludeScope=runtime",
            f"-Dkafka.version={KAFKA_VERSION}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SetupError(
            "could not fetch Kafka from Maven Central (no network to the registry?):\n"
            + (done.stdout + done.stderr)[-2000:]
        )
    partial.rename(libs)
    return libs


def dev_credentials() -> dict[str, str]:
    """The development SCRAM credentials: the admin (devstack, tests) and one principal per service."""
    return {name: dev_kafka_password(name) for name in (ADMIN, *SERVICE_PRINCIPALS)}


class KafkaServer:
    def __init__(
        self, data_dir: Path, port: int, controller_port: int, credentials: dict[str, str] | None = None
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        self.controller_port = controller_port
        # SCRAM-SHA-512 user -> password, written into the storage at format time; `admin` is the super user.
        self.credentials = credentials or dev_credentials()
        self.process: ManagedProcess | None = None

    @property
    def admin_auth(self) -> dict[str, str]:
        return kafka_python_auth(ADMIN, self.credentials[ADMIN])

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 120.0) -> "KafkaServer":
        require_free_port(self.port, "Kafka")
        require_free_port(self.controller_port, "the Kafka controller")
        java, libs = _java(), kafka_libs()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "server.properties"
        config.write_text(
            SERVER_PROPERTIES.format(
                port=self.port,
                cport=self.controller_port,
                logs=self.data_dir / "logs",
                admin=ADMIN,
                admin_password=self.credentials[ADMIN],
            )
        )
        log4j = self.data_dir / "log4j2.properties"
        log4j.write_text(LOG4J2.format(log=self.data_dir / "server.log"))
        classpath = f"{libs}/*"
        self._set_aside_data_without_scram()
        if not (self.data_dir / "logs" / "meta.properties").exists():
            self._format(java, classpath, config)
            _scram_marker(self.data_dir).write_text("SCRAM-SHA-512 users written at format time\n")
        argv = [
            java,
            "-Xms256m",
            "-Xmx768m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            # C1 only: C2's compiler took 15-45 % of the broker's CPU in the first minutes under load after each
            # start (still ~30 % after 90 s); C1 code needs ~5 ms of broker CPU per document from the first minute.
            # docker-compose.yml keeps the image's default (C2) for a broker that runs for weeks.
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(config),
        ]
        self.process = ManagedProcess("kafka", argv, self.data_dir / "stdout.log", env=dict(os.environ)).start()
        self.process.wait_ready(self._ready, timeout_s)
        self._add_missing_users()
        return self

    def _add_missing_users(self) -> None:
        """A data directory formatted before a principal joined the table (e.g. `operator`) gets its user now."""
        added = add_missing_users(self.bootstrap, self.credentials, ADMIN, self.credentials[ADMIN])
        if added:
            print(f"[eakte] Kafka: SCRAM users added: {', '.join(added)}", flush=True)

    def _format(self, java: str, classpath: str, config: Path) -> None:
        done = subprocess.run(
            [
                java,
                "-cp",
                classpath,
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                "-t",
                str(uuid.uuid4()),
                "-c",
                str(config),
                *(
                    arg
                    for name, password in self.credentials.items()
                    for arg in ("--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]")
                ),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SetupError(f"formatting the Kafka storage failed:\n{(done.stdout + done.stderr)[-2000:]}")

    def _set_aside_data_without_scram(self) -> None:
        """A data directory formatted before SASL was required has no users: move it aside (never delete)."""
        logs = self.data_dir / "logs"
        if (logs / "meta.properties").exists() and not _scram_marker(self.data_dir).exists():
            aside = self.data_dir / f"logs.before-sasl-{uuid.uuid4().hex[:8]}"
            logs.rename(aside)
            print(f"[eakte] Kafka data without SCRAM users moved to {aside}; formatting anew", flush=True)

    def _ready(self) -> bool:
        if not tcp_open(self.port):
            return False
        from kafka.admin import KafkaAdminClient

        try:
            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000, **self.admin_auth)
        except Exception:
            return False
        try:
            admin.list_topics()
            return True
        except Exception:
            return False
        finally:
            admin.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout_s=30)
