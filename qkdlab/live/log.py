"""The live log: one CSV row per block (flushed as it is written), and a PNG of the history."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import IO

from ..errors import DataError
from .estimator import Update

__all__ = ["EstimateLog", "plot_history", "COLUMNS"]

COLUMNS = ("block", "wall_time", "accepted", "reason", "block_emissions", "block_key_detections", "block_qber",
           "block_phase_error", "block_key_bits", "block_key_rate_bps", "total_emissions", "total_phase_error",
           "total_key_bits", "total_key_rate_bps", "latency_ms", "alarms", "block_method", "total_method")


class EstimateLog:
    """Appends every update to a CSV file; a context manager that always closes the file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
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
            update.index, f"{update.wall_time:.3f}", int(update.accepted), update.reason,
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


def plot_history(updates: list[Update], path: str | Path, title: str) -> None:
    """Key rate per block, key accumulated, QBER and phase-error bound against block number."""
    from matplotlib.figure import Figure

    accepted = [u for u in updates if u.accepted and u.block and u.accumulated]
    fig = Figure(figsize=(9, 6.5), layout="constrained")
    top, middle, bottom = fig.subplots(3, 1, sharex=True)
    blocks = [u.index for u in accepted]
    top.plot(blocks, [u.block.key_rate_bps for u in accepted], "o-", ms=3)  # type: ignore[union-attr]
    top.set_ylabel("key rate (bit/s)")
    middle.plot(blocks, [u.accumulated.key_length_bits for u in accepted], "o-", ms=3, color="C2")  # type: ignore
    middle.set_ylabel("key so far (bits)")
    bottom.plot(blocks, [u.block.qber for u in accepted], "o-", ms=3, label="QBER")  # type: ignore[union-attr]
    bottom.plot(blocks, [u.block.phase_error for u in accepted], "s-", ms=3,  # type: ignore[union-attr]
                label="phase-error bound")
    alarmed = [u.index for u in accepted if u.alarms]
    for ax in (top, middle, bottom):
        for index in alarmed:
            ax.axvline(index, color="red", alpha=0.25, lw=3)
        ax.grid(alpha=0.3)
    bottom.set_ylabel("rate")
    bottom.set_xlabel("block" + ("  (red: alarm)" if alarmed else ""))
    bottom.legend(fontsize=8)
    top.set_title(title, fontsize=10)
    try:
        fig.savefig(path, dpi=110)
    except OSError as exc:
        raise DataError(f"{path}: cannot write the figure ({exc.strerror or exc})") from None
