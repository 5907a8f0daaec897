"""Run one piece of work for several actors at the same instant (replicas starting or scanning together)."""

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

Actor = TypeVar("Actor")


def all_at_once(work: Callable[[Actor], object], actors: Sequence[Actor]) -> list[BaseException]:
    """Each actor's `work` in a thread of its own, released together by a barrier; what any of them raised."""
    together = threading.Barrier(len(actors))
    failures: list[BaseException] = []

    def run(actor: Actor) -> None:
        together.wait()
        try:
            work(actor)
        except BaseException as error:  # the caller asserts there were none
            failures.append(error)

    threads = [threading.Thread(target=run, args=(actor,)) for actor in actors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures
