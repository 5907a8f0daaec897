"""A real Apache Kafka broker (KRaft, single node) from Maven Central jars, run with the machine's Java."""

import os
import shutil
import subprocess
import uuid
from pathlib import Path

from devstack.processes import ManagedProcess, SetupError, apt_install, cache_dir, require_free_port, tcp_open

KAFKA_VERSION = "4.3.1"
POM = Path(__file__).parent / "kafka" / "pom.xml"

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
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}
advertised.listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={logs}
num.partitions=3
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


class KafkaServer:
    def __init__(self, data_dir: Path, port: int, controller_port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.controller_port = controller_port
        self.process: ManagedProcess | None = None

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
            SERVER_PROPERTIES.format(port=self.port, cport=self.controller_port, logs=self.data_dir / "logs")
        )
        log4j = self.data_dir / "log4j2.properties"
        log4j.write_text(LOG4J2.format(log=self.data_dir / "server.log"))
        classpath = f"{libs}/*"
        if not (self.data_dir / "logs" / "meta.properties").exists():
            self._format(java, classpath, config)
        argv = [
            java,
            "-Xms256m",
            "-Xmx768m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(config),
        ]
        self.process = ManagedProcess("kafka", argv, self.data_dir / "stdout.log", env=dict(os.environ)).start()
        self.process.wait_ready(self._ready, timeout_s)
        return self

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
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SetupError(f"formatting the Kafka storage failed:\n{(done.stdout + done.stderr)[-2000:]}")

    def _ready(self) -> bool:
        if not tcp_open(self.port):
            return False
        from kafka.admin import KafkaAdminClient

        try:
            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
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
