"""A run's data group as an ``xarray.Dataset``: named dimensions, coordinates and units.

Why through qkdlab's reader rather than ``xarray.open_dataset(..., engine="h5netcdf")``: it works
on every file qkdlab can read — a run still being written (SWMR), a dead writer's file before
repair, schema-1 files — and takes only whole, committed points. The result is the same labelled
array the h5netcdf engine gives for a finished file (the layout's dimension scales make that
path work too).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from .layout import POINT
from .store import Store

__all__ = ["open_run"]


def open_run(path: str | Path, run: str | int, group: str | None = None) -> Any:
    """The data group ``group`` (default: the run's default plot) of ``run`` as an ``xarray.Dataset``.

    Growing datasets share the dimension ``point``; the group's axes (e.g. ``bias``) are
    coordinates along it and fixed axes (e.g. the ``time`` of scope traces) are dimensions of
    their own. Every variable carries ``units`` (pint-parseable; "" for counts and labels) and
    ``long_name``; the run's metadata are the dataset's attributes.
    """
    import xarray as xr

    data = Store(path).read(run)
    name = group or str(data.attrs.get("default", ""))
    if name not in data.groups:
        raise DataError(f"{data.path}: run {data.name} has no data group {name!r}; groups: {sorted(data.groups)}")
    values = data.groups[name]
    attrs = data.group_attrs[name]
    fixed = {key: np.asarray(_magnitude(values[key])) for key in data.fixed.get(name, set())}
    axes = [a for a in np.atleast_1d(attrs.get("axes", [])).tolist() if a not in (".", POINT)]
    variables: dict[str, Any] = {}
    coords: dict[str, Any] = {key: ((key,) if v.ndim == 1 else (), v, _units(values[key])) for key, v in fixed.items()}
    for key, value in values.items():
        if key in fixed or key == POINT:
            continue
        array = np.asarray(_magnitude(value))
        dims = [POINT]
        for length in array.shape[1:]:
            dims.append(next((f for f, v in fixed.items() if v.ndim == 1 and v.shape[0] == length),
                             f"{key}_{len(dims)}"))
        entry = (dims, array, _units(value))
        if key in axes or key in attrs.get("coordinates", "").split():
            coords[key] = entry
        else:
            variables[key] = entry
    n = next((np.shape(v[1])[0] for v in variables.values()), 0)
    coords[POINT] = (POINT, np.arange(n), {"long_name": "point index (order of acquisition)"})
    dataset = xr.Dataset({k: (d, a, u) for k, (d, a, u) in variables.items()},
                         coords={k: (d, a, u) for k, (d, a, u) in coords.items()})
    dataset.attrs.update({"run": data.name, "kind": data.kind, "status": data.status, "group": name,
                          "start_time": data.summary.start_time, "end_time": data.summary.stop_time,
                          "file": str(data.path)})
    return dataset


def _magnitude(value: Any) -> Any:
    return getattr(value, "magnitude", value)


def _units(value: Any) -> dict[str, str]:
    units = getattr(value, "units", None)
    return {"units": f"{units:~}" if units is not None and str(units) != "dimensionless" else ""}
