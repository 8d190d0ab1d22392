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

The package is split by job: :mod:`.layout` (schema and declarations), :mod:`.files` (opening,
locks, liveness), :mod:`.writer` (``RunWriter``), :mod:`.reader` (``RunSummary``, ``RunData``) and
:mod:`.store` (the ``Store`` facade).
"""

from .files import open_reader, writer_alive
from .layout import SCHEMA_VERSION, STATUSES, STRING, DataGroup, DatasetSpec, Event, FlushPolicy, now_iso
from .reader import RunData, RunSummary
from .store import Store
from .writer import RunWriter

__all__ = [
    "SCHEMA_VERSION", "STATUSES", "STRING", "FlushPolicy", "DatasetSpec", "DataGroup", "Store", "RunWriter",
    "RunSummary", "RunData", "Event", "now_iso", "open_reader", "writer_alive",
]
