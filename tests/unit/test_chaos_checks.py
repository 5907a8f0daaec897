"""The checks `make chaos` and `make bench-replicas` rely on: what counts as doubled, lag, CPU from /proc."""

import pytest
from kafka import TopicPartition

from tests.bench import replicas
from tests.bench.chaos import doubled_events, doubled_versions, group_name, total_lag
from tests.bench.replicas import cpu_ticks, parent_of


def test_an_object_with_a_second_version_is_doubled() -> None:
    versions = [("a/original.pdf", "v1"), ("b/original.pdf", "v1"), ("a/original.pdf", "v2")]
    assert doubled_versions(versions) == {"a/original.pdf": 2}


def test_a_redelivered_event_keeps_its_id_and_is_not_doubled_but_a_second_id_is() -> None:
    messages = [
        {"document_id": "d1", "event_id": "e1"},
        {"document_id": "d1", "event_id": "e1"},  # redelivered
        {"document_id": "d2", "event_id": "e2"},
        {"document_id": "d2", "event_id": "e3"},  # published twice
        {"document_id": "other", "event_id": "e4"},
        {"document_id": "other", "event_id": "e5"},
    ]
    assert doubled_events(messages, {"d1", "d2"}) == {"d2": 2}


def test_lag_counts_uncommitted_partitions_whole() -> None:
    p0, p1 = TopicPartition("t", 0), TopicPartition("t", 1)
    assert total_lag({p0: 10}, {p0: 10, p1: 0}) == 0
    assert total_lag({p0: 7}, {p0: 10, p1: 4}) == 7


def test_group_names_from_either_kafka_python_shape() -> None:
    assert group_name({"group_id": "archive", "protocol_type": "consumer"}) == "archive"
    assert group_name(("workflow", "consumer")) == "workflow"


def test_cpu_ticks_read_past_a_process_name_with_spaces() -> None:
    line = "42 (python -m x) S 7 42 42 0 -1 4194560 100 0 0 0 150 25 3 2 20 0 1 0 100 0 0"
    assert cpu_ticks(line) == 150 + 25 + 3 + 2
    assert parent_of(line) == 7


def test_a_process_tree_includes_its_descendants(monkeypatch: pytest.MonkeyPatch) -> None:
    def stat(pid: int, parent: int, ticks: int) -> str:
        return f"{pid} (p) S {parent} 0 0 0 0 0 0 0 0 0 {ticks} 0 0 0 20 0 1 0"

    stats = {1: stat(1, 0, 5), 10: stat(10, 1, 100), 11: stat(11, 10, 20), 12: stat(12, 10, 3), 20: stat(20, 1, 7)}
    monkeypatch.setattr(replicas, "_stats", lambda: stats)
    assert replicas.tree_ticks({"postgres": 10, "other": 20}) == {"postgres": 123, "other": 7}
    # The driver (pid 1 here) started both: its own ticks only, the others are counted by their names.
    assert replicas.tree_ticks({"driver": 1, "postgres": 10, "other": 20})["driver"] == 5


def test_a_reminder_fired_twice_for_one_task_is_doubled() -> None:
    reminders = [
        {"document_id": "d1", "task_id": "t1", "event_id": "r1"},
        {"document_id": "d1", "task_id": "t1", "event_id": "r2"},
        {"document_id": "d2", "task_id": "t2", "event_id": "r3"},
    ]
    assert doubled_events(reminders, {"d1", "d2"}, key="task_id") == {"t1": 2}
