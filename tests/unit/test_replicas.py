"""Replicas without a stack: SQLite refuses them, two hot-folder replicas take each file once, and the dev stack
gives every replica its own port and name."""

import json
from pathlib import Path
from typing import Any, cast

from devstack.stack import Ports, Stack
from services.ingest.hotfolder import HotFolder
from services.ingest.intake import IntakeQueue, replica_name
from services.ingest.uploads import Upload
from shared.production import problems
from shared.settings import Settings
from tests.together import all_at_once


def test_replicas_on_sqlite_are_refused_with_a_clear_message(tmp_path: Path) -> None:
    sqlite = Settings(data_dir=tmp_path, replicas=2)
    [problem] = problems(sqlite, "workflow")
    assert "EAKTE_REPLICAS is 2" in problem and "SQLite" in problem and "EAKTE_DATABASE_URL" in problem
    assert problems(Settings(data_dir=tmp_path), "workflow") == []  # one process: SQLite is the default
    on_postgres = Settings(data_dir=tmp_path, replicas=2, database_url="postgresql://eakte@db/eakte_workflow")
    assert problems(on_postgres, "workflow") == []
    assert problems(sqlite, "portal") == []  # the portal keeps no database
    assert problems(Settings(data_dir=tmp_path, replicas=0), "ingest") == ["EAKTE_REPLICAS must be 1 or more, not 0"]


class _Queue:
    """What the hot-folder needs of the intake queue: it records what each replica registered."""

    def __init__(self, owner: str, registered: list[tuple[str, str, Upload]]) -> None:
        self.owner = owner
        self._registered = registered

    def on_finished(self, _source: str, _finisher: Any) -> None:
        pass

    def add(self, item_id: str, _source: str, path: Path, upload: Upload, refused: str = "") -> None:
        assert not refused, refused
        self._registered.append((self.owner, path.name, upload))

    def known(self, _item_ids: list[str]) -> set[str]:
        return set()


def test_two_hot_folder_replicas_take_each_file_once_with_its_sidecar(tmp_path: Path) -> None:
    registered: list[tuple[str, str, Upload]] = []
    replicas = [
        HotFolder(tmp_path, cast(IntakeQueue, _Queue(f"replica-{n}", registered)), "scanner", 0.1) for n in (1, 2)
    ]
    names = [f"scan-{i:03d}.pdf" for i in range(200)]
    for name in names:
        (tmp_path / name).write_bytes(b"%PDF-1.4\n")
        (tmp_path / f"{Path(name).stem}.json").write_text(json.dumps({"title": f"Titel {name}"}))
        (tmp_path / f"{name}.done").touch()

    # a replica that trips over the other's rename would leave files behind
    assert all_at_once(lambda replica: replica.scan(), replicas) == []
    taken = sorted(path_name.split("__", 1)[1] for _owner, path_name, _upload in registered)
    assert taken == names  # every file once, none twice
    assert all(upload.title == f"Titel {upload.filename}" for _owner, _name, upload in registered)
    for owner, path_name, _upload in registered:  # each in its own replica's processing folder
        assert (tmp_path / "processing" / owner / path_name).exists()
    assert not list(tmp_path.glob("scan-*"))


def test_an_ingest_replica_is_named_by_its_index_or_its_host(tmp_path: Path) -> None:
    assert replica_name(Settings(data_dir=tmp_path)) is None  # alone: owns everything, as before
    assert replica_name(Settings(data_dir=tmp_path, replicas=3, replica_index=2)) == "replica-2"
    assert (replica_name(Settings(data_dir=tmp_path, replicas=3)) or "").startswith("host-")


def test_the_dev_stack_gives_each_replica_its_own_port_index_and_log(tmp_path: Path) -> None:
    stack = Stack(tmp_path, Ports.free(replicas=2), replicas=2, database_urls={"ingest": "postgresql://x/eakte_ingest"})
    assert stack.instances() == ["ingest", "workflow", "archive", "portal", "ingest-2", "workflow-2", "archive-2"]
    ports = {stack.port_of(name) for name in stack.instances()}
    assert len(ports) == len(stack.instances())
    second = stack.env_for("ingest-2")
    assert second["EAKTE_REPLICAS"] == "2" and second["EAKTE_REPLICA_INDEX"] == "2"
    assert second["EAKTE_INGEST_PORT"] == str(stack.port_of("ingest-2"))
    assert second["EAKTE_KAFKA_USERNAME"] == "ingest" and second["EAKTE_DATABASE_URL"].endswith("eakte_ingest")
    assert stack.env_for("ingest")["EAKTE_REPLICA_INDEX"] == "1"
    assert "EAKTE_REPLICAS" not in stack.env_for("portal")
    assert "EAKTE_REPLICAS" not in Stack(tmp_path, Ports.free()).env_for("ingest")  # one replica: as before
    defaults = Ports.defaults(Settings(), replicas=3)
    assert defaults.replicas == {
        "ingest-2": 8091,
        "ingest-3": 8101,
        "workflow-2": 8092,
        "workflow-3": 8102,
        "archive-2": 8093,
        "archive-3": 8103,
    }
