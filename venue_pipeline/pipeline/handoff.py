"""Work handed from one stage to the next as it is stored (the pipelined city flow, pipeline/flow.py): a venue, or
one provider's part of a venue; each stage runs its own event loop in its own thread, so the hand-over is a
thread-safe queue read without blocking."""

from __future__ import annotations

import asyncio
import queue
from collections.abc import AsyncIterator, Iterator

Part = tuple[int, str | None]  # (venue id, provider), provider None: the whole venue, or what is left of it
_END: Part = (-1, None)  # no venue id is negative


class Handoff:
    """Venue parts in the order the producing stage stored them; `close` (always called, also on failure) ends the
    consumer's iteration once it has taken every part put before it."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Part] = queue.SimpleQueue()
        self.put_count = 0

    def put(self, venue_id: int, provider: str | None = None) -> None:
        """A venue (or one provider's part of it) is stored and ready for the next stage (the producer's thread)."""
        self.put_count += 1
        self._queue.put((venue_id, provider))

    def close(self) -> None:
        """The producer is done, finished or failed: nothing more will come."""
        self._queue.put(_END)

    def drain(self) -> Iterator[Part]:
        """Each part as it is put, blocking until the next one (a thread that only passes them on)."""
        while (item := self._queue.get()) != _END:
            yield item

    async def parts(self, poll_s: float = 0.2) -> AsyncIterator[Part]:
        """Each (venue id, provider) as soon as it is put; waits in a worker thread at most `poll_s` at a time, so a
        consumer whose loop is stopping never leaves a thread blocked on the queue."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                try:
                    item = await asyncio.to_thread(self._queue.get, True, poll_s)
                except queue.Empty:
                    continue
            if item == _END:
                return
            yield item
