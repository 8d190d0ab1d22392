"""The plotted history of a run, bounded in memory however long the run lasts.

A day at one block per second is 86 400 blocks; a browser plotting that many points per line on
ten panels slows down, and so would the server resending them. The history keeps at most
``capacity`` points: the newest half always at full resolution (one point per block); when full,
neighbouring points of equal width in the older half are merged pairwise (:func:`merge_rows`:
width-weighted means, running totals keep their newest value). Widths are powers of two that
grow with age, like an exponential histogram, so a 24 h run at 1 block/s keeps every block of the
last ``capacity/2`` and coarser summaries of everything before — nothing is dropped, totals and
block-weighted means are preserved exactly.

Viewers follow it with two numbers: ``appended`` (rows ever added; new rows since a viewer's
last look are the tail) and ``generation`` (bumped by each merge, after which a viewer reloads
everything). The full columns are float arrays, which Bokeh sends as binary buffers (a list of
floats is encoded number by number in Python: for a reload of 4000 points × 25 columns to ten
viewers, milliseconds instead of a second of the server's time), built once per state of the
history and shared by every viewer that reloads. The few new rows of an update are plain lists:
they travel inline in the message's JSON, where arrays would cost each viewer two websocket
frames per column (~50 frames per update instead of 3).
Used from the server's event loop only, so it needs no lock.
"""

from __future__ import annotations

import numpy as np

from .rows import merge_rows

__all__ = ["History"]


class History:
    """At most ``capacity`` plotted points (module docstring)."""

    def __init__(self, capacity: int = 4000) -> None:
        if capacity < 8:
            raise ValueError(f"history capacity {capacity} must be at least 8 points")
        self.capacity = capacity
        self.rows: list[dict[str, float]] = []
        self.appended = 0
        self.generation = 0
        self._columns: tuple[tuple[int, int], dict[str, np.ndarray]] | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def append(self, row: dict[str, float]) -> None:
        self.rows.append(row)
        self.appended += 1
        if len(self.rows) > self.capacity:
            self._compact()

    def columns(self) -> dict[str, np.ndarray]:
        """Every point as columns, the form a Bokeh ``ColumnDataSource`` takes (shared: do not modify)."""
        state = (self.generation, self.appended)
        if self._columns is None or self._columns[0] != state:
            self._columns = (state, _arrays(self.rows))
        return self._columns[1]

    def since(self, appended: int) -> dict[str, list[float]]:
        """The rows added after a viewer had seen ``appended`` of them (same generation)."""
        fresh = self.appended - appended
        rows = self.rows[len(self.rows) - fresh:] if fresh > 0 else []
        return {key: [r[key] for r in rows] for key in (rows[0] if rows else {})}

    def _compact(self) -> None:
        old, recent = self.rows[: len(self.rows) // 2], self.rows[len(self.rows) // 2:]
        merged: list[dict[str, float]] = []
        i = 0
        while i < len(old):
            if i + 1 < len(old) and old[i]["width"] == old[i + 1]["width"]:
                merged.append(merge_rows(old[i:i + 2]))
                i += 2
            else:
                merged.append(old[i])
                i += 1
        self.rows = merged + recent
        self.generation += 1


def _arrays(rows: list[dict[str, float]]) -> dict[str, np.ndarray]:
    return {key: np.fromiter((r[key] for r in rows), float, len(rows)) for key in (rows[0] if rows else {})}
