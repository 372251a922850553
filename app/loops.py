"""How the worker's loops wait: sleeps that a stop request cuts short, and capped backoff with jitter."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

__all__ = ["Backoff", "jittered_delay", "sleep_or_stop", "wait_or_stop"]


async def sleep_or_stop(seconds: float, stop: asyncio.Event) -> None:
    """Sleep `seconds`, or less when `stop` is set meanwhile."""
    try:
        async with asyncio.timeout(seconds):
            await stop.wait()
    except TimeoutError:
        pass


async def wait_or_stop(waiting: Awaitable[object], stop: asyncio.Event) -> None:
    """Await `waiting` until it is done or `stop` is set (then it is cancelled); its error is raised."""
    wait_task = asyncio.ensure_future(waiting)
    stop_task = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({wait_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (wait_task, stop_task):
            if not task.done():
                task.cancel()
        await asyncio.gather(wait_task, stop_task, return_exceptions=True)
    if wait_task.done() and not wait_task.cancelled() and (error := wait_task.exception()) is not None:
        raise error


def jittered_delay(attempt: int, *, initial: float, maximum: float, jitter: tuple[float, float]) -> float:
    """`initial` doubled `attempt` times, capped at `maximum`, times a random factor within `jitter`:
    the jitter keeps many workers that failed together from retrying in step."""
    delay = min(maximum, initial * 2.0**attempt)
    return float(delay * random.uniform(*jitter))  # noqa: S311 - jitter, not security


class Backoff:
    """Capped exponential backoff with jitter, so that many workers do not reconnect in step.

    It grows with every failure and starts over only once a connection has stayed healthy for
    `healthy_after` seconds: a server that drops every connection right after a successful sync
    (or refuses a command each time) is retried less and less often, not once a second."""

    def __init__(
        self,
        initial: float,
        maximum: float,
        *,
        healthy_after: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.initial, self.maximum, self.attempt = initial, maximum, 0
        self.healthy_after = healthy_after
        self.clock = clock
        self._since: float | None = None

    def connected(self) -> None:
        """A connection is up (logged in, folder selected): healthy from now on, until it fails."""
        self._since = self.clock()

    def healthy(self) -> None:
        """The connection just did its work; resets the backoff once it has done so long enough."""
        if self._since is not None and self.clock() - self._since >= self.healthy_after:
            self.attempt = 0

    def next(self) -> float:
        """The delay before the next attempt, after a failure: between half and all of the capped
        exponential delay."""
        self.healthy()
        self._since = None
        delay = jittered_delay(self.attempt, initial=self.initial, maximum=self.maximum, jitter=(0.5, 1.0))
        self.attempt += 1
        return delay
