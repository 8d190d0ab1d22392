"""Ctrl-C that waits for the end of a transaction.

Why: a SIGINT that lands between a command and its reply leaves a reply in the instrument's
output buffer (the next query would read it), and one that lands between two datasets' appends
leaves a half-written point. Inside :func:`delayed_keyboard_interrupt` the first Ctrl-C is held
until the block ends and then raised as usual; a second Ctrl-C raises at once (for a block that
hangs), as in QCoDeS. A SIGTERM that a command turned into an interrupt is held the same way.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["delayed_keyboard_interrupt", "Terminated", "stop_reason"]

_state = threading.local()


class Terminated(KeyboardInterrupt):
    """A stop by a signal other than Ctrl-C (SIGTERM from ``kill``, SIGHUP): handled like Ctrl-C,
    so every open run is closed as aborted, but recorded under its own name."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


def stop_reason(exc: BaseException) -> str:
    """What a run's record says about the interrupt that stopped it."""
    if isinstance(exc, Terminated):
        return f"stopped by {exc.signal_name}"
    return "interrupted by the user (Ctrl-C, SIGINT)"


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
            raise KeyboardInterrupt  # a second interrupt: the user insists
        received.append((sig, frame))

    # SIGINT always; SIGTERM too where a command made it an interrupt (``kill`` ends a run like Ctrl-C)
    held = [signal.SIGINT] + ([signal.SIGTERM] if callable(signal.getsignal(signal.SIGTERM)) else [])
    try:
        previous = {sig: signal.signal(sig, hold) for sig in held}
    except ValueError:  # not the main interpreter / signals unavailable
        yield
        return
    _state.active = True
    try:
        yield
    finally:
        _state.active = False
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if received:
            sig, frame = received[0]
            handler = previous[sig]
            if callable(handler):
                handler(sig, frame)
            elif handler == signal.SIG_DFL:
                raise KeyboardInterrupt
