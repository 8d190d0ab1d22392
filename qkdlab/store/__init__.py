"""HDF5 store: the file layout of qkdlab runs, a crash-safe appending writer, and a reader.

Layout (NeXus-style, readable with plain h5py, silx, nexusformat, HDFView or xarray)::

    /                                   NX_class=NXroot, qkdlab_schema_version, creator, default
    /run_0001                           NX_class=NXentry; attrs kind, run_uuid, qkdlab_version,
                                        writer_pid, writer_host, default
    /run_0001/title, start_time,        NeXus fields (ISO 8601 with zone); status
      end_time, status, status_reason,  (running|completed|aborted|failed) and its reason; points
      points
    /run_0001/parameters/<name>         scalar or array datasets, each with ``units``
    /run_0001/bench/config              the bench config (YAML text)
    /run_0001/bench/instruments/<name>  attrs: driver, resource, identity; dataset ``settings``
                                        (JSON of the instrument's settings snapshot)
    /run_0001/<group>/<dataset>         NX_class=NXdata groups (signal, axes); resizable,
                                        chunked datasets appended point by point, each with
                                        ``units`` and ``long_name``; ``point`` (0, 1, …) is the
                                        HDF5 dimension scale of the growing dimension
    /run_0001/events                    NXcollection: time (s since start), point, level, message
                                        (reconnects, gaps, warnings logged during the run)

Why SWMR: once the datasets of a run exist, the file is switched to single-writer/multiple-reader
mode. HDF5 then orders its metadata writes so that the file on disk is consistent after every
flush: a process killed with SIGKILL leaves a file that opens (read-only, ``swmr=True``) with
every flushed point, and a live reader (``qkdlab.live``) can follow the run while it is written.
SWMR forbids creating objects or attributes, so everything a run will hold is declared up
front (:class:`DataGroup`), including the state fields: the final status is written through
the writer's own handle, so a reader that keeps the file open cannot keep a finished run from
being recorded as finished.

A file left by a killed writer still carries HDF5's "open for writing" flags. Readers open it
anyway (``swmr=True``); ``Store.recover`` (``qkdlab runs FILE --repair``, and the next run
written to the file) copies every object into a fresh file next to it, marks the dead run
``failed`` with the reason, and atomically replaces the original (so a crash during recovery
harms nothing); plain h5py, xarray and NeXus readers then open it too.

The package is split by job: :mod:`.layout` (schema and declarations), :mod:`.files` (opening,
locks, liveness), :mod:`.writer` (``RunWriter``), :mod:`.reader` (``RunSummary``, ``RunData``) and
:mod:`.store` (the ``Store`` facade).
"""

from .files import open_reader, writer_alive
from .layout import (SCHEMA_VERSION, STATUSES, STRING, DataGroup, DatasetSpec, Event, FlushPolicy, RunState, now_iso,
                     read_state, whole_points)
from .labelled import open_run
from .reader import RunData, RunSummary
from .store import Store
from .writer import RunWriter

__all__ = [
    "SCHEMA_VERSION", "STATUSES", "STRING", "FlushPolicy", "DatasetSpec", "DataGroup", "Store", "RunWriter",
    "RunSummary", "RunData", "RunState", "Event", "now_iso", "open_reader", "read_state", "whole_points",
    "writer_alive", "open_run",
]
