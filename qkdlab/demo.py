"""The steps of ``qkdlab demo`` that talk to the bench (kept out of the CLI so tests can call them)."""

from __future__ import annotations

import numpy as np

from .bench import Bench
from .units import watt_to_dbm

__all__ = ["bias_sweep"]


def bias_sweep(bench: Bench, points: int = 17, span_v: float = 8.0) -> list[tuple[float, float, float]]:
    """Sweep the IM bias (bias controller in manual hold) and read the output-tap power meter.

    Turns the transmitter laser on first and leaves the bias at its last value. Returns rows of
    (bias V, power W, power dBm). Uses the instruments named ``laser``, ``bias`` and ``pm_monitor``.
    """
    from .drivers.bias_controller import MzmMode

    laser, bias, meter = bench["laser"], bench["bias"], bench["pm_monitor"]
    laser.power = 1e-3
    laser.output = True
    bias.mode = MzmMode.MANUAL
    rows = []
    for volts in np.linspace(-span_v, span_v, points):
        bias.hold_voltage = float(volts)
        power = float(meter.power.to("W").magnitude)
        rows.append((float(volts), power, watt_to_dbm(power) if power > 0 else float("-inf")))
    return rows
