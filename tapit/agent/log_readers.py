"""Who is reading an allocation's logs now, so that releasing its disk can wait for them.

Releasing an ended allocation's filesystem copies its logs out from under the mount
(disk.Filesystem.release): for a task that wrote 200 MB that is 200 MB copied while the client
that waits on it, and the archivist, are still reading the same logs, on the same cores. The
release waits until the last reader has gone (a followed stream is closed by its client once it
has reached the end), or for at most RELEASE_WAIT_S; later cleanup work (a purge) does not wait.
Readers never see a difference: the logs are at the same path, with the same contents, before
and after the release.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

RELEASE_WAIT_S = 60.0


class LogReaders:
    def __init__(self) -> None:
        self._count: dict[str, int] = {}
        self._waiters: dict[str, list[asyncio.Event]] = {}

    @asynccontextmanager
    async def reading(self, alloc_id: str) -> AsyncIterator[None]:
        self._count[alloc_id] = self._count.get(alloc_id, 0) + 1
        try:
            yield
        finally:
            self._count[alloc_id] -= 1
            if not self._count[alloc_id]:
                del self._count[alloc_id]
                self.wake(alloc_id)

    def wake(self, alloc_id: str) -> None:
        """Whoever waits on the allocation's readers goes on now."""
        for event in self._waiters.pop(alloc_id, ()):
            event.set()

    async def gone(self, alloc_id: str, timeout: float = RELEASE_WAIT_S) -> None:
        """Until nobody reads the allocation's logs, woken early by wake(), or `timeout` passed."""
        if alloc_id not in self._count:
            return
        event = asyncio.Event()
        self._waiters.setdefault(alloc_id, []).append(event)
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass
