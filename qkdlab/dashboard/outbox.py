"""The live process's end of the hand-over to the server process: written in place, never waited for.

A thread that forwards the feed to the server would run beside the estimator and take the GIL
from it at moments nobody chooses (at worst while the OS has descheduled it, with the GIL held, on
a loaded machine). So there is none in the normal case: :meth:`Outbox.pump`, called by
:meth:`.Feed.publish` in the loop's own thread right after a block, turns the waiting updates into
one framed JSON batch and writes it to a non-blocking socket — a fixed, small cost per block
(``benchmarks/bench_dashboard.py`` reports it), in the loop's time between blocks, never during an
estimate. When the socket is full (the server lags or is stopped), the rest of the batch is left
to a backlog thread that wakes only then, waits until the socket drains and carries on; meanwhile
``pump`` returns at once, the feed's bounded deque keeps the newest updates and drops the oldest.

Frames are a 4-byte big-endian length and the UTF-8 JSON of a list of :func:`.feed.message` dicts
(numbers, text and lists only; NaN as JSON's ``NaN``). JSON rather than pickle: the server decodes
data, never code, whatever reaches its socket.
"""

from __future__ import annotations

import json
import select
import socket
import struct
import threading
from collections.abc import Iterator
from typing import BinaryIO

from .feed import Feed

__all__ = ["Outbox", "decode_batch", "encode_batch", "read_batches"]

_HEADER = struct.Struct("!I")


def encode_batch(messages: list[dict]) -> bytes:
    """One batch as sent: JSON (numpy scalars as plain numbers)."""
    return json.dumps(messages, separators=(",", ":"), default=float).encode()


def decode_batch(payload: bytes) -> list[dict]:
    """A batch as the server reads it (lists where the sender had tuples)."""
    return json.loads(payload)


class Outbox:
    """Writes ``feed``'s updates to ``sock`` without ever blocking the publisher (module docstring)."""

    def __init__(self, feed: Feed, sock: socket.socket, batch: int = 200) -> None:
        self.feed, self.sock, self.batch = feed, sock, batch
        sock.setblocking(False)
        self._lock = threading.Lock()          # one writer at a time: the publisher or the backlog thread
        self._pending: memoryview | None = None
        self._backlog = threading.Event()
        self._closed = False
        self.sent = 0
        self._thread = threading.Thread(target=self._drain_backlog, name="qkdlab-dashboard-backlog", daemon=True)
        self._thread.start()

    def pump(self) -> None:
        """Write what waits, as far as the socket takes it; hand the rest to the backlog thread. Never raises."""
        if self._closed:
            return                             # the server is gone: the feed's deque drops the oldest
        if self._backlog.is_set() or not self._lock.acquire(blocking=False):
            self._backlog.set()                # the backlog thread owns the socket; it will see this update
            return
        try:
            if not self._write():
                self._backlog.set()
        except OSError:
            self._closed = True
        finally:
            self._lock.release()

    def close(self, timeout: float) -> None:
        """Write what is left (waiting at most ``timeout``), then close the socket (the server then exits)."""
        with self._lock:
            self._backlog.set()
            if not self._closed:
                self._closed = True
                try:
                    self.sock.settimeout(timeout)
                    self._write()
                except OSError:
                    pass                       # the server is gone or stuck: what is left is dropped
            self.sock.close()
        self._thread.join(timeout)

    def _write(self) -> bool:
        """Send until nothing waits (True) or the socket is full (False); the caller holds the lock."""
        while True:
            if self._pending is None:
                messages = self.feed.take(self.batch)
                if not messages:
                    return True
                payload = encode_batch(messages)
                self._pending = memoryview(_HEADER.pack(len(payload)) + payload)
                self.sent += len(messages)
            try:
                written = self.sock.send(self._pending)
            except (BlockingIOError, InterruptedError):
                return False
            self._pending = self._pending[written:] if written < len(self._pending) else None

    def _drain_backlog(self) -> None:
        while True:
            self._backlog.wait()
            if self._closed:
                return
            try:
                select.select([], [self.sock], [], 1.0)
                with self._lock:
                    if self._closed:
                        return
                    if self._write():
                        self._backlog.clear()
                        if self.feed.waiting:      # published while we held the lock: look again
                            self._backlog.set()
            except (OSError, ValueError):      # the server process is gone: nothing left to feed
                self._closed = True
                return


def read_batches(stream: BinaryIO) -> Iterator[list[dict]]:
    """The server's end: each batch the outbox wrote, until the live process closes the socket."""
    while header := stream.read(_HEADER.size):
        if len(header) < _HEADER.size:
            return
        (size,) = _HEADER.unpack(header)
        payload = stream.read(size)
        if len(payload) < size:
            return
        yield decode_batch(payload)
