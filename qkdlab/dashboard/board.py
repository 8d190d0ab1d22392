"""What the page shows, kept by the dashboard's server process from the feed's messages."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .feed import RunInfo
from .history import History

__all__ = ["Board"]


@dataclass
class Board:
    """The run's plotted history, alarms and status; used from the server's event loop only."""

    info: RunInfo
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
    dropped: int = 0
    finished: str = ""
    version: int = 0

    def take(self, messages: list[dict[str, Any]]) -> None:
        for item in messages:
            self._take(item)
        if messages:
            self.version += 1

    def _take(self, item: dict[str, Any]) -> None:
        if "finished" in item:
            self.finished = item["finished"]
            return
        self.dropped = item.get("dropped", self.dropped)
        if not item["accepted"]:
            self.rejected += 1
            self.last_rejection = item["reason"]
            return
        self.accepted += 1
        self.detectors = self.detectors or tuple(item["detectors"])
        self.history.append(item["row"])
        self.last_wall_time, self.last_latency_ms = item["wall_time"], item["latency_ms"]
        self.last_block_pulses = item["pulses"]
        self.conservative += item["conservative"]
        self.last_solver = item["solver"]
        for alarm in item["alarms"]:
            self.alarm_count += 1
            self.alarms.append(tuple(alarm))

    def status_age_s(self) -> float | None:
        return None if self.last_wall_time is None else time.time() - self.last_wall_time
