"""HDF5 store: the file layout of qkdlab runs, a crash-safe appending writer, and a reader.

Layout (NeXus-style, readable with plain h5py, silx, HDFView or xarray)::

    /                                   NX_class=NXroot, qkdlab_schema_version, creator, default
    /run_0001                           NX_class=NXentry; kind, title, start_time, stop_time,
                                        status (running|completed|aborted|failed), status_reason,
                                        qkdlab_version, writer_pid, writer_host, default
    /run_0001/parameters/<name>         scalar or array datasets, each with ``units``
    /run_0001/bench/config              the bench config (YAML text)
    /run_0001/bench/instruments/<name>  attrs: driver, resource, identity; dataset ``settings``
                                        (JSON of the instrument's settings snapshot)
    /run_0001/<group>/<dataset>         NX_class=NXdata groups (signal, axes); resizable,
                                        chunked datasets appended point by point, each with
                                        ``units`` and ``long_name``
    /run_0001/events                    NXcollection: time (s since start), point, level, message
                                        (reconnects, gaps, warnings logged during the run)

Why SWMR: once the datasets of a run exist, the file is switched to single-writer/multiple-reader
mode. HDF5 then orders its metadata writes so that the file on disk is consistent after every
flush: a process killed with SIGKILL leaves a file that opens (read-only, ``swmr=True``) with
every flushed point, and a live reader (``qkdlab.live``) can follow the run while it is written.
SWMR forbids creating objects or attributes, so everything a run will hold is declared up
front (:class:`DataGroup`), and the final status is written after the SWMR session is closed.

A file left by a killed writer still carries HDF5's "open for writing" flags. Readers open it
anyway (``swmr=True``); a new run in the same file first *recovers* it: every object is copied
into a fresh file next to it, the dead run is marked ``failed`` with the reason, and the copy
atomically replaces the original (so a crash during recovery harms nothing).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import logging
import os
import resource
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pint

from . import __version__
from .errors import DataError
from .interrupts import delayed_keyboard_interrupt
from .units import Q_

__all__ = [
    "SCHEMA_VERSION", "STATUSES", "STRING", "FlushPolicy", "DatasetSpec", "DataGroup", "Store", "RunWriter",
    "RunSummary", "RunData", "Event", "now_iso", "open_reader", "writer_alive",
]

log = logging.getLogger(__name__)

#: Bumped when the layout changes incompatibly; readers refuse files with a newer major version.
SCHEMA_VERSION = 1
STATUSES = ("running", "completed", "aborted", "failed")
#: dtype of text datasets (variable-length UTF-8).
STRING = h5py.string_dtype()
_STR = STRING


def now_iso() -> str:
    """The current time, ISO 8601 with the local zone offset (e.g. 2026-11-23T05:40:01.123+00:00)."""
    return _dt.datetime.now().astimezone().isoformat(timespec="milliseconds")


# -- declarations --------------------------------------------------------------------------------
@dataclass(frozen=True)
class FlushPolicy:
    """When appended points are flushed to disk: after ``every_points`` points or ``every_seconds``.

    The default flushes every point (no point can be lost). Fast acquisitions (thousands of
    points per second) can flush every N points or T seconds; a kill then loses at most that
    many unflushed points, which is the trade the user chose.
    """

    every_points: int = 1
    every_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.every_points < 1:
            raise ValueError(f"FlushPolicy.every_points must be >= 1, got {self.every_points}")
        if self.every_seconds is not None and self.every_seconds <= 0:
            raise ValueError(f"FlushPolicy.every_seconds must be > 0, got {self.every_seconds}")


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of a data group: appended one row per point; ``shape`` is a row's shape."""

    name: str
    units: str
    long_name: str = ""
    dtype: Any = "f8"
    shape: tuple[int, ...] = ()


@dataclass(frozen=True)
class DataGroup:
    """An NXdata group: datasets that grow together, the ``signal`` plotted against ``axes``.

    ``fixed`` holds axes known before the first point (e.g. the time axis of scope traces):
    name -> (values, units), written once; a growing dataset whose rows are traces then has
    ``axes = [".", "time"]`` in NeXus terms.
    """

    name: str
    datasets: Sequence[DatasetSpec]
    signal: str
    axes: Sequence[str] = ()
    title: str = ""
    fixed: Mapping[str, tuple[Any, str]] = field(default_factory=dict)

    def spec(self, name: str) -> DatasetSpec:
        for spec in self.datasets:
            if spec.name == name:
                return spec
        raise KeyError(name)


@dataclass(frozen=True)
class Event:
    """Something that happened during a run (a reconnect, a gap, a warning)."""

    time_s: float
    point: int
    level: str
    message: str


# -- opening files -------------------------------------------------------------------------------
def _h5_problem(path: Path, exc: OSError) -> str:
    """Say in words why HDF5 could not open ``path``."""
    text = str(exc)
    if not path.exists():
        return "no such file"
    if path.is_dir():
        return "it is a directory"
    if path.stat().st_size == 0:
        return "the file is empty"
    with open(path, "rb") as handle:
        if handle.read(8) != b"\x89HDF\r\n\x1a\n":
            return "not an HDF5 file"
    if "truncated" in text or "eof" in text.lower():
        return "the file is truncated (an incomplete copy or a disk that filled up)"
    if "already open for write" in text:
        return "another process has it open for writing (or died while writing it)"
    if "ermission" in text:
        return "permission denied"
    return f"HDF5 cannot read it ({text})"


def _h5open(path: Path, mode: str, **kwargs: Any) -> h5py.File:
    """``h5py.File``, retried for a few seconds while another process holds the file's lock.

    Why: a reader (``qkdlab runs``, a live follower) holds a shared lock for the moment it
    reads; a writer that starts or finishes a run at that moment must wait, not fail.
    """
    deadline = time.monotonic() + _LOCK_WAIT_S
    while True:
        try:
            return h5py.File(path, mode, **kwargs)
        except OSError as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


#: How long opening a file waits for another process's lock to go away.
_LOCK_WAIT_S = 10.0


def _open_read(path: Path) -> h5py.File:
    """Open for reading; in SWMR read mode when a writer is live or died while writing.

    A plain open first, because only it checks the file against its recorded end (a truncated
    copy); a file still flagged as open for writing is then opened in SWMR read mode.
    """
    try:
        return _h5open(path, "r")
    except OSError as exc:
        if "already open for write" not in str(exc):
            raise DataError(f"{path}: cannot open: {_h5_problem(path, exc)}") from None
    try:
        return _h5open(path, "r", swmr=True)
    except OSError as exc:
        raise DataError(f"{path}: cannot open: {_h5_problem(path, exc)}") from None


def open_reader(path: str | os.PathLike[str]) -> h5py.File:
    """A store file opened for reading, in SWMR mode while a writer is live (for followers)."""
    return _open_read(Path(path))


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[h5py.File]:
    """An open, schema-checked file; damage found while reading becomes a ``DataError``."""
    with _open_read(path) as handle:
        _check_schema(path, handle)
        try:
            yield handle
        except (OSError, RuntimeError) as exc:
            raise DataError(f"{path}: the file is damaged and cannot be read ({exc}); "
                            "runs may be recoverable with h5py or h5dump") from None


def _check_schema(path: Path, handle: h5py.File) -> None:
    version = handle.attrs.get("qkdlab_schema_version")
    if version is None:
        raise DataError(f"{path}: not a qkdlab data file (no 'qkdlab_schema_version' attribute); "
                        "it was written by another program")
    if int(version) > SCHEMA_VERSION:
        raise DataError(f"{path}: written with qkdlab schema version {int(version)}, this qkdlab reads "
                        f"up to version {SCHEMA_VERSION}; upgrade qkdlab to read it")


def writer_alive(attrs: Mapping[str, Any]) -> bool:
    """Whether the process that wrote a 'running' run may still be alive (unknown host: assume so)."""
    if attrs.get("writer_host") != socket.gethostname():
        return True
    try:
        os.kill(int(attrs.get("writer_pid", -1)), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, OverflowError):
        return True
    return True


def _interrupted_reason(attrs: Mapping[str, Any]) -> str:
    return (f"interrupted: the writer (pid {attrs.get('writer_pid')} on {attrs.get('writer_host')}) "
            "ended without closing the run (killed, crashed or power lost); every flushed point is kept")


#: Room kept free for the final status and HDF5's own metadata when a run is closed.
_METADATA_RESERVE = 1 << 20


def _space_left(path: Path) -> int:
    """Bytes that can still be written to ``path``: free disk space, and the process's file-size limit.

    Why check before writing: HDF5 (2.0) does not survive a write that fails for lack of space —
    closing the file afterwards crashes the process — so the writer stops while there is room.
    """
    stats = os.statvfs(path.parent)
    left = stats.f_bavail * stats.f_frsize
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY:
        left = min(left, limit - path.stat().st_size)
    return int(left)


def _raise_write_problem(path: Path, exc: OSError, doing: str) -> None:
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT) or "No space" in text or "File too large" in text:
        why = "the disk is full (or the file size limit was reached)"
    elif code in (errno.EACCES, errno.EPERM, errno.EROFS) or "ermission" in text or "Read-only" in text:
        why = "permission denied (read-only file or directory)"
    elif code == errno.ENOENT:
        why = "the directory does not exist or does not accept files"
    else:
        why = text
    kept = "; runs already in the file are untouched" if path.exists() and path.stat().st_size else ""
    raise DataError(f"{path}: cannot {doing}: {why}{kept}") from None


# -- the store -------------------------------------------------------------------------------------
class Store:
    """An HDF5 file holding many runs. Creating a run opens the file for writing only while it runs."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    # writing
    def new_run(self, kind: str, groups: Sequence[DataGroup], *, default: str | None = None,
                parameters: Mapping[str, Any] | None = None, bench_config: str = "",
                instruments: Mapping[str, Mapping[str, Any]] | None = None, title: str = "",
                flush: FlushPolicy | None = None) -> RunWriter:
        """Create a run, write its metadata, declare its data groups, and return the writer.

        ``parameters``: name -> value (quantity, number, string, bool, sequence or mapping);
        ``instruments``: name -> {"driver", "resource", "identity", "settings"} as the bench
        snapshot gives them. The run is ``running`` until the writer finishes it.
        """
        if not groups:
            raise ValueError("a run needs at least one data group")
        handle = self._open_for_new_run()
        try:
            try:
                name = f"run_{len([k for k in handle if k.startswith('run_')]) + 1:04d}"
                entry = handle.create_group(name)
                start = now_iso()
                entry.attrs.update({
                    "NX_class": "NXentry", "kind": kind, "title": title or kind, "start_time": start,
                    "stop_time": "", "status": "running", "status_reason": "", "qkdlab_version": __version__,
                    "writer_pid": os.getpid(), "writer_host": socket.gethostname(), "points": 0,
                    "default": default or groups[0].name})
                _write_parameters(entry.create_group("parameters"), parameters or {})
                _write_bench(entry.create_group("bench"), bench_config, instruments or {})
                for group in groups:
                    _declare_group(entry, group)
                events = entry.create_group("events")
                events.attrs["NX_class"] = "NXcollection"
                for spec in _EVENT_SPECS:
                    _declare_dataset(events, spec)
                committed = entry.create_group("committed")
                committed.attrs.update({"NX_class": "NXcollection", "description": (
                    "points of each group known to be on disk: written after a flush, so a reader of "
                    "a file whose writer was killed never takes a row whose data had not arrived")})
                for group_name in [g.name for g in groups] + ["events"]:
                    committed.create_dataset(group_name, data=np.zeros(1, dtype="i8"))
                handle.attrs["default"] = name
                handle.flush()
                handle.swmr_mode = True
            except OSError as exc:
                _raise_write_problem(self.path, exc, "create a new run")
        except BaseException:
            handle.close()
            raise
        return RunWriter(self, handle, name, groups, flush or FlushPolicy(), start)

    @contextlib.contextmanager
    def open_for_addition(self) -> Iterator[h5py.File]:
        """The existing file opened to add a group beside the runs (e.g. a calibration)."""
        if not self.path.exists():
            raise DataError(f"{self.path}: no such file")
        handle = self._open_for_new_run()
        try:
            yield handle
        except OSError as exc:
            _raise_write_problem(self.path, exc, "add to the file")
        finally:
            handle.close()

    def _open_for_new_run(self) -> h5py.File:
        """Open (creating if needed) for a new run; recover a file a dead writer left behind."""
        path = self.path
        if path.exists():
            with _open_read(path) as handle:
                _check_schema(path, handle)
            try:
                return _h5open(path, "a", libver="latest")
            except OSError as exc:
                if "already open for write" not in str(exc):
                    _raise_write_problem(path, exc, "open for writing")
            self.recover()
            try:
                return _h5open(path, "a", libver="latest")
            except OSError as exc:
                _raise_write_problem(path, exc, "open for writing after recovery")
        if not path.parent.exists():
            raise DataError(f"{path}: the directory {path.parent} does not exist; create it or choose another --out")
        try:
            handle = _h5open(path, "x", libver="latest")
            handle.attrs.update({"NX_class": "NXroot", "qkdlab_schema_version": SCHEMA_VERSION,
                                 "creator": f"qkdlab {__version__}", "file_time": now_iso()})
            return handle
        except OSError as exc:
            with contextlib.suppress(OSError):
                if path.exists() and path.stat().st_size == 0:
                    path.unlink()
            _raise_write_problem(path, exc, "create the file")
        raise AssertionError("unreachable")

    def recover(self) -> list[str]:
        """Make a file left open by a dead writer appendable again; returns the runs marked failed.

        Refuses (``DataError``) while the writer of a running run may be alive. The original is
        replaced only once the complete copy is on disk.
        """
        path = self.path
        tmp = path.with_name(f".{path.name}.recover-{os.getpid()}")
        marked: list[str] = []
        with _open_read(path) as src:
            _check_schema(path, src)
            for name, entry in src.items():
                if entry.attrs.get("status") == "running":
                    if writer_alive(entry.attrs):
                        raise DataError(
                            f"{path}: run {name} is being written by pid {entry.attrs.get('writer_pid')} on "
                            f"{entry.attrs.get('writer_host')}; wait for it to finish or write to another file")
                    marked.append(name)
            try:
                with h5py.File(tmp, "w", libver="latest") as dst:
                    dst.attrs.update(dict(src.attrs))
                    for name in src:
                        src.copy(src[name], dst, name=name)
                    for name in marked:
                        _trim_to_committed(dst[name])
                        attrs = dst[name].attrs
                        attrs["points"] = _count_points(dst[name])
                        attrs["status_reason"] = _interrupted_reason(attrs)
                        attrs["status"] = "failed"
                    dst.flush()
                with open(tmp, "rb") as handle:
                    os.fsync(handle.fileno())
            except OSError as exc:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                _raise_write_problem(path, exc, "recover the file left by a dead writer")
        os.replace(tmp, path)
        log.warning("%s: recovered after an interrupted writer; runs marked failed: %s", path, marked)
        return marked

    # reading
    def runs(self) -> list[RunSummary]:
        """Every run in the file, oldest first."""
        with _reading(self.path) as handle:
            return [_summary(name, handle[name]) for name in sorted(handle) if name.startswith("run_")]

    def read(self, run: str | int) -> RunData:
        """Everything of one run (``run``: its name, e.g. ``run_0003``, or its number, 3)."""
        with _reading(self.path) as handle:
            names = sorted(k for k in handle if k.startswith("run_"))
            name = _run_name(run)
            if name not in names:
                listing = ", ".join(names) if names else "none"
                raise DataError(f"{self.path}: no run {run!r}; runs in this file: {listing}")
            return _read_run(self.path, name, handle[name])


def _run_name(run: str | int) -> str:
    if isinstance(run, int) or (isinstance(run, str) and run.strip().isdigit()):
        return f"run_{int(run):04d}"
    return str(run)


# -- writing helpers ---------------------------------------------------------------------------------
_EVENT_SPECS = (DatasetSpec("time", "s", "time since the run started"),
                DatasetSpec("point", "", "point index when it happened", dtype="i8"),
                DatasetSpec("level", "", "log level", dtype=_STR),
                DatasetSpec("message", "", "what happened", dtype=_STR))


def _declare_dataset(group: h5py.Group, spec: DatasetSpec) -> h5py.Dataset:
    row = tuple(spec.shape)
    row_bytes = int(np.prod(row, dtype=np.int64)) * 8 if row else 8
    chunk_rows = max(1, min(1024, (256 * 1024) // max(row_bytes, 1)))
    ds = group.create_dataset(spec.name, shape=(0, *row), maxshape=(None, *row), chunks=(chunk_rows, *row),
                              dtype=spec.dtype)
    ds.attrs["units"] = spec.units
    if spec.long_name:
        ds.attrs["long_name"] = spec.long_name
    return ds


def _declare_group(entry: h5py.Group, group: DataGroup) -> None:
    g = entry.create_group(group.name)
    g.attrs.update({"NX_class": "NXdata", "signal": group.signal})
    if group.axes:
        g.attrs["axes"] = list(group.axes)
        for index, axis in enumerate(group.axes):
            if axis != ".":
                g.attrs[f"{axis}_indices"] = index
    if group.title:
        g.attrs["title"] = group.title
    for spec in group.datasets:
        _declare_dataset(g, spec)
    for name, (values, units) in group.fixed.items():
        ds = g.create_dataset(name, data=np.asarray(values))
        ds.attrs.update({"units": units, "qkdlab_fixed": 1})


def _split_value(value: Any) -> tuple[Any, str]:
    """(plain value, units) of a parameter value; mappings become JSON text."""
    if isinstance(value, pint.Quantity):
        return np.asarray(value.magnitude), f"{value.units:~}" if not value.dimensionless else ""
    if isinstance(value, Mapping):
        return json.dumps(value, default=str), "json"
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, pint.Quantity) for v in value):
        unit = value[0].units
        return np.array([v.to(unit).magnitude for v in value]), f"{unit:~}"
    if isinstance(value, (list, tuple)) and any(isinstance(v, str) for v in value):
        return np.array([str(v) for v in value], dtype=_STR), ""
    if value is None:
        return "", "none"
    return value, ""


def _write_parameters(group: h5py.Group, parameters: Mapping[str, Any]) -> None:
    group.attrs["NX_class"] = "NXparameters"
    for key, value in parameters.items():
        data, units = _split_value(value)
        ds = group.create_dataset(key, data=data)
        ds.attrs["units"] = units


def _write_bench(group: h5py.Group, config: str, instruments: Mapping[str, Mapping[str, Any]]) -> None:
    group.attrs["NX_class"] = "NXinstrument"
    group.create_dataset("config", data=config, dtype=_STR)
    insts = group.create_group("instruments")
    for name, info in instruments.items():
        g = insts.create_group(name)
        g.attrs["NX_class"] = "NXcollection"
        for key in ("driver", "resource", "identity", "alias"):
            if info.get(key) is not None:
                g.attrs[key] = str(info[key])
        if info.get("error"):
            g.attrs["error"] = str(info["error"])
        g.create_dataset("settings", data=json.dumps(info.get("settings") or {}, default=str), dtype=_STR)


def _count_points(entry: h5py.Group) -> int:
    default = entry.attrs.get("default")
    if default in entry and isinstance(entry[default], h5py.Group):
        return _whole_points(entry, str(default))
    return 0


def _trim_to_committed(entry: h5py.Group) -> None:
    """Cut every growing dataset of a dead run to its whole, committed points (recovery)."""
    for key, group in entry.items():
        if isinstance(group, h5py.Group) and (group.attrs.get("NX_class") == "NXdata" or key == "events"):
            n = _whole_points(entry, key)
            for ds in group.values():
                if isinstance(ds, h5py.Dataset) and "qkdlab_fixed" not in ds.attrs and ds.shape[0] > n:
                    ds.resize(n, axis=0)


def _whole_points(entry: h5py.Group, group: str) -> int:
    """Points of a group that are complete on disk.

    The shortest growing dataset (a kill can fall between two datasets' appends), and no more
    than the committed counter: a dataset's new extent can reach the disk before its row does.
    """
    lengths = [ds.shape[0] for ds in entry[group].values()
               if isinstance(ds, h5py.Dataset) and "qkdlab_fixed" not in ds.attrs]
    n = min(lengths) if lengths else 0
    if "committed" in entry and group in entry["committed"] and entry.attrs.get("status") == "running":
        n = min(n, int(entry["committed"][group][0]))
    return n


# -- the writer ----------------------------------------------------------------------------------------
class RunWriter:
    """Appends points to one run (SWMR), records events, and writes the final status.

    Use as a context manager: leaving the block normally marks the run ``completed``, a
    ``KeyboardInterrupt`` marks it ``aborted`` and an exception ``failed`` (with the reason), and
    the exception propagates. Points already flushed are never rewritten.
    """

    def __init__(self, store: Store, handle: h5py.File, name: str, groups: Sequence[DataGroup],
                 flush: FlushPolicy, start_time: str) -> None:
        self.store = store
        self.name = name
        self.groups = {g.name: g for g in groups}
        self.flush_policy = flush
        self.start_time = start_time
        self._handle: h5py.File | None = handle
        self._entry = handle[name]
        self._lengths = {g.name: 0 for g in groups}
        self._events = self._entry["events"]
        self._committed = {key: ds for key, ds in self._entry["committed"].items()}
        self._datasets = {g.name: {spec.name: self._entry[g.name][spec.name] for spec in g.datasets} for g in groups}
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
        return self.store.path

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
                self._committed[group].id.write(h5py.h5s.ALL, h5py.h5s.ALL, np.array([length], dtype="i8"))
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
                               ("message", message)):
                ds = self._events[key]
                ds.resize(n + 1, axis=0)
                ds[n] = value
            self.flush()

    # finishing
    def finish(self, status: str, reason: str = "") -> None:
        """Close the SWMR session and write the final status, stop time and point count."""
        if status not in STATUSES or status == "running":
            raise ValueError(f"final status must be one of completed/aborted/failed, got {status!r}")
        if self._handle is None:
            return
        with delayed_keyboard_interrupt():
            try:
                self._handle.flush()
                self._handle.close()
            except OSError as exc:
                self._handle = None
                _raise_write_problem(self.path, exc, f"close run {self.name}")
            self._handle = None
            self.status, self.reason = status, reason
            try:
                with _h5open(self.path, "r+", libver="latest") as handle:
                    attrs = handle[self.name].attrs
                    attrs["stop_time"] = now_iso()
                    attrs["status_reason"] = reason
                    attrs["points"] = self._lengths[str(attrs["default"])]
                    attrs["status"] = status
            except OSError as exc:
                _raise_write_problem(self.path, exc, f"write the final status of run {self.name}")

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
            self.finish("aborted", "interrupted by the user (Ctrl-C)")
        else:
            self.finish("failed", f"{type(exc).__name__}: {exc}")


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


# -- reading -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSummary:
    """One line of ``qkdlab runs``."""

    name: str
    kind: str
    title: str
    start_time: str
    stop_time: str
    status: str
    reason: str
    points: int


def _summary(name: str, entry: h5py.Group) -> RunSummary:
    attrs = entry.attrs
    status, reason = str(attrs.get("status", "?")), str(attrs.get("status_reason", ""))
    points = int(attrs.get("points", 0))
    if status == "running":
        points = _count_points(entry)
        if not writer_alive(attrs):
            status, reason = "failed", _interrupted_reason(attrs)
    return RunSummary(name, str(attrs.get("kind", "?")), str(attrs.get("title", "")), str(attrs.get("start_time", "")),
                      str(attrs.get("stop_time", "")), status, reason, points)


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.dtype.kind in "OS":
        return [v.decode() if isinstance(v, bytes) else v for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _quantity(data: Any, units: str, *, plain_if_unitless: bool = False) -> Any:
    """A stored value back as a quantity; JSON, strings and booleans as themselves."""
    if units == "json":
        return json.loads(data)
    if units == "none":
        return None
    if isinstance(data, (str, list)) or (isinstance(data, np.ndarray) and data.dtype.kind in "OSU"):
        return data
    if isinstance(data, (bool, np.bool_)):
        return bool(data)
    if not units and plain_if_unitless:
        return data
    return Q_(data, units or "dimensionless")


@dataclass
class RunData:
    """One run as read back: metadata, parameters (quantities), bench record, data with units."""

    path: Path
    name: str
    summary: RunSummary
    attrs: dict[str, Any]
    parameters: dict[str, Any]
    bench_config: str
    instruments: dict[str, dict[str, Any]]
    groups: dict[str, dict[str, pint.Quantity | np.ndarray]]
    group_attrs: dict[str, dict[str, Any]]
    events: list[Event] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.summary.kind

    @property
    def status(self) -> str:
        return self.summary.status

    def data(self, group: str, name: str) -> Any:
        """A dataset as a pint quantity (strings stay arrays); a clear error if it is missing."""
        try:
            return self.groups[group][name]
        except KeyError:
            have = {g: sorted(v) for g, v in self.groups.items()}
            raise DataError(f"{self.path}: run {self.name} has no dataset {group}/{name}; it has {have}") from None

    def parameter(self, name: str) -> Any:
        try:
            return self.parameters[name]
        except KeyError:
            raise DataError(f"{self.path}: run {self.name} has no parameter {name!r}; "
                            f"parameters: {sorted(self.parameters)}") from None


def _read_run(path: Path, name: str, entry: h5py.Group) -> RunData:
    summary = _summary(name, entry)
    attrs = {k: _decode(v) for k, v in entry.attrs.items()}
    parameters = {}
    if "parameters" in entry:
        for key, ds in entry["parameters"].items():
            parameters[key] = _quantity(_decode(ds[()]), str(ds.attrs.get("units", "")), plain_if_unitless=True)
    bench = entry.get("bench")
    config = _decode(bench["config"][()]) if bench is not None and "config" in bench else ""
    instruments: dict[str, dict[str, Any]] = {}
    if bench is not None and "instruments" in bench:
        for key, g in bench["instruments"].items():
            info = {k: _decode(v) for k, v in g.attrs.items() if k != "NX_class"}
            info["settings"] = json.loads(_decode(g["settings"][()])) if "settings" in g else {}
            instruments[key] = info
    groups: dict[str, dict[str, Any]] = {}
    group_attrs: dict[str, dict[str, Any]] = {}
    for key, g in entry.items():
        if isinstance(g, h5py.Group) and g.attrs.get("NX_class") == "NXdata":
            n = _whole_points(entry, key)
            groups[key] = {dk: _quantity(_decode(ds[()] if "qkdlab_fixed" in ds.attrs else ds[:n]),
                                         str(ds.attrs.get("units", ""))) for dk, ds in g.items()}
            group_attrs[key] = {k: _decode(v) for k, v in g.attrs.items()}
    events = []
    if "events" in entry:
        ev = entry["events"]
        n = _whole_points(entry, "events")
        for i in range(n):
            events.append(Event(float(ev["time"][i]), int(ev["point"][i]), _decode(ev["level"][i]),
                                _decode(ev["message"][i])))
    return RunData(path, name, summary, attrs, parameters, config, instruments, groups, group_attrs, events)
