"""Reading runs back: summaries and whole runs with units (``RunSummary``, ``RunData``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pint

from ..errors import DataError
from ..units import Q_
from .files import _interrupted_reason, writer_alive
from .layout import Event, _count_points, read_state, run_title, whole_points


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
    state = read_state(entry)
    status, reason, points = state.status, state.reason, state.points
    if status == "running":
        points = _count_points(entry)
        if not writer_alive(attrs):
            status, reason = "failed", _interrupted_reason(attrs)
    return RunSummary(name, str(attrs.get("kind", "?")), run_title(entry), state.start_time, state.end_time, status,
                      reason, points)


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
    #: Per data group, the datasets written once before the points (axes such as a trace's time).
    fixed: dict[str, set[str]] = field(default_factory=dict)

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
            if "qkdlab_dimension" in ds.attrs:
                continue
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
    fixed: dict[str, set[str]] = {}
    for key, g in entry.items():
        if isinstance(g, h5py.Group) and g.attrs.get("NX_class") == "NXdata":
            n = whole_points(entry, key)
            groups[key] = {dk: _quantity(_decode(ds[()] if "qkdlab_fixed" in ds.attrs else ds[:n]),
                                         str(ds.attrs.get("units", ""))) for dk, ds in g.items()}
            group_attrs[key] = {k: _decode(v) for k, v in g.attrs.items()}
            fixed[key] = {dk for dk, ds in g.items() if "qkdlab_fixed" in ds.attrs}
    events = []
    if "events" in entry:
        ev = entry["events"]
        n = whole_points(entry, "events")
        for i in range(n):
            events.append(Event(float(ev["time"][i]), int(ev["point"][i]), _decode(ev["level"][i]),
                                _decode(ev["message"][i])))
    return RunData(path, name, summary, attrs, parameters, config, instruments, groups, group_attrs, events, fixed)
