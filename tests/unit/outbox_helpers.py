"""What the outbox relay's unit tests share."""

import asyncio
from collections.abc import Awaitable, Callable


def acking_enqueue(sent: list[bytes]) -> Callable[[str, bytes, bytes], Awaitable[Awaitable[None]]]:
    """An `enqueue` whose broker takes every message at once; the payloads handed over are appended to `sent`."""

    async def enqueue(_topic: str, _key: bytes, payload: bytes) -> Awaitable[None]:
        sent.append(payload)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    return enqueue
