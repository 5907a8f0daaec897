"""docker-compose.yml runs the same stack from the official images; checked by a real compose client (Docker
Compose, built once by `python -m devstack.prepare --compose`), which needs no Docker engine for `config`."""

import json
import re
from pathlib import Path

import pytest
import yaml

from devstack.compose import compose_config

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
PRODUCT = {"ingest": 8081, "workflow": 8082, "archive": 8083}
# Every variable that holds a secret: compose must require it (`${VAR:?...}`), never fall back to a default.
SECRET_NAME = re.compile(r"SECRET|PASSWORD|ACCESS_KEY|MINIO_ROOT_USER|DATABASE_URL")
REQUIRED = re.compile(r"\$\{([A-Z0-9_]+):\?[^}]+\}")
# Jobs that run once and end (kafka-init creates the topics and the ACLs); the services wait for their success.
ONE_SHOT = {"kafka-init"}
# Processes that own no data: the portal, the reverse proxy in front of the service replicas, and Jaeger (its spans
# are kept in memory).
STATELESS = {"portal", "proxy", "jaeger"}
# The optional profiles: metrics (Prometheus, Grafana) and traces (Jaeger).
PROFILES = {"monitoring": {"prometheus", "grafana"}, "tracing": {"jaeger"}}
# The metric names of the issue ("IT can see it and repair it"): the dashboard may use these and no other.
ISSUE_METRICS = {
    "eakte_http_requests_total",
    "eakte_http_request_seconds",
    "eakte_events_consumed_total",
    "eakte_event_handler_seconds",
    "eakte_consumer_lag",
    "eakte_outbox_pending",
    "eakte_outbox_oldest_seconds",
    "eakte_documents",
    "eakte_tasks_open",
    "eakte_archive_packages_total",
    "eakte_archive_verify_last",
    "eakte_ocr_queue",
    "eakte_intake_queue",
}
HISTOGRAM_SERIES = re.compile(r"_(bucket|sum|count)$")


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_infrastructure_comes_from_the_official_images() -> None:
    services = _compose()["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["minio"]["image"].startswith("minio/minio:")
    assert services["postgres"]["image"].startswith("postgres:")


def test_every_service_is_health_checked_and_keeps_its_data_in_a_volume() -> None:
    compose = _compose()
    declared = set(compose["volumes"])
    for name, service in compose["services"].items():
        if name in ONE_SHOT:
            continue
        assert service["healthcheck"]["test"], name
        if name in STATELESS:
            assert not [v for v in service.get("volumes", []) if v.split(":")[0] in declared], f"{name} owns no data"
            continue
        mounts = [v.split(":")[0] for v in service.get("volumes", [])]
        assert any(m in declared for m in mounts), f"{name} keeps no data in a named volume"


def test_product_services_are_built_from_one_dockerfile_and_wait_for_healthy_infrastructure() -> None:
    services = _compose()["services"]
    assert (ROOT / "Dockerfile").exists()
    for name, port in PRODUCT.items():
        service = services[name]
        assert service["build"] == "."
        assert service["command"] == ["python", "-m", f"services.{name}"]
        assert (ROOT / "services" / name / "__main__.py").exists()
        assert "ports" not in service and service["deploy"]["replicas"] == 2  # replicas, behind the proxy
        assert f"127.0.0.1:{port}:{port}" in services["proxy"]["ports"]
        assert f"127.0.0.1:{port}/ready" in " ".join(service["healthcheck"]["test"])
        assert {dep: cond["condition"] for dep, cond in service["depends_on"].items()} == {
            "kafka": "service_healthy",
            "kafka-init": "service_completed_successfully",
            "minio": "service_healthy",
            "postgres": "service_healthy",
        }
        env = service["environment"]
        assert env["EAKTE_KAFKA_BOOTSTRAP"] == "kafka:9092" and env["EAKTE_S3_ENDPOINT"] == "minio:9000"
        assert env["EAKTE_DATABASE_URL"].endswith(f"@postgres:5432/eakte_{name}")
        assert f"eakte_{name}" in (ROOT / "deploy" / "postgres-init.sql").read_text()


def test_published_ports_are_loopback_only() -> None:
    for name, service in _compose()["services"].items():
        for mapping in service.get("ports", []):
            assert mapping.startswith("127.0.0.1:"), f"{name} publishes {mapping} beyond loopback"


@pytest.fixture(scope="module")
def stand_in_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The .env a deployment writes from .env.example: every required value filled in with a stand-in, the
    optional ones left empty as the example has them (so compose takes its defaults)."""
    lines = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            name = line.split("=", 1)[0]
            lines.append(f"{name}=stand-in-{name.lower()}" if name in _required() else f"{name}=")
    path = tmp_path_factory.mktemp("compose") / ".env"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_docker_compose_accepts_the_file(stand_in_env: Path) -> None:
    done = compose_config(COMPOSE, stand_in_env, "--quiet")
    assert done.returncode == 0, done.stderr


def test_docker_compose_refuses_to_start_while_a_required_value_is_missing(stand_in_env: Path, tmp_path: Path) -> None:
    incomplete = tmp_path / ".env"
    incomplete.write_text(
        "".join(line + "\n" for line in stand_in_env.read_text().splitlines() if not line.startswith("POSTGRES_"))
    )
    done = compose_config(COMPOSE, incomplete, "--quiet")
    assert done.returncode != 0
    assert "set POSTGRES_PASSWORD in .env (see .env.example)" in done.stderr


def _outside(path: str | Path) -> bool:
    return not Path(path).resolve().is_relative_to(ROOT)


def test_compose_uses_no_path_outside_the_repository(stand_in_env: Path) -> None:
    """As compose resolves the file: every bind mount, build context and file it names lies in the repository."""
    done = compose_config(COMPOSE, stand_in_env, "--format", "json")
    assert done.returncode == 0, done.stderr
    resolved = json.loads(done.stdout)
    paths: list[str] = []
    for service in resolved["services"].values():
        paths += [v["source"] for v in service.get("volumes", []) if v["type"] == "bind"]
        paths += [f["path"] for f in service.get("env_file", [])]
        if "build" in service:
            context = service["build"]["context"]
            paths += [context, str(Path(context) / service["build"].get("dockerfile", "Dockerfile"))]
    for kind in ("configs", "secrets"):
        paths += [item["file"] for item in (resolved.get(kind) or {}).values() if "file" in item]
    assert str(ROOT / "deploy" / "xdomea") in paths, "the xdomea schemas are mounted from deploy/xdomea by default"
    assert [p for p in paths if _outside(p)] == []
    assert "../" not in COMPOSE.read_text()


def test_the_dockerfile_copies_only_from_the_repository() -> None:
    instructions = [line.split() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    copies = [words[1:-1] for words in instructions if words and words[0] in ("COPY", "ADD")]
    assert copies, "the image is built from the repository's files"
    for sources in copies:
        assert not any(s.startswith("--") for s in sources), f"COPY/ADD from another image or stage: {sources}"
        for source in sources:
            assert "://" not in source and not _outside(ROOT / source) and (ROOT / source).exists(), source


def test_the_xdomea_schema_is_the_operators_to_configure() -> None:
    archive = _compose()["services"]["archive"]
    assert archive["environment"]["EAKTE_XDOMEA_SCHEMA"] == "${EAKTE_XDOMEA_SCHEMA:-}"  # empty: the archive warns
    assert "${EAKTE_XDOMEA_SCHEMA_DIR:-./deploy/xdomea}:/schemas/xdomea:ro" in archive["volumes"]
    example = ENV_EXAMPLE.read_text()
    assert "\nEAKTE_XDOMEA_SCHEMA_DIR=\n" in example and "\nEAKTE_XDOMEA_SCHEMA=\n" in example
    assert (ROOT / "deploy" / "xdomea" / "README.md").exists()


def test_portal_serves_on_8080_and_reaches_the_services_by_their_compose_names() -> None:
    portal = _compose()["services"]["portal"]
    assert portal["command"] == ["python", "-m", "services.portal"]
    assert portal["ports"] == ["127.0.0.1:8080:8080"]
    assert "127.0.0.1:8080/ready" in " ".join(portal["healthcheck"]["test"])
    assert set(portal["depends_on"]) == {"proxy"}
    env = portal["environment"]
    for name, port in PRODUCT.items():
        assert env[f"EAKTE_{name.upper()}_URL"] == f"http://proxy:{port}"  # any replica, through the proxy
    assert env["EAKTE_PORTAL_AUTH"] == "oidc"  # production never signs in through the development page


def _required() -> set[str]:
    return set(REQUIRED.findall(COMPOSE.read_text()))


def test_compose_runs_every_service_and_the_portal_in_production_mode() -> None:
    services = _compose()["services"]
    for name in [*PRODUCT, "portal"]:
        env = services[name]["environment"]
        assert env["EAKTE_ENV"] == "production", name
        assert env["EAKTE_KAFKA_USERNAME"] == name, f"{name} has a Kafka principal of its own"
        assert REQUIRED.fullmatch(env["EAKTE_KAFKA_PASSWORD"]), name


def test_every_secret_is_required_and_none_has_a_development_default() -> None:
    from shared.settings import DEV_JWT_SECRET, DEV_S3_SECRET_KEY

    text = COMPOSE.read_text()
    for name, service in _compose()["services"].items():
        for variable, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(variable):
                assert REQUIRED.search(str(value)), f"{name}: {variable} must be required with ${{VAR:?...}}"
    assert DEV_JWT_SECRET not in text and DEV_S3_SECRET_KEY not in text and "eakte-dev-db" not in text
    assert ":-eakte" not in text, "no secret falls back to a development value"
    assert {"EAKTE_JWT_SECRET", "EAKTE_S3_ACCESS_KEY", "EAKTE_S3_SECRET_KEY", "POSTGRES_PASSWORD"} <= _required()
    assert {"EAKTE_PORTAL_SESSION_SECRET", "EAKTE_PORTAL_OIDC_CLIENT_SECRET"} <= _required()


def test_the_env_example_documents_every_required_variable_without_a_value() -> None:
    lines = [line for line in ENV_EXAMPLE.read_text().splitlines() if line and not line.startswith("#")]
    example = dict(line.split("=", 1) for line in lines)
    assert _required() <= set(example), f"not in .env.example: {sorted(_required() - set(example))}"
    assert all(value == "" for value in example.values()), ".env.example holds no secrets, only the names"
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_kafka_requires_each_service_to_sign_in_as_its_own_principal() -> None:
    services = _compose()["services"]
    assert services["kafka"]["entrypoint"][-1] == "/opt/eakte/start.sh"
    assert (ROOT / "deploy" / "kafka" / "start.sh").exists()
    assert services["kafka-init"]["command"] == ["python", "-m", "shared.kafka_setup"]
    assert services["kafka-init"]["environment"]["EAKTE_KAFKA_USERNAME"] == "admin"
    for name in (*PRODUCT, "portal"):
        env = services[name]["environment"]
        assert env["EAKTE_KAFKA_USERNAME"] == name
        assert env["EAKTE_KAFKA_PASSWORD"].startswith(f"${{EAKTE_KAFKA_PASSWORD_{name.upper()}:?")


def test_the_proxy_sends_each_services_port_to_its_replicas() -> None:
    """The official nginx image with a config in deploy/; every service's replicas share its database."""
    compose = _compose()
    proxy = compose["services"]["proxy"]
    assert proxy["image"].startswith("nginx:")
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in proxy["volumes"]
    config = (ROOT / "deploy" / "nginx.conf").read_text()
    for name, port in PRODUCT.items():
        assert f"listen {port};" in config and f"http://{name}:{port}" in config
        assert str(compose["services"][name]["environment"]["EAKTE_REPLICAS"]) == "2"
        assert compose["services"][name]["environment"]["EAKTE_DATABASE_URL"].startswith("postgresql://")


# --- the optional profiles: monitoring (Prometheus, Grafana) and tracing (Jaeger) ----------------------------------


def _resolved(env_file: Path, *profiles: str) -> dict:
    done = compose_config(COMPOSE, env_file, "--format", "json", profiles=profiles)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_docker_compose_accepts_the_file_with_the_monitoring_and_tracing_profiles(stand_in_env: Path) -> None:
    done = compose_config(COMPOSE, stand_in_env, "--quiet", profiles=PROFILES)
    assert done.returncode == 0, done.stderr
    everything = set(_resolved(stand_in_env, *PROFILES)["services"])
    assert set().union(*PROFILES.values()) <= everything
    assert not set().union(*PROFILES.values()) & set(_resolved(stand_in_env)["services"]), "optional, not started"
    for profile, names in PROFILES.items():
        assert names <= set(_resolved(stand_in_env, profile)["services"]), profile


def test_the_profiles_run_official_images_with_pinned_tags() -> None:
    services = _compose()["services"]
    official = {"prometheus": "prom/prometheus:", "grafana": "grafana/grafana:", "jaeger": "jaegertracing/"}
    for name, prefix in official.items():
        image = services[name]["image"]
        assert image.startswith(prefix) and re.search(r":v?\d+\.\d+\.\d+$", image), f"{name}: {image} is not pinned"
        assert services[name]["profiles"] == [p for p, names in PROFILES.items() if name in names], name
        assert all(port.startswith("127.0.0.1:") for port in services[name].get("ports", [])), name


def _mounted_files(resolved: dict, service: str) -> list[Path]:
    """The files a service's bind mounts bring in (a mounted folder: every file in it)."""
    files: list[Path] = []
    for volume in resolved["services"][service].get("volumes", []):
        if volume["type"] == "bind":
            source = Path(volume["source"])
            assert source.exists(), f"{service} mounts {source}, which does not exist"
            files += [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    return files


def test_the_monitoring_files_compose_mounts_exist_and_parse(stand_in_env: Path) -> None:
    resolved = _resolved(stand_in_env, *PROFILES)
    files = _mounted_files(resolved, "prometheus") + _mounted_files(resolved, "grafana")
    assert ROOT / "deploy" / "prometheus" / "prometheus.yml" in files
    assert ROOT / "deploy" / "grafana" / "dashboards" / "eakte.json" in files
    for path in files:
        parsed = json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())
        assert isinstance(parsed, dict) and parsed, path
    assert not [p for p in files if _outside(p)]


def test_prometheus_scrapes_every_replica_of_every_service_and_the_portal_not_the_proxy() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {*PRODUCT, "portal"}
    for name, port in {**PRODUCT, "portal": 8080}.items():
        job = jobs[name]
        assert job.get("metrics_path", "/metrics") == "/metrics" and "static_configs" not in job
        # Compose's DNS answers the service name with every replica's address: each replica is a target.
        assert job["dns_sd_configs"] == [{"names": [name], "type": "A", "port": port, "refresh_interval": "30s"}]
    assert "proxy" not in json.dumps(config)


def _dashboard() -> dict:
    return json.loads((ROOT / "deploy" / "grafana" / "dashboards" / "eakte.json").read_text())


def _expressions() -> list[str]:
    return [target["expr"] for panel in _dashboard()["panels"] for target in panel.get("targets", [])]


def test_the_dashboard_uses_only_the_metrics_the_issue_names_and_shows_each_concern() -> None:
    used = {HISTOGRAM_SERIES.sub("", name) for expr in _expressions() for name in re.findall(r"\beakte_\w+", expr)}
    assert used and used <= ISSUE_METRICS, f"not metrics of the issue: {sorted(used - ISSUE_METRICS)}"
    shown = " ".join(_expressions())
    for concern in (
        "rate(eakte_events_consumed_total",  # throughput (documents and events per second)
        "histogram_quantile(0.99, sum by (le, service) (rate(eakte_http_request_seconds_bucket",  # HTTP latency
        "eakte_event_handler_seconds_bucket",  # handler time
        "eakte_consumer_lag",
        "eakte_outbox_pending",
        "eakte_outbox_oldest_seconds",
        'eakte_events_consumed_total{outcome="dead_lettered"}',
        "eakte_ocr_queue",
    ):
        assert concern in shown, concern


def test_the_dashboard_reads_the_provisioned_prometheus() -> None:
    provisioning = ROOT / "deploy" / "grafana" / "provisioning"
    sources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert [(s["type"], s["url"]) for s in sources] == [("prometheus", "http://prometheus:9090")]
    providers = yaml.safe_load((provisioning / "dashboards" / "eakte.yml").read_text())["providers"]
    grafana = _compose()["services"]["grafana"]
    assert f"./deploy/grafana/dashboards:{providers[0]['options']['path']}:ro" in grafana["volumes"]
    panels = [panel for panel in _dashboard()["panels"] if panel["type"] != "row"]
    assert panels and all(panel["datasource"]["uid"] == sources[0]["uid"] for panel in panels)


def test_every_service_and_the_portal_log_json_and_export_traces_only_when_asked() -> None:
    services = _compose()["services"]
    for name in [*PRODUCT, "portal"]:
        env = services[name]["environment"]
        assert env["EAKTE_LOG_FORMAT"] == "json", name
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "${OTEL_EXPORTER_OTLP_ENDPOINT:-}", name
    assert "\nOTEL_EXPORTER_OTLP_ENDPOINT=\n" in ENV_EXAMPLE.read_text()
    assert "127.0.0.1:16686:16686" in services["jaeger"]["ports"]
    assert {"4317", "4318"} <= {str(port) for port in services["jaeger"]["expose"]}
