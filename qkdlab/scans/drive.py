"""Modulator drive patterns for the scans: pulse carving on the IM, encoding levels on the PM.

The encoding levels themselves (nominal phases, drive voltages) are facts about the transmitter,
shared with calibration and analysis: :mod:`qkdlab.transmitter.encoding`.

Convention (shared with the simulated bench, see ``qkdlab.sim.physics``): one AWG sample per
pulse slot, played at the pulse rate; the sample of slot k is the RF drive the modulator sees
during that slot's pulse window. The AWG is told a peak-to-peak amplitude and an offset, and the
samples are scaled to -1..+1 within them, so a pattern of levels ``v_k`` is sent as samples
``(v_k - offset) / (amplitude / 2)`` with ``offset`` the mid-range of the levels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["de_bruijn", "play_levels"]


def de_bruijn(symbols: int, order: int) -> np.ndarray:
    """The de Bruijn sequence B(symbols, order): every word of length ``order`` appears once, cyclically.

    Why: a cyclic pattern of length ``symbols**order`` is the shortest one in which every pulse is
    preceded by every possible history of ``order - 1`` settings, which is what a pulse-correlation
    measurement needs. (The standard Lyndon-word construction of Fredricksen, Kessler and Maiorana.)
    """
    if symbols < 1 or order < 1:
        raise ValueError("de_bruijn needs symbols >= 1 and order >= 1")
    if symbols == 1:
        return np.zeros(1, dtype=int)
    a = [0] * (symbols * order)
    sequence: list[int] = []

    def lyndon(t: int, p: int) -> None:
        if t > order:
            if order % p == 0:
                sequence.extend(a[1:p + 1])
            return
        a[t] = a[t - p]
        lyndon(t + 1, p)
        for j in range(a[t - p] + 1, symbols):
            a[t] = j
            lyndon(t + 1, t)

    lyndon(1, 1)
    return np.asarray(sequence, dtype=int)


def play_levels(awg: Any, channel: int, levels: Sequence[float] | np.ndarray, rate_hz: float, name: str) -> None:
    """Play one drive level (V at the modulator) per pulse slot on an AWG channel at ``rate_hz``."""
    volts = np.asarray(levels, dtype=float)
    low, high = float(volts.min()), float(volts.max())
    if high > low:
        offset, half = 0.5 * (low + high), 0.5 * (high - low)
    else:  # a constant level: centre on 0 V so the -1..+1 sample scaling stays defined
        offset, half = 0.0, max(abs(low), 1e-3)
    samples = (volts - offset) / half
    awg.play_waveform(channel, name, samples, rate_hz, 2.0 * half, offset)
