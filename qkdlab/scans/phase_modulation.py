"""Phase-modulation scan: the phase modulator's fringe and the phases of the encoding settings.

Set-up: the phase modulator inside a characterization Mach–Zehnder interferometer (the PM in one
arm, the reference arm tapped before it); both interferometer outputs on power meters. The
intensity modulator is locked at its peak (CW light), the AWG holds a DC drive on the PM.

Procedure:

1. ``sweep``: step the PM drive from ``drive_start`` to ``drive_stop`` and read both outputs:
   ``P1/(P1 + P2) = ½[1 + V cos(φ(V_drive) + φ_ref)]`` traces the phase-versus-drive curve
   (Vπ, offset, nonlinearity and fringe visibility are fitted by ``qkdlab.calibration``; the
   two-port ratio cancels laser power drift).
2. ``settings``: the drive levels of the protocol's encoding settings (BB84: Z0, Z1, X0, X1 at
   nominal phases 0, π, π/2, 3π/2; three-state: Z0, Z1, X0) computed with the *assumed*
   ``vpi_nominal`` and centred on 0 V (only phase differences are encoded), read ``repeats``
   times, cycling through the settings so drifts affect all of them alike. Through the fitted
   fringe these readings give each setting's realised phase and its spread — the modulation-flaw
   angles (the loss-tolerant family θ_j = (1 + δ/π) φ_j / 2 is one special case).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..drivers.awg import Function
from ..drivers.bias_controller import MzmMode
from ..store import STRING, DataGroup, DatasetSpec, RunData, RunSummary, Store
from ..transmitter import drive_levels, nominal_phases
from .base import Parameter, PowerReader, Progress, ScanSession, resolve_parameters
from .transmitter import Transmitter, transmitter_parameters

KIND = "phase-modulation"
TITLE = "Phase-modulator fringe and encoded phases of the settings"

PARAMETERS = (
    *transmitter_parameters("laser", "laser_power", "bias_controller", "awg", "awg_filter", "awg_sync_output", "im_channel", "pm_channel"),
    Parameter("meter", "pm_lab:1,1", "power meter at interferometer output 1", type=str),
    Parameter("complement_meter", "pm_lab:1,2", "power meter at interferometer output 2 ('' if none)", type=str),
    Parameter("drive_start", -3.9, "first PM drive of the sweep", unit="V"),
    Parameter("drive_stop", 3.9, "last PM drive of the sweep", unit="V"),
    Parameter("points", 157, "drive points of the sweep", type=int),
    Parameter("protocol", "bb84", "encoding settings to measure", type=str, choices=("bb84", "three-state")),
    Parameter("vpi_nominal", 4.0, "Vπ assumed when the encoding levels were designed", unit="V"),
    Parameter("repeats", 20, "readings per encoding setting", type=int),
    Parameter("averaging", 0.03, "power-meter averaging per reading", unit="s"),
    Parameter("settle", 0.005, "settling time after each drive change", unit="s"),
)

_READINGS = [DatasetSpec("power", "W", "interferometer output 1"),
             DatasetSpec("power_b", "W", "interferometer output 2 (NaN without a second meter)")]

GROUPS = (
    DataGroup("sweep", [DatasetSpec("drive", "V", "PM drive voltage"), *_READINGS],
              signal="power", axes=["drive"], title="interferometer outputs versus PM drive",
              axes_sorted=True),
    DataGroup("settings", [DatasetSpec("setting", "", "index of the encoding setting", dtype="i8"),
                           DatasetSpec("label", "", "name of the encoding setting", dtype=STRING),
                           DatasetSpec("nominal_phase", "rad", "phase the setting is meant to encode"),
                           DatasetSpec("drive", "V", "PM drive of the setting"),
                           DatasetSpec("repeat", "", "repetition index", dtype="i8"), *_READINGS],
              signal="power", axes=["drive"], title="repeated readings at the encoding settings"),
)


def run_phase_modulation(bench: Any, store: Store, *, progress: Progress | None = None, **params: Any) -> RunSummary:
    """Run the phase-modulation scan on ``bench`` into ``store``; returns the finished run's summary."""
    p = resolve_parameters(KIND, PARAMETERS, bench.config.scans.get(KIND), params)
    if p["points"] < 3 or p["repeats"] < 1:
        raise ValueError("phase-modulation: points must be >= 3 and repeats >= 1")
    tx = Transmitter(bench, p)
    meter = PowerReader(bench, p["meter"], "meter")
    complement = PowerReader(bench, p["complement_meter"], "complement_meter") if p["complement_meter"] else None
    labels, phases = nominal_phases(p["protocol"])
    levels = drive_levels(phases, p["vpi_nominal"])
    pm = tx.channel("pm")
    total = p["points"] + p["repeats"] * len(labels)
    with ScanSession(bench, store, KIND, p, PARAMETERS, GROUPS, default="sweep", progress=progress,
                     title=TITLE) as scan:
        scan.progress.start(total, "phase modulation")
        for reader in (meter, complement):
            if reader is not None:
                reader.set_averaging(p["averaging"])
        tx.leave_dark(scan)
        tx.channel("im").output = False  # CW light through the IM held at its peak
        tx.light()
        tx.bias.mode = MzmMode.AUTOPEAK
        pm.function = Function.DC
        pm.offset = 0.0
        pm.output = True

        def readings_at(volts: float) -> tuple[float, float] | None:
            def take() -> tuple[float, float]:
                pm.offset = volts
                scan.wait(p["settle"])
                return meter.read(), complement.read() if complement is not None else float("nan")
            return scan.measure(f"interferometer at drive {volts:+.3f} V", take)

        for volts in np.linspace(p["drive_start"], p["drive_stop"], p["points"]):
            pair = readings_at(float(volts))
            if pair is not None:
                scan.append("sweep", drive=volts, power=pair[0], power_b=pair[1])
            else:
                scan.progress.advance()
        for repeat in range(p["repeats"]):
            for index, (label, phase, volts) in enumerate(zip(labels, phases, levels)):
                pair = readings_at(float(volts))
                if pair is not None:
                    scan.append("settings", setting=index, label=label, nominal_phase=phase, drive=volts,
                                repeat=repeat, power=pair[0], power_b=pair[1])
                else:
                    scan.progress.advance()
    return scan.summary()


def _normalised(run: RunData, group: str) -> np.ndarray:
    """P1/(P1 + P2) where both outputs were read, else P1 over its largest value."""
    p1 = run.data(group, "power").to("W").magnitude
    p2 = run.data(group, "power_b").to("W").magnitude
    if p1.size and np.all(np.isfinite(p2)):
        return p1 / (p1 + p2)
    sweep = run.data("sweep", "power").to("W").magnitude
    return p1 / sweep.max() if sweep.size else p1


def quicklook(run: RunData) -> dict[str, str]:
    """Headline numbers: the fringe visibility seen by the sweep (the fit is calibration's job)."""
    ratio = _normalised(run, "sweep")
    if ratio.size < 3:
        return {}
    visibility = (ratio.max() - ratio.min()) / (ratio.max() + ratio.min())
    return {"sweep visibility": f"{visibility:.3f}"}


def plot(run: RunData, fig: Any) -> None:
    """Normalised fringe versus drive, with the encoding settings' readings on top."""
    ax = fig.subplots()
    drive = run.data("sweep", "drive").to("V").magnitude
    ax.plot(drive, _normalised(run, "sweep"), ".-", color="0.4", label="sweep")
    labels = np.asarray(run.data("settings", "label")).astype(str)
    s_drive = run.data("settings", "drive").to("V").magnitude
    s_ratio = _normalised(run, "settings")
    for label in dict.fromkeys(labels):
        mask = labels == label
        ax.plot(s_drive[mask], s_ratio[mask], "o", alpha=0.6,
                label=f"{label}: {s_ratio[mask].mean():.4f} ± {s_ratio[mask].std(ddof=1) if mask.sum() > 1 else 0:.4f}")
    ax.set_xlabel("PM drive (V)")
    ax.set_ylabel("P1 / (P1 + P2)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(title=f"settings ({run.parameter('protocol')})", fontsize="small")
    fig.suptitle(f"{run.path.name} {run.name}: phase modulation — " +
                 ", ".join(f"{k} {v}" for k, v in quicklook(run).items()))
