"""QKD-link runs in the HDF5 store: a recorder, a reader, and a follower of a run being written.

A ``qkd-link`` run has one data group ``blocks``; each point is one block of counts:
``emissions`` (groups × settings × intensities, pulses), ``counts`` (groups × settings ×
intensities × Bob bases × 2 outcomes) and ``elapsed`` (s since the run started). The run's
parameters say how to read them: protocol, settings, source, intensities, Bob's bases and
their probabilities, Alice's design probabilities, the repetition rate and the distance.

The follower opens the file read-only in SWMR mode and takes only rows the writer has committed
(the store's ``committed/blocks`` counter is written after each flush), so it never reads a
half-written block; it stops when the run is no longer ``running`` and every row was read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np

from ..errors import DataError
from ..model import Observations, nested_tuples
from ..store import DataGroup, DatasetSpec, RunWriter, Store, open_reader, read_state, whole_points, writer_alive
from .link import Block

__all__ = ["KIND", "LinkRecorder", "read_link_run", "follow_link_run"]

KIND = "qkd-link"


class LinkRecorder:
    """Writes blocks into a new ``qkd-link`` run (flushed per block); use as a context manager."""

    def __init__(self, path: str | Path, first: Block) -> None:
        self.template = first[0]
        groups, (n_set, n_int), n_bases = len(first), np.shape(first[0].emissions), len(first[0].bob_bases)
        data = DataGroup("blocks", [
            DatasetSpec("emissions", "pulses", "pulses per group, setting and intensity", "f8", (groups, n_set, n_int)),
            DatasetSpec("counts", "counts", "detections per group, setting, intensity, Bob basis and outcome", "f8",
                        (groups, n_set, n_int, n_bases, 2)),
            DatasetSpec("elapsed", "s", "time since the run started")], signal="counts", axes=["elapsed"],
            title="QKD link counts")
        t = self.template
        parameters = {"protocol": t.protocol, "settings": list(t.settings), "source": t.source,
                      "intensities": json.dumps(list(t.intensities)), "bob_bases": list(t.bob_bases),
                      "bob_basis_probabilities": json.dumps(list(t.bob_basis_probabilities)),
                      "setting_probabilities": json.dumps(t.setting_probabilities),
                      "repetition_rate_hz": float(t.repetition_rate_hz or 0.0),
                      "distance_km": float(t.distance_km if t.distance_km is not None else np.nan),
                      "groups": groups}
        self.start = time.monotonic()
        self.writer: RunWriter = Store(path).new_run(KIND, [data], parameters=parameters, title="QKD link counts")
        self.append(first)

    def append(self, block: Block) -> None:
        self.writer.append("blocks", emissions=np.array([g.emission_array for g in block]),
                           counts=np.array([g.count_array for g in block]), elapsed=time.monotonic() - self.start)

    def __enter__(self) -> LinkRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.writer.__exit__(*exc)  # type: ignore[arg-type]


def _template(entry: h5py.Group, path: Path) -> dict:
    try:
        p = entry["parameters"]

        def text(key: str) -> str:
            value = p[key][()]
            return value.decode() if isinstance(value, bytes) else str(value)

        def strings(key: str) -> tuple[str, ...]:
            return tuple(v.decode() if isinstance(v, bytes) else str(v) for v in p[key][()])

        design = json.loads(text("setting_probabilities"))
        return dict(protocol=text("protocol"), settings=strings("settings"), source=text("source"),
                    intensities=tuple(json.loads(text("intensities"))), bob_bases=strings("bob_bases"),
                    bob_basis_probabilities=tuple(json.loads(text("bob_basis_probabilities"))),
                    setting_probabilities=None if design is None else nested_tuples(np.asarray(design)),
                    repetition_rate_hz=float(p["repetition_rate_hz"][()]) or None,
                    distance_km=None if np.isnan(p["distance_km"][()]) else float(p["distance_km"][()]))
    except (KeyError, ValueError, TypeError) as exc:
        raise DataError(f"{path}: run {entry.name.strip('/')} is not a readable qkd-link run ({exc})") from None


def _block(template: dict, emissions: np.ndarray, counts: np.ndarray) -> Block:
    return tuple(Observations(**template, emissions=nested_tuples(e), counts=nested_tuples(c),
                              origin="qkd-link run") for e, c in zip(emissions, counts))


def _entry(handle: h5py.File, path: Path, run: str | int | None) -> h5py.Group:
    names = [k for k in handle if k.startswith("run_") and handle[k].attrs.get("kind") == KIND]
    if not names:
        raise DataError(f"{path}: no qkd-link run in this file")
    if run is None:
        return handle[sorted(names)[-1]]
    name = run if isinstance(run, str) and run.startswith("run_") else f"run_{int(run):04d}"
    if name not in names:
        raise DataError(f"{path}: no qkd-link run {name}; qkd-link runs: {sorted(names)}")
    return handle[name]


def read_link_run(path: str | Path, run: str | int | None = None) -> list[Block]:
    """Every committed block of a qkd-link run (the newest one if ``run`` is None)."""
    path = Path(path)
    with open_reader(path) as handle:
        entry = _entry(handle, path, run)
        template = _template(entry, path)
        rows = _committed(entry)
        group = entry["blocks"]
        return [_block(template, e, c) for e, c in zip(group["emissions"][:rows], group["counts"][:rows])]


def _committed(entry: h5py.Group) -> int:
    return whole_points(entry, "blocks")


def follow_link_run(path: str | Path, run: str | int | None = None, *, poll_s: float = 0.2) -> Iterator[Block]:
    """Blocks of a qkd-link run as the writer commits them (SWMR), until the run ends.

    The file is opened for each poll and closed in between, so the writer can take the lock it
    needs to record the run's final status. A run left ``running`` by a writer that died ends the
    follow as well (its last estimate then shows as stale).
    """
    path = Path(path)
    done, name = 0, None
    while True:
        with open_reader(path) as handle:
            entry = _entry(handle, path, run if name is None else name)
            name = entry.name.strip("/")
            template = _template(entry, path)
            # the state before the rows: a run seen finished here has all its rows on disk below
            running = read_state(entry).status == "running" and writer_alive(entry.attrs)
            rows = _committed(entry)
            group = entry["blocks"]
            fresh = [_block(template, e, c) for e, c in zip(group["emissions"][done:rows], group["counts"][done:rows])]
        yield from fresh
        done = rows
        if fresh:
            continue
        if not running:
            return
        time.sleep(poll_s)
