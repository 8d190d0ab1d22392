"""The live log: one CSV row per block (flushed as it is written), and a PNG of the history.

The CSV stays plain (``pandas.read_csv("live-log.csv")`` reads it as it is); what a reader
needs to trust it — qkdlab version, the source model's SHA-256, the time zone, each column's
unit — is in a JSON sidecar next to it (``live-log.csv.meta.json``), written before the first
row. Times are ISO 8601 with the zone (``time``) and Unix seconds (``time_unix_s``).
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from ..errors import DataError
from .estimator import Update

__all__ = ["EstimateLog", "plot_history", "COLUMNS", "UNITS", "metadata_path"]

COLUMNS = ("block", "time", "time_unix_s", "accepted", "reason", "block_emissions", "block_key_detections", "block_qber",
           "block_phase_error", "block_key_bits", "block_key_rate_bps", "total_emissions", "total_phase_error",
           "total_key_bits", "total_key_rate_bps", "latency_ms", "alarms", "block_method", "total_method")


#: Units of the CSV columns (pint-parseable; "1" for plain numbers, "" for text).
UNITS = {"block": "1", "time": "", "time_unix_s": "s", "accepted": "1", "reason": "", "block_emissions": "1",
         "block_key_detections": "1", "block_qber": "1", "block_phase_error": "1", "block_key_bits": "bit",
         "block_key_rate_bps": "bit/s", "total_emissions": "1", "total_phase_error": "1", "total_key_bits": "bit",
         "total_key_rate_bps": "bit/s", "latency_ms": "ms", "alarms": "", "block_method": "", "total_method": ""}


def metadata_path(path: str | Path) -> Path:
    """The sidecar of a live log: ``<log>.meta.json``."""
    return Path(f"{path}.meta.json")


class EstimateLog:
    """Appends every update to a CSV file; a context manager that always closes the file.

    ``metadata`` (e.g. the model's SHA-256, the method, the security parameters) goes into the
    sidecar with the qkdlab version, the creation time and the time zone.
    """

    def __init__(self, path: str | Path, metadata: Mapping[str, Any] | None = None) -> None:
        from .. import __version__

        self.path = Path(path)
        now = _dt.datetime.now().astimezone()
        sidecar = {"qkdlab_version": __version__, "created": now.isoformat(timespec="seconds"),
                   "time_zone": now.tzname(), "utc_offset": now.strftime("%z"), "columns": UNITS,
                   "read_with": f"pandas.read_csv({self.path.name!r}, parse_dates=['time'])", **(metadata or {})}
        try:
            metadata_path(self.path).write_text(json.dumps(sidecar, indent=2, default=str), encoding="utf-8")
            self._file: IO[str] = open(self.path, "w", newline="", encoding="utf-8")
        except OSError as exc:
            raise DataError(f"{self.path}: cannot write the live log ({exc.strerror or exc})") from None
        self._writer = csv.writer(self._file)
        self._writer.writerow(COLUMNS)
        self._file.flush()
        self.rows: list[Update] = []

    def write(self, update: Update) -> None:
        b, t = update.block, update.accumulated
        self._writer.writerow([
            update.index, _iso(update.wall_time), f"{update.wall_time:.3f}", int(update.accepted), update.reason,
            *(("", "", "", "", "", "") if b is None else (f"{b.emissions:.0f}", f"{b.key_detections:.0f}",
                                                           f"{b.qber:.6e}", f"{b.phase_error:.6e}",
                                                           f"{b.key_length_bits:.6e}", f"{b.key_rate_bps:.6e}")),
            *(("", "", "", "") if t is None else (f"{t.emissions:.0f}", f"{t.phase_error:.6e}",
                                                   f"{t.key_length_bits:.6e}", f"{t.key_rate_bps:.6e}")),
            f"{update.latency_s * 1e3:.2f}", " | ".join(a.message for a in update.alarms),
            "" if b is None else b.winner, "" if t is None else t.winner])
        self._file.flush()
        self.rows.append(update)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> EstimateLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _iso(unix_s: float) -> str:
    return _dt.datetime.fromtimestamp(unix_s).astimezone().isoformat(timespec="milliseconds")


def plot_history(updates: list[Update], path: str | Path, title: str) -> None:
    """Key rate per block, key accumulated, QBER and phase-error bound against block number."""
    from matplotlib.figure import Figure

    accepted = [u for u in updates if u.accepted and u.block and u.accumulated]
    fig = Figure(figsize=(9, 8), layout="constrained")
    rate, total, qber, phase = fig.subplots(4, 1, sharex=True)
    blocks = [u.index for u in accepted]
    rate.plot(blocks, [u.block.key_rate_bps for u in accepted], "o-", ms=3)  # type: ignore[union-attr]
    rate.set_ylabel("key rate (bit/s)")
    total.plot(blocks, [u.accumulated.key_length_bits for u in accepted], "o-", ms=3, color="C2")  # type: ignore
    total.set_ylabel("key so far (bit)")
    # QBER (~0.1 %) and the phase-error bound (~10 %) differ by orders: one axis each
    qber.plot(blocks, [100 * u.block.qber for u in accepted], "o-", ms=3, color="C1")  # type: ignore[union-attr]
    qber.set_ylabel("QBER (%)")
    phase.plot(blocks, [100 * u.block.phase_error for u in accepted], "s-", ms=3,  # type: ignore[union-attr]
               color="C3")
    phase.set_ylabel("phase-error bound (%)")
    alarmed = [u.index for u in accepted if u.alarms]
    for ax in (rate, total, qber, phase):
        for index in alarmed:
            ax.axvline(index, color="red", alpha=0.25, lw=3)
        ax.grid(alpha=0.3)
    phase.set_xlabel("block (index)" + ("  (red: alarm)" if alarmed else ""))
    rate.set_title(title, fontsize=10)
    try:
        fig.savefig(path, dpi=110)
    except OSError as exc:
        raise DataError(f"{path}: cannot write the figure ({exc.strerror or exc})") from None
