"""``RunWriter``: crash-safe appends to one run (SWMR, flushed per policy, trimmed to whole points)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pint

from ..errors import DataError
from ..interrupts import delayed_keyboard_interrupt, stop_reason
from .files import _METADATA_RESERVE, _raise_write_problem, _space_left
from .layout import EVENT, POINT, STATUSES, DataGroup, DatasetSpec, FlushPolicy, _write_state, now_iso


class RunWriter:
    """Appends points to one run (SWMR), records events, and writes the final status.

    Use as a context manager: leaving the block normally marks the run ``completed``, a
    ``KeyboardInterrupt`` marks it ``aborted`` and an exception ``failed`` (with the reason), and
    the exception propagates. Points already flushed are never rewritten.
    """

    def __init__(self, path: Path, handle: h5py.File, name: str, groups: Sequence[DataGroup],
                 flush: FlushPolicy, start_time: str) -> None:
        self._path = path
        self.name = name
        self.groups = {g.name: g for g in groups}
        self.flush_policy = flush
        self.start_time = start_time
        self._handle: h5py.File | None = handle
        self._entry = handle[name]
        self._lengths = {g.name: 0 for g in groups}
        self._events = self._entry["events"]
        self._committed = {key: ds for key, ds in self._entry["committed"].items()}
        self._datasets = {g.name: {spec.name: self._entry[g.name][spec.name] for spec in (*g.datasets, _INDEX)}
                          for g in groups}
        self._reserve = {g.name: _METADATA_RESERVE + sum(
            int(np.prod(ds.chunks)) * ds.dtype.itemsize for ds in self._entry[g.name].values()
            if isinstance(ds, h5py.Dataset) and ds.chunks) for g in groups}
        self._t0 = time.monotonic()
        self._unflushed = 0
        self._last_flush = time.monotonic()
        self.status = "running"
        self.reason = ""

    @property
    def path(self) -> Path:
        """The run file."""
        return self._path

    def points(self, group: str | None = None) -> int:
        """Points appended so far to ``group`` (default: the run's default group)."""
        return self._lengths[group or str(self._entry.attrs["default"])]

    # appending
    def append(self, group: str, **values: Any) -> int:
        """Append one point (one row to every dataset of ``group``); returns the point's index.

        Every dataset of the group must be given; quantities are converted to the declared units.
        """
        rows = self._rows(group, values, count=None)
        return self._write_rows(group, rows, 1)

    def extend(self, group: str, **values: Any) -> int:
        """Append several points at once (arrays whose first axis is the point); returns the count."""
        lengths = {np.shape(_magnitude(v, self.groups[group].spec(k).units))[0] for k, v in values.items()
                   if k in {s.name for s in self.groups[group].datasets}}
        if len(lengths) != 1:
            raise ValueError(f"{self.name}/{group}: datasets of one extend must have one length, got {sorted(lengths)}")
        count = lengths.pop()
        rows = self._rows(group, values, count=count)
        self._write_rows(group, rows, count)
        return count

    def _rows(self, group: str, values: Mapping[str, Any], count: int | None) -> dict[str, np.ndarray]:
        if group not in self.groups:
            raise KeyError(f"{self.name}: no data group {group!r}; groups: {sorted(self.groups)}")
        specs = {s.name: s for s in self.groups[group].datasets}
        missing, extra = sorted(set(specs) - set(values)), sorted(set(values) - set(specs))
        if missing or extra:
            raise ValueError(f"{self.name}/{group}: missing datasets {missing}, unknown datasets {extra}")
        rows = {}
        for key, value in values.items():
            spec = specs[key]
            array = np.asarray(_magnitude(value, spec.units))
            expected = (*(() if count is None else (count,)), *spec.shape)
            if array.shape != expected:
                raise ValueError(f"{self.name}/{group}/{key}: a point has shape {array.shape}, declared {expected}")
            rows[key] = array
        return rows

    def _write_rows(self, group: str, rows: Mapping[str, np.ndarray], count: int) -> int:
        if self._handle is None:
            raise DataError(f"{self.path}: run {self.name} is already finished; no more points can be added")
        datasets = self._datasets[group]
        start = self._lengths[group]
        left = _space_left(self.path)
        if left < self._reserve[group]:
            self.finish("failed", f"stopped before the disk filled up ({left} bytes left)")
            raise DataError(f"{self.path}: cannot append to run {self.name}: the disk is full or nearly full "
                            f"({left} bytes left, {self._reserve[group]} needed to append safely); the run is "
                            f"closed as failed with its {start} points, runs already in the file are untouched")
        with delayed_keyboard_interrupt():
            try:
                for key, row in rows.items():
                    _append_rows(datasets[key], start, count, row)
                _append_rows(datasets[POINT], start, count, np.arange(start, start + count))
                self._lengths[group] = start + count
                self._unflushed += count
                self._maybe_flush()
            except (OSError, RuntimeError) as exc:
                self._abandon()
                _raise_write_problem(self.path, exc, f"append to run {self.name}")
        return start if count == 1 else count

    def _maybe_flush(self) -> None:
        policy = self.flush_policy
        due = self._unflushed >= policy.every_points or (
            policy.every_seconds is not None and time.monotonic() - self._last_flush >= policy.every_seconds)
        if due:
            self.flush()

    def flush(self) -> None:
        """Write everything appended so far to disk (readers see it after their next refresh)."""
        if self._handle is not None:
            self._handle.flush()
            counts = {**self._lengths, "events": self._events["time"].shape[0]}
            for group, length in counts.items():
                self._committed[group].id.write(h5py.h5s.ALL, h5py.h5s.ALL, np.array(length, dtype="i8"))
            self._handle.flush()
            self._unflushed = 0
            self._last_flush = time.monotonic()

    def event(self, message: str, level: str = "INFO", point: int | None = None) -> None:
        """Record an event (reconnect, gap, warning) at the current point; flushed at once."""
        if self._handle is None:
            return
        index = self.points() if point is None else point
        with delayed_keyboard_interrupt():
            n = self._events["time"].shape[0]
            for key, value in (("time", time.monotonic() - self._t0), ("point", index), ("level", level),
                               ("message", message), (EVENT, n)):
                ds = self._events[key]
                ds.resize(n + 1, axis=0)
                ds[n] = value
            self.flush()

    # finishing
    def finish(self, status: str, reason: str = "") -> None:
        """Write the final status, end time and point count, then close the SWMR session.

        The state is written through the handle the run already holds (the fields were declared
        before SWMR began), so no reader — however long it keeps the file open — can stop a
        finished run from being recorded as finished.
        """
        if status not in STATUSES or status == "running":
            raise ValueError(f"final status must be one of completed/aborted/failed, got {status!r}")
        if self._handle is None:
            return
        with delayed_keyboard_interrupt():
            try:
                self._handle.flush()  # the data first: a reader never sees 'completed' before the points
                _write_state(self._entry, status=status, reason=reason, end_time=now_iso(),
                             points=self._lengths[str(self._entry.attrs["default"])])
                self._handle.flush()
                self._handle.close()
            except OSError as exc:
                self._abandon()
                _raise_write_problem(self.path, exc, f"write the final status of run {self.name}")
            self._handle = None
            self.status, self.reason = status, reason

    def _abandon(self) -> None:
        """After a write error: close what can be closed; the run stays 'running' on disk."""
        handle, self._handle = self._handle, None
        if handle is not None:
            with contextlib.suppress(Exception):
                handle.close()

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if self._handle is None:
            return
        if exc is None:
            self.finish("completed")
        elif isinstance(exc, KeyboardInterrupt):
            self.finish("aborted", stop_reason(exc))
        else:
            self.finish("failed", f"{type(exc).__name__}: {exc}")


_INDEX = DatasetSpec(POINT, "")


def _append_rows(ds: h5py.Dataset, start: int, count: int, rows: np.ndarray) -> None:
    """Grow ``ds`` by ``count`` rows and write them, through h5py's low-level API.

    Why low level: the high-level ``resize`` + slice assignment re-derives shapes, dtypes and
    selections on every call, which dominated the per-point cost (the target is < 1 ms).
    """
    new_shape = (start + count, *ds.shape[1:])
    ds.id.set_extent(new_shape)
    file_space = ds.id.get_space()
    file_space.select_hyperslab((start, *(0,) * (len(new_shape) - 1)), (count, *new_shape[1:]))
    data = np.ascontiguousarray(rows, dtype=ds.dtype).reshape((count, *new_shape[1:]))
    if ds.dtype.kind == "O":  # variable-length strings: let h5py convert
        ds[start:start + count] = data
        return
    ds.id.write(h5py.h5s.create_simple(data.shape), file_space, data)


def _magnitude(value: Any, units: str) -> Any:
    if isinstance(value, pint.Quantity):
        return value.to(units or "dimensionless").magnitude
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], pint.Quantity):
        return [v.to(units or "dimensionless").magnitude for v in value]
    return value
