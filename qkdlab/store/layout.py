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

SCHEMA_VERSION = 1
STATUSES = ("running", "completed", "aborted", "failed")
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
