"""Modulator drive patterns for the scans: pulse carving on the IM, encoding levels on the PM.

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

__all__ = ["de_bruijn", "play_levels", "nominal_phases", "drive_levels"]


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


#: Nominal encoded phases (rad) of the supported protocols, in the order of their settings.
_PROTOCOL_PHASES = {
    "bb84": (("Z0", 0.0), ("Z1", np.pi), ("X0", np.pi / 2), ("X1", 3 * np.pi / 2)),
    "three-state": (("Z0", 0.0), ("Z1", np.pi), ("X0", np.pi / 2)),
}


def nominal_phases(protocol: str) -> tuple[list[str], np.ndarray]:
    """Labels and nominal phases of a protocol's encoding settings (phase φ_j of (|e> + e^{iφ}|l>)/√2)."""
    try:
        pairs = _PROTOCOL_PHASES[protocol]
    except KeyError:
        raise ValueError(f"unknown protocol {protocol!r}; use one of {sorted(_PROTOCOL_PHASES)}") from None
    return [label for label, _ in pairs], np.array([phase for _, phase in pairs])


def drive_levels(phases: np.ndarray, vpi: float) -> np.ndarray:
    """PM drive voltages for nominal phases with an assumed Vπ, centred on 0 V.

    Only phase *differences* are encoded, so the levels are centred to stay within the smallest
    drive swing: BB84 with Vπ = 4 V gives -3, +1, -1, +3 V for Z0, Z1, X0, X1.
    """
    centre = 0.5 * (phases.min() + phases.max())
    return (phases - centre) * vpi / np.pi
