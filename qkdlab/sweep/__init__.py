"""Design studies: key rates over parameter grids, optimised per point, on dask, into resumable HDF5.

``load_spec`` reads a sweep spec (YAML); ``run_sweep`` computes every missing point of it into a
study file, on a ``dask.distributed`` cluster (a ``LocalCluster`` unless a scheduler address is
given); ``open_study`` reads a study back (``xarray.open_dataset(path, engine="h5netcdf")``
reads it too). See the README section "Design study in five minutes".
"""

from importlib import import_module
from typing import Any

_EXPORTS = {"SweepSpec": "spec", "load_spec": "spec", "parse_spec": "spec", "run_sweep": "run",
            "SweepSummary": "run", "open_study": "study", "read_spec": "study", "StudyFile": "study",
            "study_kind": "study"}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
