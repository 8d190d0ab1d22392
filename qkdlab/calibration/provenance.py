"""Provenance that pins a calibrated number to its data: file (absolute here; relative to the model
file once saved), the file's SHA-256, the runs by name and by the UUID written at their start."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from ..model import Provenance
from ..store import RunData

__all__ = ["run_provenance", "file_sha256"]


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (cached per path, size and modification time)."""
    path = Path(path).resolve()
    stat = path.stat()
    return _digest(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=32)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


def run_provenance(*runs: RunData, method: str) -> Provenance:
    """The provenance of a number made from ``runs`` (all in one file) with ``method``."""
    path = Path(runs[0].path).resolve()
    statuses = {run.status for run in runs}
    return Provenance(file=str(path), file_sha256=file_sha256(path), runs=tuple(run.name for run in runs),
                      run_uuids=tuple(str(run.attrs.get("run_uuid", "")) for run in runs if run.attrs.get("run_uuid")),
                      kind="+".join(dict.fromkeys(run.kind for run in runs)), method=method,
                      status=statuses.pop() if len(statuses) == 1 else "+".join(sorted(statuses)))
