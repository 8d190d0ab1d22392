"""Study files: one HDF5 file per sweep, labelled like netCDF, written point by point, resumable.

Layout (netCDF-4 conventions written with h5netcdf, so ``xarray.open_dataset(path,
engine="h5netcdf")`` gives labelled arrays; NeXus-style attributes for the rest)::

    /                         qkdlab_kind = "sweep-study", qkdlab_schema_version, spec (canonical
                              JSON), spec_digest, versions (JSON), created, title, optimiser
    /<axis>                   one coordinate variable (an HDF5 dimension scale) per sweep axis
    /<quantity>               key_rate_per_pulse, key_rate_bps, phase_error, ... over all axes, with
                              ``units`` and ``long_name``; NaN where not computed
    /status                   0 missing, 1 done, 2 failed (flag_values / flag_meanings)
    /failure_reason           why a point failed (empty otherwise)
    /solver, /certified,      the solver report of each point: "SOLVER: status (message)", whether
    /conservative             the bound is certified, whether the conservative fallback was used
    /method_used              the method whose bound is stored (for method "best": the winner)
    /computed                 how many times the point's result was written (1 when done once)
    /optimal_<param>, /start_key_rate_per_pulse, /optimiser_iterations, /optimiser_evaluations,
    /optimiser_converged      with ``optimise:``: the optimum, the rate at the start values, and how

Why it survives a SIGKILL: every object exists before the first result (SWMR allows no new
objects), the file is then written in SWMR mode, and each batch is written in two flushed steps —
first the values, then ``status`` — so a point marked done always has its values on disk. A file
left by a killed writer still carries HDF5's "open for writing" flags; resuming rebuilds it from
what is marked done (fresh layout, copy of the arrays, atomic replace), so nothing is mixed.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import ConfigError, DataError
from .evaluate import OPTIMISER, QUANTITIES, PointResult
from .parameters import DEFAULTS
from .spec import SweepSpec, parse_spec

__all__ = ["STUDY_KIND", "StudyFile", "open_study", "read_spec", "study_kind", "MISSING", "DONE", "FAILED"]

STUDY_KIND = "sweep-study"
SCHEMA_VERSION = 1
MISSING, DONE, FAILED = 0, 1, 2
_STR = h5py.string_dtype()

#: Units of the parameters that can be axes (for the coordinate variables and plot labels).
AXIS_UNITS = {"distance": "km", "fiber_loss": "dB/km", "delta": "rad", "rep_rate": "Hz", "finite": "pulses",
              "signal": "photons/pulse", "decoy": "photons/pulse"}

#: Packages whose versions decide the numbers (a resume with other versions would mix results).
_VERSIONED = ("qkdlab", "numpy", "scipy", "cvxpy", "clarabel", "scs", "highspy")


def versions() -> dict[str, str]:
    found = {}
    for name in _VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


@dataclass(frozen=True)
class _Var:
    name: str
    dtype: Any
    fill: Any
    attrs: dict[str, Any]


def _variables(spec: SweepSpec) -> list[_Var]:
    out = [_Var(name, "f8", np.nan, {"units": units, "long_name": long}) for name, units, long in QUANTITIES]
    out += [
        _Var("status", "i1", MISSING, {"flag_values": np.array([MISSING, DONE, FAILED], "i1"),
                                       "flag_meanings": "missing done failed", "long_name": "point status"}),
        _Var("computed", "i4", 0, {"long_name": "times this point's result was written"}),
        _Var("certified", "i1", 0, {"long_name": "bound certified (solver certificate, no fallback)"}),
        _Var("conservative", "i1", 0, {"long_name": "conservative fallback used (no key claimed)"}),
        _Var("solver", str, "", {"long_name": "solver: status (message)"}),
        _Var("method_used", str, "", {"long_name": "the method whose bound is stored (the winner for 'best')"}),
        _Var("failure_reason", str, "", {"long_name": "why the point failed"}),
    ]
    if spec.optimise is not None:
        out += [_Var(f"optimal_{name}", "f8", np.nan, {"long_name": f"optimised {name}", "lower_bound": low,
                                                       "upper_bound": high,
                                                       "units": AXIS_UNITS.get(name, "")})
                for name, (low, high) in spec.optimise.parameters.items()]
        out += [
            _Var("start_key_rate_per_pulse", "f8", np.nan, {"units": "bit/pulse", "long_name": (
                "key rate at the start values of the optimised parameters")}),
            _Var("optimiser_iterations", "i4", 0, {"long_name": "Powell iterations"}),
            _Var("optimiser_evaluations", "i4", 0, {"long_name": "key-rate evaluations"}),
            _Var("optimiser_converged", "i1", 0, {"long_name": "optimiser reported convergence"}),
        ]
    return out


def _axis_values(values: list[Any]) -> np.ndarray:
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return np.asarray(values, "f8")
    return np.asarray([str(v) for v in values], dtype=object)


def _create(path: Path, spec: SweepSpec, created: str, version_info: dict[str, str]) -> None:
    """Write the complete, empty layout (every object a sweep will touch) with h5netcdf."""
    import h5netcdf

    with h5netcdf.File(path, "w", libver="latest") as f:
        f.attrs.update({"qkdlab_kind": STUDY_KIND, "qkdlab_schema_version": SCHEMA_VERSION, "title": spec.name,
                        "spec": spec.canonical(), "spec_digest": spec.digest(), "versions": json.dumps(version_info),
                        "created": created, "protocol": spec.protocol,
                        "optimiser": OPTIMISER if spec.optimise else "",
                        "defaults": json.dumps({k: v for k, v in DEFAULTS.items() if k not in spec.axes})})
        dims = tuple(spec.axes)
        f.dimensions = {name: len(values) for name, values in spec.axes.items()}
        for name, values in spec.axes.items():
            data = _axis_values(values)
            var = f.create_variable(name, (name,), dtype=_STR if data.dtype == object else "f8", data=data)
            var.attrs.update({"units": AXIS_UNITS.get(name, ""), "long_name": name})
        chunks = _chunks(spec.shape)
        for v in _variables(spec):
            var = f.create_variable(v.name, dims, dtype=_STR if v.dtype is str else v.dtype, chunks=chunks,
                                    fillvalue=v.fill if v.dtype == "f8" else None)
            var.attrs.update(v.attrs)


def _chunks(shape: tuple[int, ...]) -> tuple[int, ...]:
    """HDF5 chunks of whole trailing rows, about 64 kB of doubles: one batch touches few chunks."""
    out, budget = [], 8192
    for n in reversed(shape):
        take = max(1, min(n, budget))
        out.append(take)
        budget = max(1, budget // take)
    return tuple(reversed(out))


def _open_existing(path: Path) -> h5py.File | None:
    """The study for writing, or None when a killed writer left it flagged open (it needs a rebuild)."""
    try:
        return h5py.File(path, "r+", libver="latest")
    except OSError as exc:
        if "already open for write" in str(exc) or "file is already open" in str(exc):
            return None
        raise DataError(f"{path}: cannot open the study for writing ({exc})") from None


def _read_any(path: Path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        if "already open for write" not in str(exc):
            raise DataError(f"{path}: cannot read the study ({exc})") from None
    return h5py.File(path, "r", swmr=True)


def _check_kind(path: Path, handle: h5py.File) -> None:
    if handle.attrs.get("qkdlab_kind") != STUDY_KIND:
        raise DataError(f"{path}: not a qkdlab sweep study (no qkdlab_kind = {STUDY_KIND!r}); choose another --out")
    version = int(np.ravel(handle.attrs.get("qkdlab_schema_version", 0))[0])
    if version > SCHEMA_VERSION:
        raise DataError(f"{path}: written by a newer qkdlab (study schema {version}); upgrade qkdlab to resume or "
                        "read it")


def _spec_differences(stored: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    keys = sorted(set(stored) | set(new))
    out = []
    for key in keys:
        a, b = stored.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _spec_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}")
    return out


class StudyFile:
    """The writer of one study: in-memory copies of every array, written back in flushed batches.

    Why in memory: a batch of points is scattered over the grid; writing the box that holds them
    from a memory copy is one HDF5 call per variable instead of one per point and variable.
    """

    def __init__(self, path: Path, handle: h5py.File, spec: SweepSpec) -> None:
        self.path, self.handle, self.spec = path, handle, spec
        self.names = [v.name for v in _variables(spec)]
        self.data = {name: handle[name][...].reshape(-1) for name in self.names}
        for name in ("solver", "method_used", "failure_reason"):
            self.data[name] = np.array([x.decode() if isinstance(x, bytes) else x for x in self.data[name]],
                                       dtype=object)
        self.handle.swmr_mode = True

    # opening
    @classmethod
    def open(cls, path: str | os.PathLike[str], spec: SweepSpec) -> StudyFile:
        """Create the study, or reopen it to resume: same spec and versions, or a clear refusal."""
        path = Path(path)
        if not path.exists():
            if not path.parent.is_dir():
                raise DataError(f"{path}: the directory {path.parent} does not exist")
            _create(path, spec, _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), versions())
        else:
            cls._check_same(path, spec)
        handle = _open_existing(path)
        if handle is None:
            _rebuild(path, spec)
            handle = _open_existing(path)
            if handle is None:
                raise DataError(f"{path}: still flagged as open for writing after the rebuild; "
                                "is another qkdlab sweep writing it?")
        try:
            return cls(path, handle, spec)
        except BaseException:
            handle.close()
            raise

    @staticmethod
    def _check_same(path: Path, spec: SweepSpec) -> None:
        with _read_any(path) as handle:
            _check_kind(path, handle)
            stored_spec = str(handle.attrs["spec"])
            stored_versions = json.loads(handle.attrs["versions"])
        if stored_spec != spec.canonical():
            changed = _spec_differences(json.loads(stored_spec), json.loads(spec.canonical()))
            raise ConfigError(f"{path} was computed from a different spec (changed: {', '.join(changed)}); "
                              "resume with the original spec, or write the new study to another --out file")
        now = versions()
        moved = [f"{k} {stored_versions.get(k)} → {now.get(k)}" for k in sorted(set(stored_versions) | set(now))
                 if stored_versions.get(k) != now.get(k)]
        if moved:
            raise ConfigError(f"{path} was computed with other package versions ({'; '.join(moved)}); results "
                              "would mix: finish it with the original versions or start a new --out file")

    # state
    @property
    def status(self) -> np.ndarray:
        return self.data["status"]

    def missing(self) -> np.ndarray:
        """Flat indices of the points still to compute (failed points are kept: their reason is the result)."""
        return np.flatnonzero(self.status == MISSING)

    # writing
    def write(self, results: list[PointResult]) -> None:
        """Record a batch: values first (flushed), then their status (flushed)."""
        if not results:
            return
        for r in results:
            i = r.index
            self.data["computed"][i] += 1
            if not r.ok:
                self.data["failure_reason"][i] = r.reason
                continue
            for name, value in r.values.items():
                self.data[name][i] = value
            self.data["solver"][i] = r.solver
            self.data["method_used"][i] = r.method_used
            self.data["certified"][i] = r.certified
            self.data["conservative"][i] = r.conservative
            if self.spec.optimise is not None:
                for name, value in r.optimum.items():
                    self.data[f"optimal_{name}"][i] = value
                self.data["start_key_rate_per_pulse"][i] = r.start_rate
                self.data["optimiser_iterations"][i] = r.iterations
                self.data["optimiser_evaluations"][i] = r.evaluations
                self.data["optimiser_converged"][i] = r.converged
        coords = np.unravel_index([r.index for r in results], self.spec.shape)
        box = tuple(slice(int(c.min()), int(c.max()) + 1) for c in coords)
        for name in self.names:
            if name != "status":
                self._write_box(name, box)
        self.handle.flush()
        for r in results:
            self.status[r.index] = DONE if r.ok else FAILED
        self._write_box("status", box)
        self.handle.flush()

    def _write_box(self, name: str, box: tuple[slice, ...]) -> None:
        """Write the smallest box of the grid holding the batch: one hyperslab per variable.

        A chunk of consecutive points of one source (the order :class:`~qkdlab.sweep.run.Chunker`
        hands them out in) is a few lines of the innermost axes, not whole rows of the first one.
        """
        self.handle[name][box] = self.data[name].reshape(self.spec.shape)[box]

    def close(self) -> None:
        if self.handle.id.valid:
            self.handle.close()

    def __enter__(self) -> StudyFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _rebuild(path: Path, spec: SweepSpec) -> None:
    """Rewrite a study whose writer was killed: a fresh layout with every point marked done or failed."""
    with _read_any(path) as old:
        created = str(old.attrs["created"])
        stored_versions = json.loads(old.attrs["versions"])
        arrays = {v.name: old[v.name][...] for v in _variables(spec)}
    keep = arrays["status"] != MISSING
    tmp = path.with_name(path.name + ".rebuild")
    tmp.unlink(missing_ok=True)
    _create(tmp, spec, created, stored_versions)
    with h5py.File(tmp, "r+") as new:
        for v in _variables(spec):
            data = arrays[v.name]
            if v.name != "status":
                fill = np.full_like(data, v.fill) if v.dtype is not str else np.full(data.shape, "", dtype=object)
                data = np.where(keep, data, fill)
            new[v.name][...] = data
    os.replace(tmp, path)


def read_spec(path: str | os.PathLike[str]) -> SweepSpec:
    """The spec a study was computed from."""
    path = Path(path)
    with _read_any(path) as handle:
        _check_kind(path, handle)
        return parse_spec(json.loads(handle.attrs["spec"]), f"{path}:spec")


def study_kind(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a sweep study (the ``plot`` command dispatches on it)."""
    try:
        with _read_any(Path(path)) as handle:
            return handle.attrs.get("qkdlab_kind") == STUDY_KIND
    except (OSError, DataError):
        return False


def open_study(path: str | os.PathLike[str]) -> Any:
    """The study as an ``xarray.Dataset`` (labelled by the sweep axes), loaded into memory."""
    import xarray as xr

    path = Path(path)
    with _read_any(path) as handle:
        _check_kind(path, handle)
    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            return ds.load()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the study with xarray ({exc}); if a sweep was killed while "
                        "writing it, run the same qkdlab sweep again to resume (which repairs the file)") from None
