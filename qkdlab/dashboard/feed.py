"""The one-way hand-over from the live loop to the dashboard, which must never slow the loop.

The loop calls :meth:`Feed.publish` with each update and its block: one ``deque.append`` of two
immutable objects (a frozen Update and frozen Observations), then, once a dashboard server is
attached, its :class:`.outbox.Outbox` writes what waits — as one small :func:`message` per update
(the plotted row, alarms, solver status) — to a non-blocking socket to the dashboard's server
process (:mod:`.server`), which does all the web work outside this process and its GIL. This runs
in the loop's own thread, right after the estimate and before the loop waits for the next block:
no thread of the live process wakes up beside the estimator. A slow, stalled or disconnected
browser — or a stalled server — therefore cannot reach the loop: when the socket is full the
publish returns at once, the deque (bounded) keeps the newest updates and drops the oldest, and
the page says how many.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..live.estimator import LiveEstimator, Update
from ..live.link import Block
from ..model import SourceModel
from .rows import block_row, detector_labels

__all__ = ["Feed", "RunInfo", "message"]


@dataclass(frozen=True)
class RunInfo:
    """What stays fixed for a run: shown in the page's header."""

    title: str
    method: str
    epsilon_sec: float
    epsilon_cor: float
    ec_efficiency: float
    qber_threshold: float
    source: str
    epsilon: float
    epsilon_rule: str = ""
    #: (name, upper bound, inventory, where it came from) per part of the source model's ε budget.
    epsilon_parts: tuple[tuple[str, float, str, str], ...] = ()
    assumptions: tuple[str, ...] = ()

    @classmethod
    def from_estimator(cls, estimator: LiveEstimator, title: str, model: SourceModel | None = None) -> RunInfo:
        parts: tuple[tuple[str, float, str, str], ...] = ()
        rule = ""
        if model is not None:
            rule = model.epsilon.rule
            parts = tuple((p.name, p.upper, p.inventory,
                           f"{p.provenance.file} {p.provenance.run} ({p.provenance.kind}, {p.provenance.method})"
                           if p.provenance else (p.method or "no provenance recorded")) for p in model.epsilon.parts)
        return cls(title, estimator.method, estimator.epsilon_sec, estimator.epsilon_cor, estimator.ec_efficiency,
                   estimator.policy.qber_threshold, estimator.source_description, estimator.source.epsilon, rule,
                   parts, estimator.assumptions)


class Feed:
    """Non-blocking publisher (module docstring); ``maxlen`` updates wait at most for the server."""

    def __init__(self, info: RunInfo, maxlen: int = 10_000) -> None:
        self.info = info
        self._queue: deque[tuple[Update | None, Block | None] | str] = deque(maxlen=maxlen)
        self._pump: Callable[[], None] | None = None
        self.published = 0
        self.taken = 0

    def publish(self, update: Update, block: Block | None = None) -> None:
        """Hand one update (and its block) to the dashboard; returns without waiting, never raises."""
        self._queue.append((update, block))
        self.published += 1
        if self._pump is not None:
            self._pump()

    def finish(self, reason: str) -> None:
        """Say that the producer ended (shown as the run's status)."""
        self._queue.append(reason)
        if self._pump is not None:
            self._pump()

    def attach(self, pump: Callable[[], None] | None) -> None:
        """Have ``pump`` (a server's outbox) called after every publish; ``None`` detaches it."""
        self._pump = pump
        if pump is not None:
            pump()

    @property
    def waiting(self) -> bool:
        return bool(self._queue)

    @property
    def dropped(self) -> int:
        """Updates published but never taken because the queue overflowed (0 in a healthy run)."""
        return max(self.published - self.taken - len(self._queue), 0)

    def take(self, limit: int = 200) -> list[dict[str, Any]]:
        """Up to ``limit`` waiting updates as :func:`message` dicts (called by the outbox)."""
        out: list[dict[str, Any]] = []
        while len(out) < limit:
            try:
                item = self._queue.popleft()
            except IndexError:
                return out
            if isinstance(item, str):
                out.append({"finished": item})
            else:
                self.taken += 1
                out.append(message(*item) | {"dropped": self.dropped})
        return out


def message(update: Update, block: Block | None) -> dict[str, Any]:
    """What the page needs of one update: plain JSON (numbers, text, lists), small, computed off the live loop."""
    out: dict[str, Any] = {"accepted": update.accepted and update.block is not None and block is not None,
                           "reason": update.reason, "wall_time": update.wall_time, "latency_ms": 1e3 * update.latency_s}
    if not out["accepted"]:
        return out
    assert update.block is not None and update.accumulated is not None and block is not None
    reports = [e.result.solver for e in (update.block, update.accumulated)]
    return out | {"row": block_row(update, block), "detectors": detector_labels(block[0]),
                  "pulses": update.block.emissions,
                  "alarms": [(update.wall_time, update.index, a.kind, a.message) for a in update.alarms],
                  "conservative": sum(r.conservative for r in reports),
                  "solver": "; ".join(f"{r.solver}: {r.status}" + (" (certified)" if r.certified else "")
                                      + (f" — conservative fallback: {r.message}" if r.conservative else "")
                                      for r in reports)}
