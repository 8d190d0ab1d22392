"""``Store``: one HDF5 file of runs — create runs, recover a dead writer's file, list and read runs."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .. import __version__
from ..errors import DataError
from .files import _check_schema, _h5open, _interrupted_reason, _open_read, _raise_write_problem, _reading, writer_alive
from .layout import (SCHEMA_VERSION, DataGroup, FlushPolicy, _count_points, _declare_events, _declare_group,
                     _declare_state, _reattach_dimensions, _trim_to_committed, _write_bench, _write_parameters, _write_state, now_iso,
                     read_state)
from .reader import RunData, RunSummary, _read_run, _summary
from .writer import RunWriter

log = logging.getLogger(__name__)

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
                    "NX_class": "NXentry", "kind": kind, "qkdlab_version": __version__, "run_uuid": str(uuid.uuid4()),
                    "writer_pid": os.getpid(), "writer_host": socket.gethostname(),
                    "default": default or groups[0].name})
                _declare_state(entry, start, title or kind)
                _write_parameters(entry.create_group("parameters"), parameters or {})
                _write_bench(entry.create_group("bench"), bench_config, instruments or {})
                for group in groups:
                    _declare_group(entry, group)
                _declare_events(entry)
                committed = entry.create_group("committed")
                committed.attrs.update({"NX_class": "NXcollection", "description": (
                    "points of each group known to be on disk: written after a flush, so a reader of "
                    "a file whose writer was killed never takes a row whose data had not arrived")})
                for group_name in [g.name for g in groups] + ["events"]:
                    committed.create_dataset(group_name, data=np.int64(0))
                handle.attrs["default"] = name
                handle.attrs["qkdlab_schema_version"] = SCHEMA_VERSION  # a schema-1 file now holds a v2 run
                handle.flush()
                handle.swmr_mode = True
            except OSError as exc:
                _raise_write_problem(self.path, exc, "create a new run")
        except BaseException:
            handle.close()
            raise
        return RunWriter(self.path, handle, name, groups, flush or FlushPolicy(), start)

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
                if read_state(entry).status == "running":
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
                        if isinstance(dst[name], h5py.Group):
                            _reattach_dimensions(dst[name])
                    for name in marked:
                        _trim_to_committed(dst[name])
                        _mark_failed(dst[name], _interrupted_reason(dst[name].attrs))
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

    def needs_repair(self) -> bool:
        """Whether the file still carries a dead writer's "open for writing" flags.

        Such a file opens only with ``swmr=True``; plain h5py, xarray and NeXus readers refuse
        it until it is repaired (:meth:`recover`).
        """
        with _reading(self.path):  # missing, foreign or damaged files: the usual clear errors
            pass
        try:
            with h5py.File(self.path, "r"):
                return False
        except OSError as exc:
            if "already open for write" in str(exc) or "file is already open" in str(exc):
                return True
            raise DataError(f"{self.path}: cannot be opened ({exc})") from None

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


def _mark_failed(entry: h5py.Group, reason: str) -> None:
    """Record a dead writer's run as failed (in a recovery copy, outside SWMR)."""
    points = _count_points(entry)
    if "status" in entry and isinstance(entry["status"], h5py.Dataset):
        _write_state(entry, status="failed", reason=reason, end_time="", points=points)
    else:  # a schema-1 run keeps its state in attributes
        entry.attrs.update({"points": points, "status_reason": reason, "status": "failed"})
