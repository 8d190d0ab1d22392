"""Oscilloscope helpers shared by the time-resolved scans (pulse correlations, leakage light).

Why here and not in the driver: choosing a vertical scale for *what the scan wants to see* (the
whole pulse, or the weak light between pulses with the pulses clipped) is a measurement decision,
not an instrument feature.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["fit_vertical", "slot_integrals", "SCREEN_DIVISIONS"]

#: Vertical divisions of the scope screen (the ADC range is offset ± half of them times the scale).
SCREEN_DIVISIONS = 8


def fit_vertical(channel: Any, low_v: float, high_v: float, *, minimum_scale: float = 1e-3) -> None:
    """Set a channel's scale and offset so ``low_v..high_v`` fills about 80 % of the screen."""
    span = max(high_v - low_v, 1e-12)
    scale = max(span / (0.8 * SCREEN_DIVISIONS), minimum_scale)
    channel.scale = scale
    channel.offset = 0.5 * (low_v + high_v)


def slot_integrals(times: np.ndarray, volts: np.ndarray, period: float, n_slots: int, start: float,
                   width: float) -> np.ndarray:
    """Integral (V·s) of a trace over ``[k·period + start, k·period + start + width)`` for each slot k."""
    dt = float(np.median(np.diff(times)))
    out = np.empty(n_slots)
    for k in range(n_slots):
        lo = k * period + start
        mask = (times >= lo) & (times < lo + width)
        out[k] = float(volts[mask].sum()) * dt
    return out
