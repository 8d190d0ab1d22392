"""Extinction-ratio scan: the intensity modulator's transfer curve and its on/off powers.

Procedure (laser on, AWG carving drive off, bias controller in MANUAL):

1. ``sweep``: step the DC bias from ``bias_start`` to ``bias_stop`` and read the output power:
   the transfer curve ``P(V)`` (its period is 2 Vπ_DC; max/min is the static extinction ratio).
2. ``null``: a fine sweep of ``fine_points`` over ``fine_span`` around the coarse minimum,
   because the null is sharp (with 28 dB ER and Vπ = 5 V, 0.1 V off the null already doubles the
   transmitted power) and the static ER is only as good as the minimum found.
3. ``operating``: at the peak and at the fine null, ``repeats`` readings each with the carving
   drive off ("peak", "null": static powers), then at the null with pulses carved by the AWG
   ("null_pulsed"). With pulse duty cycle d the average power while pulsing is
   ``d·P_pulse + (1 - d)·P_between`` and the inter-pulse light sees the bias alone
   (``P_between = P_null``), so ``P_pulse = (P_pulsed - (1 - d) P_null) / d`` and the dynamic
   (pulse / inter-pulse) extinction ratio is ``P_pulse / P_null`` — the number that sets the
   leakage light between pulses. Calibration (``qkdlab.calibration``) turns the run into bounds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..drivers.bias_controller import MzmMode
from ..store import STRING, DataGroup, DatasetSpec, RunData, RunSummary, Store
from ..units import linear_to_db
from .base import Parameter, PowerReader, Progress, ScanSession, resolve_parameters
from .drive import play_levels
from .transmitter import Transmitter, transmitter_parameters

KIND = "extinction-ratio"
TITLE = "Intensity-modulator extinction ratio (bias transfer curve and on/off powers)"

PARAMETERS = (
    *transmitter_parameters("laser", "laser_power", "bias_controller", "awg", "awg_filter", "awg_sync_output", "im_channel", "carving_voltage",
                            "pulse_rate", "pulse_duty_cycle"),
    Parameter("power_meter", "pm_monitor", "power meter at the transmitter output (name or name:slot,chan)", type=str),
    Parameter("bias_start", -9.0, "first bias of the coarse sweep", unit="V"),
    Parameter("bias_stop", 9.0, "last bias of the coarse sweep", unit="V"),
    Parameter("points", 181, "bias points of the coarse sweep", type=int),
    Parameter("fine_span", 0.4, "span of the fine sweep around the coarse minimum", unit="V"),
    Parameter("fine_points", 41, "points of the fine sweep", type=int),
    Parameter("averaging", 0.03, "power-meter averaging per reading", unit="s"),
    Parameter("settle", 0.01, "settling time after each bias step", unit="s"),
    Parameter("repeats", 10, "readings per operating state", type=int),
)

GROUPS = (
    DataGroup("sweep", [DatasetSpec("bias", "V", "IM DC bias"), DatasetSpec("power", "W", "output power")],
              signal="power", axes=["bias"], title="coarse bias sweep (transfer curve)", axes_sorted=True),
    DataGroup("null", [DatasetSpec("bias", "V", "IM DC bias"), DatasetSpec("power", "W", "output power")],
              signal="power", axes=["bias"], title="fine sweep around the null", axes_sorted=True),
    DataGroup("operating", [DatasetSpec("state", "", "peak | null | null_pulsed", dtype=STRING),
                            DatasetSpec("bias", "V", "IM DC bias"), DatasetSpec("power", "W", "output power")],
              signal="power", title="static and pulsed powers at the operating points"),
)


def run_extinction_ratio(bench: Any, store: Store, *, progress: Progress | None = None, **params: Any) -> RunSummary:
    """Run the extinction-ratio scan on ``bench`` into ``store``; returns the finished run's summary."""
    p = resolve_parameters(KIND, PARAMETERS, bench.config.scans.get(KIND), params)
    if p["points"] < 3 or p["fine_points"] < 3 or p["repeats"] < 1:
        raise ValueError("extinction-ratio: points and fine_points must be >= 3 and repeats >= 1")
    tx = Transmitter(bench, p)
    bias = tx.bias
    meter = PowerReader(bench, p["power_meter"], "power_meter")
    total = p["points"] + p["fine_points"] + 3 * p["repeats"]
    with ScanSession(bench, store, KIND, p, PARAMETERS, GROUPS, default="sweep", progress=progress,
                     title=TITLE) as scan:
        scan.progress.start(total, "extinction ratio")
        meter.set_averaging(p["averaging"])
        tx.leave_dark(scan)
        tx.channel("im").output = False
        tx.light()

        def reading_at(volts: float) -> float | None:
            def take() -> float:
                bias.set_manual_bias(volts)
                scan.wait(p["settle"])
                return meter.read()
            return scan.measure(f"power at bias {volts:+.3f} V", take)

        def sweep(group: str, biases: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            taken_v, taken_p = [], []
            for volts in biases:
                power = reading_at(float(volts))
                if power is not None:
                    scan.append(group, bias=volts, power=power)
                    taken_v.append(volts)
                    taken_p.append(power)
                else:
                    scan.progress.advance()
            return np.asarray(taken_v), np.asarray(taken_p)

        coarse_v, coarse_p = sweep("sweep", np.linspace(p["bias_start"], p["bias_stop"], p["points"]))
        if coarse_v.size < 3:
            raise RuntimeError("extinction-ratio: fewer than 3 points of the coarse sweep were measured")
        null_guess = float(coarse_v[np.argmin(coarse_p)])
        half = 0.5 * p["fine_span"]
        lo, hi = max(null_guess - half, p["bias_start"]), min(null_guess + half, p["bias_stop"])
        fine_v, fine_p = sweep("null", np.linspace(lo, hi, p["fine_points"]))
        null_v = float(fine_v[np.argmin(fine_p)]) if fine_v.size else null_guess
        peak_v = float(coarse_v[np.argmax(coarse_p)])

        for state, volts, pulsed in (("peak", peak_v, False), ("null", null_v, False), ("null_pulsed", null_v, True)):
            if pulsed:  # at the bias the scan found, not a lock: the drive alone changes
                play_levels(tx.awg, p["im_channel"], np.full(16, p["carving_voltage"]), p["pulse_rate"], "CARVE")
            for _ in range(p["repeats"]):
                power = reading_at(volts)
                if power is not None:
                    scan.append("operating", state=state, bias=volts, power=power)
                else:
                    scan.progress.advance()
        bias.mode = MzmMode.MANUAL  # leave the bias held where the scan left it (the null)
    return scan.summary()


def quicklook(run: RunData) -> dict[str, str]:
    """A few headline numbers (not the calibrated, bounded values of ``qkdlab.calibration``)."""
    sweep_p = run.data("sweep", "power").to("W").magnitude
    states = np.asarray(run.data("operating", "state")).astype(str)
    powers = run.data("operating", "power").to("W").magnitude
    out: dict[str, str] = {}
    if sweep_p.size:
        null_p = run.data("null", "power").to("W").magnitude
        floor = min(null_p.min() if null_p.size else np.inf, sweep_p.min())
        out["static ER"] = f"{linear_to_db(sweep_p.max() / max(floor, 1e-15)):.1f} dB"
    if {"null", "null_pulsed"} <= set(states):
        duty = float(run.parameter("pulse_duty_cycle"))
        p_null = powers[states == "null"].mean()
        p_pulsed = powers[states == "null_pulsed"].mean()
        p_pulse = (p_pulsed - (1 - duty) * p_null) / duty
        out["pulse/inter-pulse ER"] = f"{linear_to_db(max(p_pulse, 1e-15) / max(p_null, 1e-15)):.1f} dB"
    return out


def plot(run: RunData, fig: Any) -> None:
    """Transfer curve (log power vs bias), the fine sweep at the null, and the operating powers."""
    ax1, ax2, ax3 = fig.subplots(1, 3, gridspec_kw={"width_ratios": [2, 1, 1]})
    v = run.data("sweep", "bias").to("V").magnitude
    pw = run.data("sweep", "power").to("W").magnitude
    ax1.semilogy(v, np.clip(pw, 1e-15, None) * 1e3, ".-")
    ax1.set_xlabel("IM DC bias (V)")
    ax1.set_ylabel("output power (mW)")
    ax1.set_title("transfer curve (coarse sweep)")
    ax1.grid(True, which="both", alpha=0.3)
    fv = run.data("null", "bias").to("V").magnitude
    fp = run.data("null", "power").to("W").magnitude
    ax2.semilogy(fv, np.clip(fp, 1e-15, None) * 1e3, ".-", color="C1")
    ax2.set_xlabel("IM DC bias (V)")
    ax2.set_ylabel("output power (mW)")
    ax2.set_title("fine sweep at the null")
    ax2.grid(True, which="both", alpha=0.3)
    states = np.asarray(run.data("operating", "state")).astype(str)
    powers = run.data("operating", "power").to("W").magnitude
    shown = {"peak": "peak", "null": "null", "null_pulsed": "null, pulses\ncarved"}
    names = [s for s in shown if np.any(states == s)]
    for i, name in enumerate(names):
        values = powers[states == name] * 1e3
        ax3.semilogy(np.full(values.size, i), np.clip(values, 1e-15, None), "o", alpha=0.6)
    ax3.set_xticks(range(len(names)), [shown[n] for n in names])
    ax3.set_xlabel("bias point")
    ax3.set_ylabel("output power (mW)")
    ax3.set_xlim(-0.5, len(names) - 0.5)
    ax3.set_title("operating points")
    ax3.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"{run.path.name} {run.name}: extinction ratio — " +
                 ", ".join(f"{k} {v}" for k, v in quicklook(run).items()))
