"""Opening run files safely: lock waits, clear errors, schema checks, writer liveness, free space."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import resource
import socket
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py

from ..errors import DataError
from .layout import SCHEMA_VERSION

log = logging.getLogger(__name__)

def _h5_problem(path: Path, exc: OSError) -> str:
    """Say in words why HDF5 could not open ``path``."""
    text = str(exc)
    if not path.exists():
        return "no such file"
    if path.is_dir():
        return "it is a directory"
    if path.stat().st_size == 0:
        return "the file is empty"
    with open(path, "rb") as handle:
        if handle.read(8) != b"\x89HDF\r\n\x1a\n":
            return "not an HDF5 file"
    if "truncated" in text or "eof" in text.lower():
        return "the file is truncated (an incomplete copy or a disk that filled up)"
    if "already open for write" in text:
        return "another process has it open for writing (or died while writing it)"
    if "ermission" in text:
        return "permission denied"
    return f"HDF5 cannot read it ({text})"


def _h5open(path: Path, mode: str, **kwargs: Any) -> h5py.File:
    """``h5py.File``, retried for a few seconds while another process holds the file's lock.

    Why: a reader (``qkdlab runs``, a live follower) holds a shared lock for the moment it
    reads; a writer that starts or finishes a run at that moment must wait, not fail.
    """
    deadline = time.monotonic() + _LOCK_WAIT_S
    while True:
        try:
            return h5py.File(path, mode, **kwargs)
        except OSError as exc:
            # HDF5's own words for a lock held elsewhere; a bare "lock" would also match the
            # "sblock" of a truncated file's message and make it wait 10 s for nothing
            if "unable to lock file" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


#: How long opening a file waits for another process's lock to go away.
_LOCK_WAIT_S = 10.0


def _open_read(path: Path) -> h5py.File:
    """Open for reading; in SWMR read mode when a writer is live or died while writing.

    A plain open first, because only it checks the file against its recorded end (a truncated
    copy); a file still flagged as open for writing is then opened in SWMR read mode.
    """
    try:
        return _h5open(path, "r")
    except OSError as exc:
        if "already open for write" not in str(exc):
            raise DataError(f"{path}: cannot open: {_h5_problem(path, exc)}") from None
    try:
        return _h5open(path, "r", swmr=True)
    except OSError as exc:
        raise DataError(f"{path}: cannot open: {_h5_problem(path, exc)}") from None


def open_reader(path: str | os.PathLike[str]) -> h5py.File:
    """A store file opened for reading, in SWMR mode while a writer is live (for followers)."""
    return _open_read(Path(path))


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[h5py.File]:
    """An open, schema-checked file; damage found while reading becomes a ``DataError``."""
    with _open_read(path) as handle:
        _check_schema(path, handle)
        try:
            yield handle
        except (OSError, RuntimeError) as exc:
            raise DataError(f"{path}: the file is damaged and cannot be read ({exc}); "
                            "runs may be recoverable with h5py or h5dump") from None


def _check_schema(path: Path, handle: h5py.File) -> None:
    version = handle.attrs.get("qkdlab_schema_version")
    if version is None:
        raise DataError(f"{path}: not a qkdlab data file (no 'qkdlab_schema_version' attribute); "
                        "it was written by another program")
    if int(version) > SCHEMA_VERSION:
        raise DataError(f"{path}: written with qkdlab schema version {int(version)}, this qkdlab reads "
                        f"up to version {SCHEMA_VERSION}; upgrade qkdlab to read it")


def writer_alive(attrs: Mapping[str, Any]) -> bool:
    """Whether the process that wrote a 'running' run may still be alive (unknown host: assume so)."""
    if attrs.get("writer_host") != socket.gethostname():
        return True
    try:
        os.kill(int(attrs.get("writer_pid", -1)), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, OverflowError):
        return True
    return True


def _interrupted_reason(attrs: Mapping[str, Any]) -> str:
    return (f"interrupted: the writer (pid {attrs.get('writer_pid')} on {attrs.get('writer_host')}) "
            "ended without closing the run (killed, crashed or power lost); every flushed point is kept")


#: Room kept free for the final status and HDF5's own metadata when a run is closed.
_METADATA_RESERVE = 1 << 20


def _space_left(path: Path) -> int:
    """Bytes that can still be written to ``path``: free disk space, and the process's file-size limit.

    Why check before writing: HDF5 (2.0) does not survive a write that fails for lack of space —
    closing the file afterwards crashes the process — so the writer stops while there is room.
    """
    stats = os.statvfs(path.parent)
    left = stats.f_bavail * stats.f_frsize
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY:
        left = min(left, limit - path.stat().st_size)
    return int(left)


def _raise_write_problem(path: Path, exc: OSError, doing: str) -> None:
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT) or "No space" in text or "File too large" in text:
        why = "the disk is full (or the file size limit was reached)"
    elif code in (errno.EACCES, errno.EPERM, errno.EROFS) or "ermission" in text or "Read-only" in text:
        why = "permission denied (read-only file or directory)"
    elif code == errno.ENOENT:
        why = "the directory does not exist or does not accept files"
    else:
        why = text
    kept = "; runs already in the file are untouched" if path.exists() and path.stat().st_size else ""
    raise DataError(f"{path}: cannot {doing}: {why}{kept}") from None
