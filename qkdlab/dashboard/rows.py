"""What one estimated block becomes on the page: a row of plotted numbers, each in a stated unit.

The numbers are the live estimator's (key rate, key bits, phase-error bound — never recomputed
here) plus what the block's counts say directly (QBER per basis, detection and dark rates per
detector). A "detector" is one (Bob basis, outcome) pair, labelled like ``Z0``.

- detection rate of detector (b, o): its clicks in the block / the block's duration
  (pulses / repetition rate), in counts/s;
- dark rate of detector (b, o): its clicks in the vacuum-intensity slots where Bob measured in b,
  per such slot, times the repetition rate — the click rate the detector would show without light
  (NaN when the run has no vacuum decoy). ``docs/dashboard.md`` derives both.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Sequence

from ..live.alarms import basis_counts
from ..live.estimator import Update
from ..model import Observations

__all__ = ["COLUMNS", "block_row", "detector_labels", "merge_rows"]

#: The columns of every row besides the per-detector ones (units: docs/dashboard.md and the page's axes).
COLUMNS = ("time", "index", "width", "emissions", "rate_bps", "key_bits", "total_bits", "total_rate_bps", "qber_z",
           "qber_x", "phase_error", "total_phase_error", "latency_ms")


def detector_labels(block: Observations) -> tuple[str, ...]:
    return tuple(f"{basis}{outcome}" for basis in block.bob_bases for outcome in (0, 1))


def block_row(update: Update, groups: Sequence[Observations]) -> dict[str, float]:
    """The plotted numbers of one accepted update (its block's groups summed)."""
    assert update.block is not None and update.accumulated is not None, "only accepted updates have rows"
    merged = functools.reduce(operator.add, groups)
    counts, emissions = merged.count_array, merged.emission_array     # (j, k, b, o), (j, k)
    row = {"time": update.wall_time * 1e3, "index": float(update.index), "width": 1.0,
           "emissions": update.block.emissions, "rate_bps": update.block.key_rate_bps,
           "key_bits": update.block.key_length_bits, "total_bits": update.accumulated.key_length_bits,
           "total_rate_bps": update.accumulated.key_rate_bps, "qber_z": 100.0 * _qber(merged, "Z"),
           "qber_x": 100.0 * _qber(merged, "X"), "phase_error": 100.0 * update.block.phase_error,
           "total_phase_error": 100.0 * update.accumulated.phase_error, "latency_ms": 1e3 * update.latency_s}
    rate = merged.repetition_rate_hz or math.nan
    duration = emissions.sum() / rate
    vacuum = [k for k, mu in enumerate(merged.intensities) if mu == 0.0]
    for b, basis in enumerate(merged.bob_bases):
        for outcome in (0, 1):
            label = f"{basis}{outcome}"
            row[f"det_{label}"] = float(counts[..., b, outcome].sum() / duration)
            gates = emissions[:, vacuum].sum() * merged.bob_basis_probabilities[b]
            row[f"dark_{label}"] = float(counts[:, vacuum, b, outcome].sum() / gates * rate) if gates > 0 else math.nan
    return row


def _qber(block: Observations, basis: str) -> float:
    detections, errors = basis_counts(block, basis)
    return errors / detections if detections > 0 else math.nan


def merge_rows(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    """One point standing for consecutive rows: width-weighted means; running totals take the last value."""
    width = sum(r["width"] for r in rows)
    merged = {}
    for key in rows[0]:
        if key in _LAST:
            merged[key] = rows[-1][key]
        elif key == "width":
            merged[key] = width
        else:
            merged[key] = sum(r[key] * r["width"] for r in rows) / width
    return merged


#: Columns that are running totals (or the current value of one): a merged point keeps the newest.
_LAST = frozenset({"total_bits", "total_rate_bps", "total_phase_error", "index"})
