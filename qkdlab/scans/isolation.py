"""Isolation scan: back-reflection of light injected into the transmitter's output port.

Set-up: a probe laser -> variable attenuator -> calibrated injection monitor -> circulator port 1;
port 2 is the transmitter's output; port 3 (what comes back out of the transmitter) -> the
back-reflection power meter. This is how a Trojan-horse probe would see the transmitter
(Lucamarini et al., PRX 5, 031030 (2015)): the round-trip isolation ``γ = P_back / P_injected``.

Procedure (source laser off: its forward light would also leave circulator port 3):

1. ``dark``: ``dark_repeats`` readings of both meters with the probe laser off (the meters'
   offsets and any stray light), before and after the steps.
2. ``steps``: with the probe on at ``probe_power``, step the attenuator through
   ``attenuations`` and read the injected and the back-reflected power, ``repeats`` times each.

When the probe cannot enter at the very output (the back-reflection of a transmitter whose
output attenuator is in place is far below any power meter), the scan probes in front of that
attenuator and records its value as ``unprobed_attenuation``; calibration then counts it twice.

γ is the slope of back-reflected versus injected power after subtracting the dark level; a
straight line through all steps also tests linearity (a meter in its noise floor shows as a
knee at the low-power end). Calibration fits it with its uncertainty.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..store import STRING, DataGroup, DatasetSpec, RunData, RunSummary, Store
from ..units import linear_to_db
from .base import Parameter, PowerReader, Progress, ScanSession, instrument, resolve_parameters

KIND = "isolation"
TITLE = "Back-reflection isolation (probe light injected into the transmitter output)"

PARAMETERS = (
    Parameter("probe_laser", "probe_laser", "probe laser injected into the transmitter output", type=str),
    Parameter("source_laser", "laser", "transmitter laser (switched off during the scan)", type=str),
    Parameter("attenuator", "probe_voa", "variable attenuator on the probe path", type=str),
    Parameter("injected_meter", "pm_lab:2,2", "power meter of the injected probe power", type=str),
    Parameter("reflected_meter", "pm_lab:2,1", "power meter at circulator port 3 (back-reflection)", type=str),
    Parameter("probe_power", 5e-3, "probe laser power", unit="W"),
    Parameter("attenuations", "0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30", "attenuator steps", unit="dB",
              multiple=True),
    Parameter("repeats", 3, "readings per attenuator step", type=int),
    Parameter("dark_repeats", 5, "dark readings before and after the steps", type=int),
    Parameter("averaging", 0.5, "power-meter averaging per reading", unit="s"),
    Parameter("settle", 0.05, "settling time after each attenuator step", unit="s"),
    Parameter("unprobed_attenuation", 0.0, "attenuation of the output chain beyond the probed point (passed twice by "
              "Trojan-horse light; 0 when the probe enters at the transmitter's output)", unit="dB"),
)

GROUPS = (
    DataGroup("steps", [DatasetSpec("attenuation", "dB", "probe attenuator setting"),
                        DatasetSpec("injected", "W", "probe power injected into the transmitter output"),
                        DatasetSpec("reflected", "W", "power coming back out of the transmitter")],
              signal="reflected", axes=["injected"], title="back-reflected versus injected power"),
    DataGroup("dark", [DatasetSpec("when", "", "before | after the steps", dtype=STRING),
                       DatasetSpec("injected", "W", "injection-meter reading, probe off"),
                       DatasetSpec("reflected", "W", "back-reflection-meter reading, probe off")],
              signal="reflected", title="dark levels (probe laser off)"),
)


def run_isolation(bench: Any, store: Store, *, progress: Progress | None = None, **params: Any) -> RunSummary:
    """Run the isolation scan on ``bench`` into ``store``; returns the finished run's summary."""
    p = resolve_parameters(KIND, PARAMETERS, bench.config.scans.get(KIND), params)
    if not p["attenuations"] or p["repeats"] < 1 or p["dark_repeats"] < 1:
        raise ValueError("isolation: give at least one attenuation, repeats >= 1 and dark_repeats >= 1")
    probe = instrument(bench, p["probe_laser"], "probe laser", "probe_laser")
    source = instrument(bench, p["source_laser"], "transmitter laser", "source_laser")
    voa = instrument(bench, p["attenuator"], "probe attenuator", "attenuator")
    injected = PowerReader(bench, p["injected_meter"], "injected_meter")
    reflected = PowerReader(bench, p["reflected_meter"], "reflected_meter")
    total = 2 * p["dark_repeats"] + len(p["attenuations"]) * p["repeats"]
    with ScanSession(bench, store, KIND, p, PARAMETERS, GROUPS, default="steps", progress=progress,
                     title=TITLE) as scan:
        scan.progress.start(total, "isolation")
        for meter in (injected, reflected):
            meter.set_averaging(p["averaging"])
        source.output = False
        probe.output = False
        scan.on_exit("switch the probe laser off", lambda: setattr(probe, "output", False))

        def dark(when: str) -> None:
            for _ in range(p["dark_repeats"]):
                pair = scan.measure(f"dark reading ({when})", lambda: (injected.read(), reflected.read()))
                if pair is not None:
                    scan.append("dark", when=when, injected=pair[0], reflected=pair[1])
                else:
                    scan.progress.advance()

        dark("before")
        probe.power = p["probe_power"]
        probe.output = True
        for attenuation in p["attenuations"]:
            def step(att: float = attenuation) -> tuple[float, float]:
                voa.attenuation = att
                scan.wait(p["settle"])
                return injected.read(), reflected.read()

            for _ in range(p["repeats"]):
                pair = scan.measure(f"readings at {attenuation:g} dB", step)
                if pair is not None:
                    scan.append("steps", attenuation=attenuation, injected=pair[0], reflected=pair[1])
                else:
                    scan.progress.advance()
        probe.output = False
        dark("after")
    return scan.summary()


def _slope(run: RunData) -> tuple[float, float] | None:
    """Least-squares γ (slope) and intercept of dark-subtracted reflected versus injected power."""
    x = run.data("steps", "injected").to("W").magnitude
    y = run.data("steps", "reflected").to("W").magnitude - _dark(run)
    if x.size < 2 or np.ptp(x) == 0:
        return None
    gamma, intercept = np.polyfit(x, y, 1)
    return float(gamma), float(intercept)


def _dark(run: RunData) -> float:
    dark = run.data("dark", "reflected").to("W").magnitude
    return float(dark.mean()) if dark.size else 0.0


def quicklook(run: RunData) -> dict[str, str]:
    """Headline numbers: the isolation from the slope (calibration gives its bound)."""
    fit = _slope(run)
    if fit is None or fit[0] <= 0:
        return {}
    return {"γ": f"{fit[0]:.3g}", "isolation": f"{-linear_to_db(fit[0]):.1f} dB"}


def plot(run: RunData, fig: Any) -> None:
    """Back-reflected versus injected power (log-log) with the fitted line and the dark level."""
    ax = fig.subplots()
    x = run.data("steps", "injected").to("W").magnitude
    y = run.data("steps", "reflected").to("W").magnitude
    ax.loglog(x * 1e3, np.clip(y, 1e-16, None) * 1e9, "o", label="measured")
    dark = _dark(run)
    readings = run.data("dark", "reflected").to("W").magnitude
    noise = float(readings.std(ddof=1)) if readings.size > 1 else 0.0
    if noise > 0:
        ax.axhline(noise * 1e9, color="gray", ls=":",
                   label=f"dark: mean {dark * 1e12:.2f} pW, noise (1σ) {noise * 1e12:.2f} pW")
    fit = _slope(run)
    if fit is not None and fit[0] > 0:
        xs = np.geomspace(max(x.min(), 1e-12), x.max(), 50)
        ax.loglog(xs * 1e3, (fit[0] * xs + fit[1] + dark) * 1e9, "-", label=f"γ = {fit[0]:.3g} (linear fit)")
    ax.set_xlabel("injected probe power (mW)")
    ax.set_ylabel("back-reflected power (nW)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.suptitle(f"{run.path.name} {run.name}: back-reflection isolation — " +
                 ", ".join(f"{k} {v}" for k, v in quicklook(run).items()))
