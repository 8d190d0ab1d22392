"""When the open pages are updated: together, right after new data, at most a few times a second.

Every viewer has a Bokeh document of its own, and every change to a document is a message that the
server encodes and writes to that viewer's websocket. Updating each page on its own timer would
cost (viewers × timer rate) wake-ups and messages whether or not anything changed, at moments
unrelated to the estimator's. Instead the server's event loop updates all pages at once, and only
when data came in:

- a batch of blocks that arrives at least ``min_interval_s`` after the last update is pushed at
  once. Batches arrive right after the live loop published a block, so the dashboard's work falls
  in the estimator's idle time before the next block rather than on top of it;
- a batch that arrives sooner waits for the next one; a timer pushes it after ``max_delay_s`` if
  none comes (the last block of a run, a slow link), so a block is on every page within
  ``max_delay_s`` plus the network's and the browser's time;
- when nothing arrives, a 1 s tick refreshes the pages' status (the producer's age, STALE).

At 10 blocks/s with the defaults this is one update of every page per ~0.3 s carrying the ~3 new
blocks (instead of one per block); at 1 block/s, one per block. Used from the server's event loop
only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tornado.ioloop import IOLoop, PeriodicCallback

__all__ = ["Viewers"]

#: A page's update: scheduled on its document (``Document.add_next_tick_callback``), so Bokeh runs it
#: with the document's lock and sends what it changed to that page's websocket.
Refresh = Callable[[], None]


class Viewers:
    """The open pages of one server and the policy that updates them (module docstring)."""

    def __init__(self, loop: IOLoop, *, min_interval_s: float = 0.25, max_delay_s: float = 0.5) -> None:
        if not 0 < min_interval_s <= max_delay_s:
            raise ValueError(f"need 0 < min_interval_s ({min_interval_s}) <= max_delay_s ({max_delay_s})")
        self._loop = loop
        self.min_interval_s, self.max_delay_s = min_interval_s, max_delay_s
        self._pages: dict[Any, Refresh] = {}
        self._last_push = -float("inf")
        self._pending: object | None = None
        self.pushes = 0
        self._tick = PeriodicCallback(self._idle_tick, 1000)

    def start(self) -> None:
        self._tick.start()

    def add(self, doc: Any, refresh: Refresh) -> None:
        """Follow a new page; its session's end removes it."""
        self._pages[doc] = refresh
        doc.on_session_destroyed(lambda _context: self._pages.pop(doc, None))

    def __len__(self) -> int:
        return len(self._pages)

    def data_arrived(self) -> None:
        """New blocks are on the board: push now, or soon (module docstring)."""
        if self._loop.time() - self._last_push >= self.min_interval_s:
            self.push()
        elif self._pending is None:
            self._pending = self._loop.call_later(self.max_delay_s, self.push)

    def push(self) -> None:
        """Schedule every page's update on its document."""
        if self._pending is not None:
            self._loop.remove_timeout(self._pending)
            self._pending = None
        self._last_push = self._loop.time()
        self._update_all()

    def _update_all(self) -> None:
        self.pushes += 1
        for doc, refresh in list(self._pages.items()):
            doc.add_next_tick_callback(refresh)

    def _idle_tick(self) -> None:
        """The status's age; not a data push, so a block that comes right after is not held back."""
        if self._loop.time() - self._last_push >= 1.0:
            self._update_all()
