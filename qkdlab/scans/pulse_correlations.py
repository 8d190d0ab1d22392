"""Pulse-correlation scan: each pulse's intensity and phase read-out conditioned on the previous settings.

Set-up: the AWG plays a cyclic de Bruijn pattern of the encoding settings (PM levels on the PM
channel, carving levels on the IM channel) at the pulse rate, so that every pulse is preceded by
every possible history of ``correlation_length`` settings exactly once per period. A sampling
oscilloscope triggered on the pattern start records, averaged over many periods, a fast photodiode
at the transmitter output (intensity) and one at an output of the characterization interferometer
around the PM (phase read-out). The IM bias is locked at the null so only carved pulses pass.

Records (raw traces are kept, so the analysis can be redone):

- ``traces``: per acquisition the two averaged traces (V) on a common time axis, with the laser on
  ("signal") and off ("dark", the baseline);
- ``pulses``: per acquisition and pulse slot, the integrals of the dark-subtracted traces over the
  pulse window, the slot's setting and its history (the previous ``correlation_length``
  settings, most recent first).

Two read-out quadratures: a single interferometer output cannot resolve a phase change of a
setting that sits near a fringe extremum. The second half of the acquisitions therefore adds
``quadrature_offset`` to every PM level, which shifts every setting's fringe phase (by π/4 for
1 V at Vπ = 4 V) without changing the history-dependent part of the drive (the modulator's
memory weights sum to one). ``qkdlab.calibration`` conditions the pulse energies and
interferometer read-outs on the history (with the fringe of the phase-modulation run) in each
quadrature and keeps the better-resolved bound for each setting.
Settings are pairs (intensity level, phase setting): symbol ``s = i_intensity · n_phase + j_phase``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..store import STRING, DataGroup, DatasetSpec, RunData, RunSummary, Store
from ..transmitter import drive_levels, nominal_phases
from .base import Parameter, Progress, ScanSession, instrument, resolve_parameters
from .drive import de_bruijn, play_levels
from .traces import fit_vertical, slot_integrals
from .transmitter import Transmitter, transmitter_parameters

KIND = "pulse-correlations"
TITLE = "Pulse correlations: intensity and phase of a pulse versus the previous settings"

PARAMETERS = (
    *transmitter_parameters("laser", "laser_power", "bias_controller", "awg", "awg_filter", "awg_sync_output", "im_channel", "pm_channel",
                            "carving_voltage", "pulse_rate", "pulse_duty_cycle"),
    Parameter("scope", "scope", "sampling oscilloscope", type=str),
    Parameter("intensity_input", 1, "scope channel of the output photodiode", type=int),
    Parameter("phase_input", 2, "scope channel of the interferometer photodiode", type=int),
    Parameter("protocol", "bb84", "phase settings of the pattern", type=str, choices=("bb84", "three-state")),
    Parameter("vpi_nominal", 4.0, "Vπ assumed for the PM levels", unit="V"),
    Parameter("intensity_levels", "1.0", "carving drives as fractions of carving_voltage (decoys)", unit="",
              multiple=True),
    Parameter("correlation_length", 2, "previous settings covered by the pattern (l_c)", type=int, minimum=0),
    Parameter("trigger_delay", 0.0, "time of the first pulse window after the scope trigger", unit="s"),
    Parameter("samples_per_pulse", 20, "scope samples per pulse period", type=int),
    Parameter("averages", 64, "scope averages per acquisition", type=int),
    Parameter("acquisitions", 8, "acquisitions with the laser on (half of them at the second quadrature)", type=int),
    Parameter("quadrature_offset", 1.0, "PM drive added to every level for the second read-out quadrature (0: none)",
              unit="V"),
)


def _pattern(p: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(symbols per slot, IM drive per slot, PM drive per slot, number of symbols)."""
    _, phases = nominal_phases(p["protocol"])
    pm_levels = drive_levels(phases, p["vpi_nominal"])
    im_levels = np.asarray(p["intensity_levels"], dtype=float) * p["carving_voltage"]
    n_symbols = len(pm_levels) * len(im_levels)
    symbols = de_bruijn(n_symbols, p["correlation_length"] + 1)
    return symbols, im_levels[symbols // len(pm_levels)], pm_levels[symbols % len(pm_levels)], n_symbols


def run_pulse_correlations(bench: Any, store: Store, *, progress: Progress | None = None,
                           **params: Any) -> RunSummary:
    """Run the pulse-correlation scan on ``bench`` into ``store``; returns the finished run's summary."""
    p = resolve_parameters(KIND, PARAMETERS, bench.config.scans.get(KIND), params)
    if p["correlation_length"] < 1 or p["acquisitions"] < 1 or p["samples_per_pulse"] < 4:
        raise ValueError("pulse-correlations: need correlation_length >= 1, acquisitions >= 1, samples_per_pulse >= 4")
    tx = Transmitter(bench, p)
    scope = instrument(bench, p["scope"], "oscilloscope", "scope")
    symbols, im_drive, pm_drive, n_symbols = _pattern(p)
    n_slots = symbols.size
    lc = p["correlation_length"]
    period = 1.0 / p["pulse_rate"]
    inputs = (p["intensity_input"], p["phase_input"])
    window = {"window_start": p["trigger_delay"], "window_duration": n_slots * period,
              "points": n_slots * p["samples_per_pulse"]}
    history = np.stack([np.roll(symbols, lag) for lag in range(1, lc + 1)], axis=1)
    offsets = (0.0, p["quadrature_offset"]) if p["quadrature_offset"] else (0.0,)

    # Set up before the run opens: the pattern, the lock, the vertical scales, the time axis.
    tx.light()
    try:
        tx.carve(im_drive, "CORR_IM")
        play_levels(tx.awg, p["pm_channel"], pm_drive, p["pulse_rate"], "CORR_PM")
        for channel in inputs:
            scope.channel(channel).scale = 0.5
            scope.channel(channel).offset = 1.5
        highs = {channel: 0.0 for channel in inputs}
        for offset in offsets:  # the vertical range must hold both quadratures
            play_levels(tx.awg, p["pm_channel"], pm_drive + offset, p["pulse_rate"], "CORR_PM")
            first = scope.acquire(inputs, averages=p["averages"], **window)
            for channel in inputs:
                highs[channel] = max(highs[channel], float(first[channel].volts.max()))
        for channel in inputs:
            fit_vertical(scope.channel(channel), 0.0, 1.1 * highs[channel])
        times = scope.acquire(inputs, averages=1, **window)[inputs[0]].times
    except BaseException:
        tx.light(False)
        raise
    n = times.size
    groups = (
        DataGroup("traces", [DatasetSpec("light", "", "signal (laser on) | dark (laser off)", dtype=STRING),
                             DatasetSpec("acquisition", "", "acquisition index", dtype="i8"),
                             DatasetSpec("drive_offset", "V", "PM drive added to every level (read-out quadrature)"),
                             DatasetSpec("intensity", "V", "output photodiode, averaged", shape=(n,)),
                             DatasetSpec("interferometer", "V", "interferometer photodiode, averaged", shape=(n,)),
                             DatasetSpec("clipped", "", "fraction of samples at the ADC rails")],
                  signal="intensity", axes=[".", "time"], fixed={"time": (times, "s")},
                  title="averaged scope traces over one pattern period"),
        DataGroup("pulses", [DatasetSpec("acquisition", "", "acquisition index", dtype="i8"),
                             DatasetSpec("drive_offset", "V", "PM drive added to every level (read-out quadrature)"),
                             DatasetSpec("slot", "", "pulse slot in the pattern", dtype="i8"),
                             DatasetSpec("setting", "", "setting symbol of the pulse", dtype="i8"),
                             DatasetSpec("history", "", "previous settings, most recent first", dtype="i8",
                                         shape=(lc,)),
                             DatasetSpec("energy", "V*s", "dark-subtracted output integral over the pulse"),
                             DatasetSpec("interference", "V*s", "dark-subtracted interferometer integral")],
                  signal="energy", axes=["slot"], title="per-pulse read-outs with their histories"),
    )
    total = (p["acquisitions"] + 1) * (1 + n_slots)
    with ScanSession(bench, store, KIND, {**p, "pattern": symbols, "symbols": n_symbols}, PARAMETERS, groups,
                     default="pulses", progress=progress, title=TITLE) as scan:
        tx.leave_dark(scan)
        scan.progress.start(total, "pulse correlations")

        def acquire(light: str, index: int, offset: float) -> tuple[np.ndarray, np.ndarray] | None:
            traces = scan.measure(f"scope acquisition {light} {index}",
                                  lambda: scope.acquire(inputs, averages=p["averages"], **window))
            if traces is None:
                scan.progress.advance()
                return None
            a, b = traces[inputs[0]], traces[inputs[1]]
            clipped = float(np.mean(np.concatenate([a.clipped, b.clipped])))
            if clipped > 0:
                scan.run.event(f"{light} acquisition {index}: {clipped:.1%} of the samples clipped", "WARNING")
            scan.append("traces", light=light, acquisition=index, drive_offset=offset, intensity=a.volts,
                        interferometer=b.volts, clipped=clipped)
            return a.volts, b.volts

        tx.light(False)
        dark = acquire("dark", 0, 0.0)
        tx.light()
        scan.wait(0.1)
        if dark is None:
            dark = (np.zeros(n), np.zeros(n))
        scan.progress.advance(n_slots)
        for index in range(p["acquisitions"]):
            offset = offsets[index * len(offsets) // p["acquisitions"]]  # first half, then second quadrature
            if index == 0 or offset != offsets[(index - 1) * len(offsets) // p["acquisitions"]]:
                play_levels(tx.awg, p["pm_channel"], pm_drive + offset, p["pulse_rate"], "CORR_PM")
                scan.wait(0.01)
            traces = acquire("signal", index, offset)
            if traces is None:
                scan.progress.advance(n_slots)
                continue
            width = p["pulse_duty_cycle"] * period + 2.0 * float(times[1] - times[0])
            start = -float(times[1] - times[0])
            energy = slot_integrals(times - p["trigger_delay"], traces[0] - dark[0], period, n_slots, start, width)
            interference = slot_integrals(times - p["trigger_delay"], traces[1] - dark[1], period, n_slots, start,
                                          width)
            scan.run.extend("pulses", acquisition=np.full(n_slots, index), drive_offset=np.full(n_slots, offset),
                            slot=np.arange(n_slots), setting=symbols,
                            history=history, energy=energy, interference=interference)
            scan.progress.advance(n_slots)
    return scan.summary()


def conditional_means(run: RunData, quantity: str = "energy") -> dict[tuple[int, int], float]:
    """Mean of a per-pulse read-out for each (setting, previous setting) pair (lag 1).

    ``quantity`` "energy" (output photodiode) or "readout": the interferometer integral over the
    output integral, scaled so the largest setting mean is 1 — a fringe value that does not
    depend on the pulse energy, so it isolates the phase.
    """
    operating = (run.data("pulses", "drive_offset").to("V").magnitude == 0 if "drive_offset" in run.groups["pulses"]
                 else np.ones(run.summary.points, dtype=bool))  # the first quadrature only
    setting = run.data("pulses", "setting").magnitude.astype(int)[operating]
    previous = run.data("pulses", "history").magnitude.astype(int)[operating, 0]
    energy = run.data("pulses", "energy").magnitude[operating]
    if quantity == "readout":
        values = run.data("pulses", "interference").magnitude[operating] / np.where(energy != 0, energy, np.nan)
        top = max(np.nanmean(values[setting == s]) for s in np.unique(setting))
        values = values / top
    else:
        values = energy
    return {(int(s), int(q)): float(np.nanmean(values[(setting == s) & (previous == q)]))
            for s in np.unique(setting) for q in np.unique(previous)
            if np.any((setting == s) & (previous == q))}


def _largest_change(means: dict[tuple[int, int], float], relative: bool) -> float:
    """Over settings: the largest spread of a setting's mean across previous settings."""
    worst = 0.0
    for s in {k[0] for k in means}:
        row = np.array([v for k, v in means.items() if k[0] == s])
        if row.size > 1:
            spread = float(row.max() - row.min())
            worst = max(worst, spread / abs(row.mean()) if relative and row.mean() else spread)
    return worst


def quicklook(run: RunData) -> dict[str, str]:
    """Headline numbers: how much a pulse's energy and phase read-out depend on the previous setting."""
    energy = conditional_means(run)
    if not energy:
        return {}
    return {"energy change with the previous setting": f"{_largest_change(energy, True):.2%}",
            "phase read-out change (fringe units)": f"{_largest_change(conditional_means(run, 'readout'), False):.4f}"}


def plot(run: RunData, fig: Any) -> None:
    """The averaged traces of one pattern period, and the lag-1 conditional read-outs per setting."""
    top, bottom = fig.subfigures(2, 1)
    ax1 = top.subplots()
    ax2, ax3 = bottom.subplots(1, 2)
    times = run.data("traces", "time").to("ns").magnitude
    lights = np.asarray(run.data("traces", "light")).astype(str)
    intensity = run.data("traces", "intensity").to("V").magnitude
    interf = run.data("traces", "interferometer").to("V").magnitude
    signal = lights == "signal"
    if "drive_offset" in run.groups["traces"]:
        signal &= run.data("traces", "drive_offset").to("V").magnitude == 0  # the operating quadrature
    if signal.any():
        ax1.plot(times, intensity[signal].mean(axis=0), lw=0.8, label="output photodiode")
        ax1.plot(times, interf[signal].mean(axis=0), lw=0.8, label="interferometer photodiode")
    ax1.set_xlabel("time after the pattern trigger (ns)")
    ax1.set_ylabel("signal (V)")
    ax1.legend(loc="upper right", fontsize="small")
    ax1.grid(True, alpha=0.3)
    for ax, quantity, scale, label in ((ax2, "energy", 100.0, "energy deviation (%)"),
                                       (ax3, "readout", 1.0, "read-out deviation (fringe units)")):
        means = conditional_means(run, quantity)
        for s in sorted({k[0] for k in means}):
            row = {q: v for (ss, q), v in means.items() if ss == s}
            reference = np.mean(list(row.values()))
            deviation = np.array(list(row.values())) - reference
            if quantity == "energy":
                deviation = deviation / reference
            ax.plot(list(row), deviation * scale, "o-", alpha=0.7, label=f"setting {s}")
        ax.set_xlabel("previous setting (index)")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    ax3.legend(fontsize="x-small")
    fig.suptitle(f"{run.path.name} {run.name}: pulse correlations — " +
                 ", ".join(f"{k} {v}" for k, v in quicklook(run).items()))
