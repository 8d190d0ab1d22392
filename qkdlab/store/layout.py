"""The file layout of qkdlab runs: schema version, run statuses, declarations, and how a run's
parameters, bench record and data groups are laid out and counted (see the package docstring)."""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np
import pint

#: 2: the run's state (status, reason, end time, points) and NeXus start_time/end_time/title are
#: fields written through the writer's open SWMR handle; a run UUID. Version-1 files still read.
SCHEMA_VERSION = 2
STATUSES = ("running", "completed", "aborted", "failed")
#: Fixed-length UTF-8 text of the state fields (fixed length: SWMR writers cannot grow a heap).
_STATE_TEXT = {"status": 16, "status_reason": 4096, "start_time": 40, "end_time": 40}
#: dtype of text datasets (variable-length UTF-8).
STRING = h5py.string_dtype()
_STR = STRING


def now_iso() -> str:
    """The current time, ISO 8601 with the local zone offset (e.g. 2026-11-23T05:40:01.123+00:00)."""
    return _dt.datetime.now().astimezone().isoformat(timespec="milliseconds")


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
    name -> (values, units), written once; a growing dataset whose rows are traces is then
    plotted against (point, time).

    Every group also gets a ``point`` dataset (0, 1, 2, …, appended with the points): the
    HDF5 dimension scale of the growing dimension, so xarray and netCDF tools see named
    dimensions. ``axes`` are the physical coordinates of that dimension (e.g. the bias of a
    sweep); NeXus viewers plot against the first of them only when ``axes_sorted`` says the
    scan writes it in increasing order, and against ``point`` otherwise (an unsorted axis, or
    one that repeats per acquisition or detector, would draw zigzags).
    """

    name: str
    datasets: Sequence[DatasetSpec]
    signal: str
    axes: Sequence[str] = ()
    title: str = ""
    fixed: Mapping[str, tuple[Any, str]] = field(default_factory=dict)
    axes_sorted: bool = False

    def spec(self, name: str) -> DatasetSpec:
        for spec in self.datasets:
            if spec.name == name:
                return spec
        raise KeyError(name)


#: The index dataset (and dimension) of the growing dimension of every data group, and of events.
POINT = "point"
EVENT = "event"

@dataclass(frozen=True)
class Event:
    """Something that happened during a run (a reconnect, a gap, a warning)."""

    time_s: float
    point: int
    level: str
    message: str



_EVENT_SPECS = (DatasetSpec("time", "s", "time since the run started"),
                DatasetSpec("point", "", "point index when it happened", dtype="i8"),
                DatasetSpec("level", "", "log level", dtype=_STR),
                DatasetSpec("message", "", "what happened", dtype=_STR))


@dataclass(frozen=True)
class RunState:
    """Where a run stands: status, why, its start and end times (ISO 8601) and its points."""

    status: str
    reason: str
    start_time: str
    end_time: str
    points: int


def _text_field(entry: h5py.Group, name: str, value: str) -> h5py.Dataset:
    ds = entry.create_dataset(name, shape=(), dtype=h5py.string_dtype("utf-8", _STATE_TEXT[name]))
    ds[()] = _fit(value, _STATE_TEXT[name])
    return ds


def _fit(text: str, size: int) -> bytes:
    """UTF-8 bytes of ``text`` cut to ``size`` bytes without splitting a character."""
    return text.encode("utf-8")[:size].decode("utf-8", "ignore").encode("utf-8")


def _declare_state(entry: h5py.Group, start_time: str, title: str) -> None:
    """The run's state fields, created before SWMR starts so that finishing only writes data."""
    _text_field(entry, "start_time", start_time).attrs["NX_class"] = "NX_DATE_TIME"
    _text_field(entry, "end_time", "")
    _text_field(entry, "status", "running")
    _text_field(entry, "status_reason", "")
    entry.create_dataset("points", data=np.int64(0))
    entry.create_dataset("title", data=title, dtype=_STR)


def _write_state(entry: h5py.Group, *, status: str, reason: str, end_time: str, points: int) -> None:
    """Write the final state into the declared fields (allowed in SWMR mode: no new objects)."""
    for name, value in (("status_reason", reason), ("end_time", end_time), ("status", status)):
        ds = entry[name]
        ds[()] = _fit(value, _STATE_TEXT[name])
    entry["points"][()] = np.int64(points)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def read_state(entry: h5py.Group) -> RunState:
    """The stored state of a run (schema 2 fields, or the attributes of a schema-1 run).

    What is stored: a run whose writer died still says ``running`` here (see ``RunSummary``
    for the interpreted status).
    """
    if "status" in entry and isinstance(entry["status"], h5py.Dataset):
        if entry.file.mode == "r" and entry.file.swmr_mode:  # a live writer may have finished since
            for name in ("status", "status_reason", "end_time", "points"):
                entry[name].refresh()
        return RunState(_text(entry["status"][()]), _text(entry["status_reason"][()]),
                        _text(entry["start_time"][()]), _text(entry["end_time"][()]), int(entry["points"][()]))
    attrs = entry.attrs
    return RunState(str(attrs.get("status", "?")), str(attrs.get("status_reason", "")),
                    str(attrs.get("start_time", "")), str(attrs.get("stop_time", "")), int(attrs.get("points", 0)))


def run_title(entry: h5py.Group) -> str:
    """A run's title (a NeXus field since schema 2, an attribute before)."""
    if "title" in entry and isinstance(entry["title"], h5py.Dataset):
        return _text(entry["title"][()])
    return str(entry.attrs.get("title", ""))


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


def _index_scale(group: h5py.Group, name: str, long_name: str) -> h5py.Dataset:
    """A growing 0, 1, 2, … dataset made the dimension scale of the group's growing dimension."""
    ds = _declare_dataset(group, DatasetSpec(name, "", long_name, dtype="i8"))
    ds.attrs["qkdlab_index"] = 1
    ds.make_scale(name)
    return ds


def _attach_dimensions(group: h5py.Group, index: h5py.Dataset, names: Sequence[str]) -> None:
    """Attach the index to every growing dataset's first dimension, fixed axes (by length) to the rest.

    A row dimension that no fixed axis matches gets its own fixed index ``<dataset>_<k>``, so
    no dimension is left anonymous (xarray would call it ``phony_dim``).
    """
    fixed = {key: ds for key, ds in group.items() if "qkdlab_fixed" in ds.attrs}
    for key, ds in fixed.items():
        if ds.ndim == 1:
            ds.make_scale(key)
    for key in names:
        ds = group[key]
        ds.dims[0].attach_scale(index)
        for k, length in enumerate(ds.shape[1:], start=1):
            match = fixed.get(f"{key}_{k}")
            if match is None:
                match = next((f for f in fixed.values() if f.ndim == 1 and f.shape[0] == length), None)
            if match is None:
                match = group.create_dataset(f"{key}_{k}", data=np.arange(length))
                match.attrs.update({"units": "", "qkdlab_fixed": 1, "long_name": f"index {k} of {key}"})
                match.make_scale(f"{key}_{k}")
                fixed[f"{key}_{k}"] = match
            ds.dims[k].attach_scale(match)


def _reattach_dimensions(entry: h5py.Group) -> None:
    """Rebuild the dimension-scale links of a run copied into another file (recovery).

    HDF5's object copy keeps the references of ``DIMENSION_LIST`` pointing into the source file,
    so the links are dropped and made again by the rules that made them.
    """
    for group in entry.values():
        if not isinstance(group, h5py.Group):
            continue
        datasets = {key: ds for key, ds in group.items() if isinstance(ds, h5py.Dataset)}
        for ds in datasets.values():
            for attr in ("DIMENSION_LIST", "REFERENCE_LIST"):
                if attr in ds.attrs:
                    del ds.attrs[attr]
        index = next((ds for ds in datasets.values() if "qkdlab_index" in ds.attrs), None)
        if index is not None:
            growing = [key for key, ds in datasets.items() if not {"qkdlab_fixed", "qkdlab_index"} & set(ds.attrs)]
            index.make_scale(index.name.rsplit("/", 1)[-1])
            _attach_dimensions(group, index, growing)
        for key, scale in datasets.items():
            if "qkdlab_dimension" in scale.attrs:
                target, dim = key.rsplit("_dim", 1)
                scale.make_scale(key)
                datasets[target].dims[int(dim)].attach_scale(scale)


def _declare_group(entry: h5py.Group, group: DataGroup) -> None:
    g = entry.create_group(group.name)
    signal = group.spec(group.signal)
    physical = [axis for axis in group.axes if axis != "."]
    default_axis = physical[0] if physical and group.axes_sorted else POINT
    row_axes = [name for name, (values, _) in group.fixed.items() if np.ndim(values) == 1
                and len(signal.shape) == 1 and np.shape(values)[0] == signal.shape[0]]
    g.attrs.update({"NX_class": "NXdata", "signal": group.signal, "axes": [default_axis, *row_axes[:1]],
                    f"{POINT}_indices": 0})
    for axis in physical:
        g.attrs[f"{axis}_indices"] = 0
    for axis in row_axes:
        g.attrs[f"{axis}_indices"] = 1
    if group.title:
        g.attrs["title"] = group.title
    for spec in group.datasets:
        ds = _declare_dataset(g, spec)
        if spec.name != group.signal and spec.name not in physical:
            continue
        if spec.name == group.signal:
            ds.attrs["coordinates"] = " ".join(physical)  # netCDF/xarray: the physical axes are coordinates
            if len(spec.shape) == 1:
                ds.attrs["interpretation"] = "spectrum"  # a stack of traces, one per point
    for name, (values, units) in group.fixed.items():
        ds = g.create_dataset(name, data=np.asarray(values))
        ds.attrs.update({"units": units, "qkdlab_fixed": 1})
    index = _index_scale(g, POINT, "point index (order of acquisition)")
    _attach_dimensions(g, index, [spec.name for spec in group.datasets])


def _declare_events(entry: h5py.Group) -> None:
    events = entry.create_group("events")
    events.attrs["NX_class"] = "NXcollection"
    for spec in _EVENT_SPECS:
        _declare_dataset(events, spec)
    index = _index_scale(events, EVENT, "event index")
    _attach_dimensions(events, index, [spec.name for spec in _EVENT_SPECS])


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
        for k, length in enumerate(ds.shape):  # name every dimension of an array parameter
            scale = group.create_dataset(f"{key}_dim{k}", data=np.arange(length))
            scale.attrs["qkdlab_dimension"] = 1
            scale.make_scale(f"{key}_dim{k}")
            ds.dims[k].attach_scale(scale)


def _write_bench(group: h5py.Group, config: str, instruments: Mapping[str, Mapping[str, Any]]) -> None:
    group.attrs["NX_class"] = "NXinstrument"
    group.create_dataset("config", data=config, dtype=_STR)
    insts = group.create_group("instruments")
    insts.attrs["NX_class"] = "NXcollection"
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
        return whole_points(entry, str(default))
    return 0


def _trim_to_committed(entry: h5py.Group) -> None:
    """Cut every growing dataset of a dead run to its whole, committed points (recovery)."""
    for key, group in entry.items():
        if isinstance(group, h5py.Group) and (group.attrs.get("NX_class") == "NXdata" or key == "events"):
            n = whole_points(entry, key)
            for ds in group.values():
                if isinstance(ds, h5py.Dataset) and "qkdlab_fixed" not in ds.attrs and ds.shape[0] > n:
                    ds.resize(n, axis=0)


def whole_points(entry: h5py.Group, group: str) -> int:
    """Points of a group that are complete on disk.

    The shortest growing dataset (a kill can fall between two datasets' appends), and no more
    than the committed counter while the run is running: a dataset's new extent can reach the
    disk before its row does. The state is read *before* the data are refreshed: the writer
    flushes every point before it records the end, so a finished state read first guarantees
    that the data read after it are whole (the other order could miss the last points).
    """
    running = read_state(entry).status == "running"
    growing = [ds for ds in entry[group].values() if isinstance(ds, h5py.Dataset) and "qkdlab_fixed" not in ds.attrs]
    if entry.file.mode == "r" and entry.file.swmr_mode:  # a live writer: see its latest flush
        for ds in (*growing, *entry["committed"].values()) if "committed" in entry else growing:
            ds.refresh()
    lengths = [ds.shape[0] for ds in growing]
    n = min(lengths) if lengths else 0
    if running and "committed" in entry and group in entry["committed"]:
        n = min(n, committed_points(entry, group))
    return n


def committed_points(entry: h5py.Group, group: str) -> int:
    """The committed-points counter of a group (a scalar since schema 2, one element before)."""
    return int(np.asarray(entry["committed"][group][()]).reshape(-1)[0])
