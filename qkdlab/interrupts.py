"""Ctrl-C that waits for the end of a transaction.

Why: a SIGINT that lands between a command and its reply leaves a reply in the instrument's
output buffer (the next query would read it), and one that lands between two datasets' appends
leaves a half-written point. Inside :func:`delayed_keyboard_interrupt` the first Ctrl-C is held
until the block ends and then raised as usual; a second Ctrl-C raises at once (for a block that
hangs), as in QCoDeS.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["delayed_keyboard_interrupt"]

_state = threading.local()


@contextlib.contextmanager
def delayed_keyboard_interrupt() -> Iterator[None]:
    """Hold a Ctrl-C (SIGINT) until the block ends; nested blocks share the outermost hold.

    Only the main thread can install signal handlers; in other threads the block runs
    unprotected (Python delivers SIGINT to the main thread anyway).
    """
    if threading.current_thread() is not threading.main_thread() or getattr(_state, "active", False):
        yield
        return
    received: list[tuple[int, Any]] = []

    def hold(sig: int, frame: Any) -> None:
        if received:
            raise KeyboardInterrupt  # second Ctrl-C: the user insists
        received.append((sig, frame))

    try:
        previous = signal.signal(signal.SIGINT, hold)
    except ValueError:  # not the main interpreter / signals unavailable
        yield
        return
    _state.active = True
    try:
        yield
    finally:
        _state.active = False
        signal.signal(signal.SIGINT, previous)
        if received:
            if callable(previous):
                previous(*received[0])
            elif previous == signal.SIG_DFL:
                raise KeyboardInterrupt
