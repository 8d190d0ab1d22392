"""Encoding facts of the transmitter: the settings of each protocol, their nominal phases, drive levels.

Defined once and used by the scans (which drive the phase modulator), the calibration (which
inverts the measured phases) and the analysis (which builds the qubit states). Convention: a
setting of encoded phase φ emits (|e> + e^{iφ}|l>)/√2, i.e. the qubit cos(φ/2)|0> + sin(φ/2)|1>
(see :mod:`qkdlab.analysis.states`).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["PROTOCOL_SETTINGS", "NOMINAL_PHASES", "nominal_phases", "drive_levels"]

#: Ideal encoded phases of the settings (rad).
NOMINAL_PHASES: dict[str, float] = {"Z0": 0.0, "Z1": math.pi, "X0": math.pi / 2, "X1": 3 * math.pi / 2}
#: Alice's settings per protocol, in the order used throughout scans, calibration and analysis.
PROTOCOL_SETTINGS: dict[str, tuple[str, ...]] = {"bb84": ("Z0", "Z1", "X0", "X1"), "three-state": ("Z0", "Z1", "X0")}


def nominal_phases(protocol: str) -> tuple[list[str], np.ndarray]:
    """Labels and nominal phases of a protocol's encoding settings (phase φ_j of (|e> + e^{iφ}|l>)/√2)."""
    try:
        labels = PROTOCOL_SETTINGS[protocol]
    except KeyError:
        raise ValueError(f"unknown protocol {protocol!r}; use one of {sorted(PROTOCOL_SETTINGS)}") from None
    return list(labels), np.array([NOMINAL_PHASES[label] for label in labels])


def drive_levels(phases: np.ndarray, vpi: float) -> np.ndarray:
    """PM drive voltages for nominal phases with an assumed Vπ, centred on 0 V.

    Only phase *differences* are encoded, so the levels are centred to stay within the smallest
    drive swing: BB84 with Vπ = 4 V gives -3, +1, -1, +3 V for Z0, Z1, X0, X1.
    """
    centre = 0.5 * (phases.min() + phases.max())
    return (phases - centre) * vpi / np.pi
