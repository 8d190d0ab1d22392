"""Where the VISA backend and the serial URL handler find simulated benches.

A ``SimulatedBench`` registers under a unique key and usually becomes the *active* bench, which is
what ``@qkdsim`` and ``qkdsim://<instrument>`` reach; ``<key>@qkdsim`` and
``qkdsim://<instrument>?bench=<key>`` reach a named one. Tests make a new bench per test, so no
state leaks between them (the pyvisa-sim pitfall, pyvisa-sim#82/#83).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from typing import Any, Protocol

__all__ = ["ReachableBench", "register", "unregister", "lookup", "activate"]


class ReachableBench(Protocol):
    """What the VISA backend and the serial URL handler need of a registered bench.

    ``qkdlab.sim.bench.SimulatedBench`` is one; the registry knows only this much of it, so the
    two modules do not import each other.
    """

    def emulator_for_resource(self, resource: str) -> Any: ...

    def emulator_for_serial(self, name: str) -> Any: ...

    def visa_resources(self) -> Sequence[str]: ...


_lock = threading.Lock()
_benches: dict[str, ReachableBench] = {}
_active: list[str] = []
_counter = itertools.count(1)


def register(bench: ReachableBench, *, activate_it: bool = True) -> str:
    """Register a bench; return its key. The newest activated bench is the active one."""
    with _lock:
        key = f"bench{next(_counter)}"
        _benches[key] = bench
        if activate_it:
            _active.append(key)
        return key


def activate(key: str) -> None:
    """Make a registered bench the active one."""
    with _lock:
        if key not in _benches:
            raise KeyError(f"no simulated bench {key!r}")
        if key in _active:
            _active.remove(key)
        _active.append(key)


def unregister(key: str) -> None:
    """Forget a bench (its resources no longer open); the previously active bench becomes active."""
    with _lock:
        _benches.pop(key, None)
        if key in _active:
            _active.remove(key)


def lookup(key: str | None) -> ReachableBench | None:
    """The bench with this key, or the active bench for ``None``; ``None`` if there is none."""
    with _lock:
        if key is None:
            return _benches[_active[-1]] if _active else None
        return _benches.get(key)
