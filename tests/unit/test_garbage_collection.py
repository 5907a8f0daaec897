"""The services' cycle collector setting (shared.service_app.tune_garbage_collection)."""

import gc
from collections.abc import Iterator

import pytest

from shared.service_app import GC_THRESHOLDS, tune_garbage_collection


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_what_start_up_built_is_out_of_the_collectors_reach_and_it_runs_less_often(restored_collector: None) -> None:
    built_at_start = {"models": [[] for _ in range(100)]}
    tune_garbage_collection()
    assert gc.get_threshold() == GC_THRESHOLDS and GC_THRESHOLDS[0] > 700
    assert gc.get_freeze_count() >= len(built_at_start["models"])
    assert not any(o is built_at_start for o in gc.get_objects())  # frozen: no longer among the collected objects
