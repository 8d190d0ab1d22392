"""The one-way hand-over from the live loop to the dashboard, which must never slow the loop.

The loop calls :meth:`Feed.publish` with each update and its block: one ``deque.append`` of two
immutable objects (a frozen Update and frozen Observations), atomic in CPython, with no lock the
server could hold and no I/O. The server's event loop drains the deque every ``poll`` and does
all the work there (rows, history, alarms, status; :class:`Board`). A slow, stalled or
disconnected browser therefore cannot reach the loop: at worst the deque (bounded) fills while the
server itself is stalled, the oldest unread updates are dropped, and the page says how many.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from ..live.estimator import LiveEstimator, Update
from ..live.link import Block
from ..model import SourceModel
from .history import History
from .rows import block_row, detector_labels

__all__ = ["Feed", "RunInfo", "Board"]


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
                   estimator.policy.qber_threshold, estimator.source.description, estimator.source.epsilon, rule,
                   parts, estimator.assumptions)


class Feed:
    """Non-blocking publisher (module docstring); ``maxlen`` updates wait at most for the server."""

    def __init__(self, info: RunInfo, maxlen: int = 10_000) -> None:
        self.info = info
        self._queue: deque[tuple[Update, Block | None]] = deque(maxlen=maxlen)
        self.published = 0
        self.finished = ""

    def publish(self, update: Update, block: Block | None = None) -> None:
        """Hand one update (and its block) to the dashboard; returns at once, never raises."""
        self._queue.append((update, block))
        self.published += 1

    def finish(self, reason: str) -> None:
        """Say that the producer ended (shown as the run's status)."""
        self.finished = reason

    def drain(self) -> list[tuple[Update, Block | None]]:
        items = []
        while True:
            try:
                items.append(self._queue.popleft())
            except IndexError:
                return items


@dataclass
class Board:
    """Everything the page shows, kept by the server's event loop from what the feed delivers."""

    feed: Feed
    history: History = field(default_factory=History)
    detectors: tuple[str, ...] = ()
    alarms: deque = field(default_factory=lambda: deque(maxlen=5))
    alarm_count: int = 0
    accepted: int = 0
    rejected: int = 0
    last_rejection: str = ""
    conservative: int = 0
    last_solver: str = ""
    last_wall_time: float | None = None
    last_latency_ms: float = 0.0
    last_block_pulses: float = 0.0
    consumed: int = 0
    version: int = 0

    @property
    def dropped(self) -> int:
        """Updates the server never saw because it fell ``maxlen`` behind (0 in a healthy run)."""
        return max(self.feed.published - self.consumed - len(self.feed._queue), 0)

    def poll(self) -> int:
        """Take what the feed holds; returns how many updates arrived."""
        items = self.feed.drain()
        for update, block in items:
            self._take(update, block)
        self.consumed += len(items)
        if items:
            self.version += 1
        return len(items)

    def _take(self, update: Update, block: Block | None) -> None:
        if not update.accepted or update.block is None or block is None:
            self.rejected += not update.accepted
            self.last_rejection = update.reason or self.last_rejection
            return
        self.accepted += 1
        if not self.detectors:
            self.detectors = detector_labels(block[0])
        self.history.append(block_row(update, block))
        self.last_wall_time = update.wall_time
        self.last_latency_ms = update.latency_s * 1e3
        self.last_block_pulses = update.block.emissions
        reports = [e.result.solver for e in (update.block, update.accumulated) if e is not None]
        self.conservative += sum(r.conservative for r in reports)
        self.last_solver = "; ".join(f"{r.solver}: {r.status}" + (" (certified)" if r.certified else "")
                                     + (f" — conservative fallback: {r.message}" if r.conservative else "")
                                     for r in reports)
        for alarm in update.alarms:
            self.alarm_count += 1
            self.alarms.append((update.wall_time, update.index, alarm.kind, alarm.message))

    def status_age_s(self) -> float | None:
        return None if self.last_wall_time is None else time.time() - self.last_wall_time
