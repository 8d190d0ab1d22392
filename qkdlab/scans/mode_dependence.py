"""Mode-dependence scan: each encoding setting's pulse shape in time and its spectrum.

Set-up: the transmitter carves pulses (IM bias locked at the null) and the PM channel holds one
setting's drive level for every pulse (a constant pattern: the pulse-to-pulse memory plays no part,
so what changes between settings is the setting alone). For each setting, interleaved over
``repeats`` rounds so that slow drifts cancel between settings, the scan records

- ``traces``: an averaged scope trace of the output photodiode over one pulse period, starting
  ``window_margin`` before the pulse window (the pulse and the leakage light after it);
- ``spectra``: an OSA sweep around the carrier at the monitor tap;
- ``histograms``: the time tagger's detection times of a detector relative to the pattern clock,
  folded onto one pulse period (a second, independent read-out of the delays);

and once, with the laser off, a dark trace, a dark spectrum and a dark histogram (setting -1).
The instruments' resolutions are in the run: the scope's time axis (sample interval), the OSA's
``osa_resolution`` and the histogram's bin width. ``qkdlab.calibration.mode_dependence`` turns
the run into a bound on 1 - F between each setting's mode and a reference mode.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..store import DataGroup, DatasetSpec, RunData, RunSummary, Store
from ..transmitter import drive_levels, nominal_phases
from .base import Parameter, Progress, ScanSession, instrument, resolve_parameters
from .drive import play_levels
from .traces import fit_vertical
from .transmitter import Transmitter, transmitter_parameters

KIND = "mode-dependence"
TITLE = "Mode dependence: pulse timing and spectrum per encoding setting"

PARAMETERS = (
    *transmitter_parameters("laser", "laser_power", "bias_controller", "awg", "im_channel", "pm_channel",
                            "carving_voltage", "pulse_rate", "pulse_duty_cycle"),
    Parameter("scope", "scope", "sampling oscilloscope", type=str),
    Parameter("intensity_input", 1, "scope channel of the output photodiode", type=int),
    Parameter("osa", "osa", "optical spectrum analyser on the monitor tap", type=str),
    Parameter("tagger", "tagger", "time tagger ('' skips the histogram read-out)", type=str),
    Parameter("detector", "spd1", "detector whose clicks the tagger records", type=str),
    Parameter("click_channel", 1, "tagger channel of the detector", type=int),
    Parameter("clock_channel", 3, "tagger channel of the pattern clock", type=int),
    Parameter("detector_delay", 4.2e-9, "detector gate delay that covers the pulse", unit="s"),
    Parameter("protocol", "bb84", "phase settings", type=str, choices=("bb84", "three-state")),
    Parameter("vpi_nominal", 4.0, "Vπ assumed for the PM levels", unit="V"),
    Parameter("trigger_delay", 0.0, "time of the pulse window after the scope trigger", unit="s"),
    Parameter("window_margin", 0.2e-9, "trace time before and after the pulse window", unit="s"),
    Parameter("trace_points", 10000, "scope samples per pulse period", type=int),
    Parameter("averages", 4096, "scope averages per trace", type=int),
    Parameter("wavelength", 1550e-9, "OSA centre wavelength (the laser's)", unit="m"),
    Parameter("osa_span", 0.6e-9, "OSA span", unit="m"),
    Parameter("osa_resolution", 0.02e-9, "OSA resolution bandwidth", unit="m"),
    Parameter("osa_points", 1001, "OSA points per sweep", type=int),
    Parameter("osa_averages", 4, "OSA averages per point", type=int),
    Parameter("osa_filter_tolerance", 0.05, "relative uncertainty of the OSA filter width (FWHM = resolution)",
              unit=""),
    Parameter("histogram_bin", 10e-12, "time-tagger histogram bin width", unit="s"),
    Parameter("tagger_duration", 0.1, "time-tagger acquisition per histogram", unit="s"),
    Parameter("repeats", 8, "rounds over all settings (noise from their spread; at least 2)", type=int),
)

_CARVE_SLOTS = 16


def run_mode_dependence(bench: Any, store: Store, *, progress: Progress | None = None, **params: Any) -> RunSummary:
    """Run the mode-dependence scan on ``bench`` into ``store``; returns the finished run's summary."""
    p = resolve_parameters(KIND, PARAMETERS, bench.config.scans.get(KIND), params)
    if p["repeats"] < 2 or p["trace_points"] < 100:
        raise ValueError("mode-dependence: need repeats >= 2 (the noise comes from their spread) and trace_points >= 100")
    tx = Transmitter(bench, p)
    scope = instrument(bench, p["scope"], "oscilloscope", "scope")
    osa = instrument(bench, p["osa"], "optical spectrum analyser", "osa")
    tagger = instrument(bench, p["tagger"], "time tagger", "tagger") if p["tagger"] else None
    labels, phases = nominal_phases(p["protocol"])
    levels = drive_levels(phases, p["vpi_nominal"])
    period = 1.0 / p["pulse_rate"]
    ch = p["intensity_input"]
    window = {"window_start": p["trigger_delay"] - p["window_margin"], "window_duration": period,
              "points": p["trace_points"]}
    sweep = {"centre": p["wavelength"], "span": p["osa_span"], "resolution": p["osa_resolution"],
             "points": p["osa_points"], "averages": p["osa_averages"]}
    bins = int(round(_CARVE_SLOTS * period / p["histogram_bin"]))
    per_period = int(round(period / p["histogram_bin"]))

    def setting(level: float) -> None:
        play_levels(tx.awg, p["pm_channel"], np.full(_CARVE_SLOTS, level), p["pulse_rate"], "MODE_PM")

    tx.light()
    try:
        tx.carve()
        if tagger is not None:
            instrument(bench, p["detector"], "detector", "detector").trigger_delay = p["detector_delay"]
        scope.channel(ch).scale = 0.5
        scope.channel(ch).offset = 1.5
        high = 0.0
        for level in levels:
            setting(level)
            high = max(high, float(scope.acquire([ch], averages=16, **window)[ch].volts.max()))
        fit_vertical(scope.channel(ch), 0.0, 1.1 * high)
        times = scope.acquire([ch], averages=1, **window)[ch].times
        wavelengths = osa.measure(**sweep).wavelengths.to("m").magnitude
    except BaseException:
        tx.light(False)
        raise
    groups = [
        DataGroup("traces", [DatasetSpec("setting", "", "setting index (-1: dark)", dtype="i8"),
                             DatasetSpec("repeat", "", "round", dtype="i8"),
                             DatasetSpec("intensity", "V", "output photodiode, averaged", shape=(times.size,)),
                             DatasetSpec("clipped", "", "fraction of samples at the ADC rails")],
                  signal="intensity", axes=[".", "time"], fixed={"time": (times, "s")},
                  title="averaged pulse traces per setting"),
        DataGroup("spectra", [DatasetSpec("setting", "", "setting index (-1: dark)", dtype="i8"),
                              DatasetSpec("repeat", "", "round", dtype="i8"),
                              DatasetSpec("power", "W", "power within the resolution bandwidth",
                                          shape=(wavelengths.size,))],
                  signal="power", axes=[".", "wavelength"], fixed={"wavelength": (wavelengths, "m")},
                  title="OSA spectra per setting"),
    ]
    if tagger is not None:
        edges = np.arange(per_period) * p["histogram_bin"]
        groups.append(DataGroup("histograms", [DatasetSpec("setting", "", "setting index (-1: dark)", dtype="i8"),
                                               DatasetSpec("repeat", "", "round", dtype="i8"),
                                               DatasetSpec("counts", "", "detections per bin, folded onto one period",
                                                           dtype="i8", shape=(per_period,))],
                                signal="counts", axes=[".", "delay"], fixed={"delay": (edges, "s")},
                                title="detection-time histograms per setting"))
    recorded = {**p, "labels": labels, "levels": levels}
    total = (1 + p["repeats"] * len(levels)) * len(groups)
    with ScanSession(bench, store, KIND, recorded, PARAMETERS, groups, default="traces", progress=progress,
                     title=TITLE) as scan:
        tx.leave_dark(scan)
        scan.progress.start(total, "mode dependence")

        def record(index: int, repeat: int) -> None:
            trace = scan.measure(f"scope trace, setting {index}, round {repeat}",
                                 lambda: scope.acquire([ch], averages=p["averages"], **window)[ch])
            if trace is not None:
                clipped = float(np.mean(trace.clipped))
                if clipped > 0:
                    scan.run.event(f"setting {index} round {repeat}: {clipped:.1%} of the samples clipped", "WARNING")
                scan.append("traces", setting=index, repeat=repeat, intensity=trace.volts, clipped=clipped)
            spectrum = scan.measure(f"OSA sweep, setting {index}, round {repeat}", lambda: osa.measure(**sweep))
            if spectrum is not None:
                scan.append("spectra", setting=index, repeat=repeat, power=spectrum.power.to("W").magnitude)
            if tagger is not None:
                result = scan.measure(f"histogram, setting {index}, round {repeat}", lambda: tagger.histogram(
                    p["click_channel"], p["clock_channel"], p["histogram_bin"], bins, p["tagger_duration"]))
                if result is not None:
                    folded = result[1][: (bins // per_period) * per_period].reshape(-1, per_period).sum(axis=0)
                    scan.append("histograms", setting=index, repeat=repeat, counts=folded)

        tx.light(False)
        record(-1, 0)
        tx.light()
        scan.wait(0.1)
        for repeat in range(p["repeats"]):
            for index, level in enumerate(levels):
                setting(level)
                scan.wait(0.01)
                record(index, repeat)
    return scan.summary()


def _dark_subtracted(run: RunData, group: str, name: str, unit: str) -> tuple[np.ndarray, np.ndarray]:
    """(settings, mean dark-subtracted row per setting) of a group."""
    setting = run.data(group, "setting").magnitude.astype(int)
    rows = run.data(group, name).to(unit).magnitude if unit else run.data(group, name).magnitude
    dark = rows[setting < 0].mean(axis=0) if np.any(setting < 0) else 0.0
    kept = sorted(s for s in set(setting.tolist()) if s >= 0)
    return np.array(kept), np.array([rows[setting == s].mean(axis=0) - dark for s in kept])


def quicklook(run: RunData) -> dict[str, str]:
    """Headline numbers: the spread of the pulse centroids and of the spectral centroids over settings."""
    if "traces" not in run.groups or run.summary.points == 0:
        return {}
    settings, traces = _dark_subtracted(run, "traces", "intensity", "V")
    if settings.size < 2:
        return {}
    t = run.data("traces", "time").to("s").magnitude
    centroids = (traces * t).sum(axis=1) / traces.sum(axis=1)
    out = {"pulse centroid spread": f"{(centroids.max() - centroids.min()) * 1e12:.3g} ps"}
    s_settings, spectra = _dark_subtracted(run, "spectra", "power", "W")
    if s_settings.size >= 2:
        nu = 299792458.0 / run.data("spectra", "wavelength").to("m").magnitude
        centre = (spectra * nu).sum(axis=1) / spectra.sum(axis=1)
        out["spectral centroid spread"] = f"{(centre.max() - centre.min()) / 1e6:.3g} MHz"
    return out


def plot(run: RunData, fig: Any) -> None:
    """Dark-subtracted pulse traces and spectra per setting (mean over rounds)."""
    ax1, ax2 = fig.subplots(1, 2)
    labels = [str(v) for v in np.atleast_1d(run.parameter("labels"))]
    settings, traces = _dark_subtracted(run, "traces", "intensity", "V")
    t = run.data("traces", "time").to("ns").magnitude
    for s, row in zip(settings, traces, strict=True):
        ax1.plot(t, row, lw=0.8, label=labels[s] if s < len(labels) else str(s))
    ax1.set_xlabel("time after the trigger (ns)")
    ax1.set_ylabel("output photodiode (V)")
    ax1.legend(fontsize="small")
    ax1.grid(True, alpha=0.3)
    settings, spectra = _dark_subtracted(run, "spectra", "power", "W")
    lam = run.data("spectra", "wavelength").to("nm").magnitude
    for s, row in zip(settings, spectra, strict=True):
        ax2.plot(lam, row * 1e9, lw=0.8, label=labels[s] if s < len(labels) else str(s))
    ax2.set_xlabel("wavelength (nm)")
    ax2.set_ylabel("power within the resolution (nW)")
    ax2.grid(True, alpha=0.3)
    fig.suptitle(f"{run.path.name} {run.name}: mode dependence — " +
                 ", ".join(f"{k} {v}" for k, v in quicklook(run).items()))
