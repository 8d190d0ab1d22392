"""Leakage-light scan: the light between pulses, versus time within the pulse period.

Set-up as in operation: the IM bias locked at the null and pulses carved by the AWG; a fast
photodiode at the transmitter output on a sampling oscilloscope triggered on the pulse clock.
The inter-pulse light is the carrier that a finite extinction ratio lets through; in sources with
a Faraday-mirror double pass through the phase modulator it also picks up a time-dependent
fraction of the pulse's phase (Bourassa et al., PRA 106, 062618 (2022), App. D, Eqs. D2-D3),
set by the modulator geometry, which the run records: the electrode transit time L and the drive
pulse width w (and whether there is a Faraday mirror).

The inter-pulse level is ~ER below the pulse peak, beyond one vertical setting's useful range, so
each acquisition is taken twice (the standard two-range technique):

- ``full``: the vertical range fits the whole pulse (pulse shape and peak, the reference);
- ``zoom``: the range fits the inter-pulse level, the pulses clip at the top rail (the clipped
  samples are flagged and must be ignored).

Dark traces (laser off) at both settings give the baselines. ``qkdlab.calibration`` combines
them into the leakage intensity profile per pulse slot relative to the pulse energy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..store import STRING, DataGroup, DatasetSpec, RunData, RunSummary, Store
from ..transmitter import LeakageTraces, between_pulses
from ..units import linear_to_db
from .base import Parameter, Progress, ScanSession, instrument, resolve_parameters
from .traces import fit_vertical
from .transmitter import Transmitter, transmitter_parameters

KIND = "leakage-light"
TITLE = "Leakage light between pulses (time-resolved, two vertical ranges)"

PARAMETERS = (
    *transmitter_parameters("laser", "laser_power", "bias_controller", "awg", "awg_filter", "awg_sync_output", "im_channel", "carving_voltage",
                            "pulse_rate", "pulse_duty_cycle"),
    Parameter("scope", "scope", "sampling oscilloscope", type=str),
    Parameter("input", 1, "scope channel of the output photodiode", type=int),
    Parameter("trigger_delay", 0.0, "time of the first pulse window after the scope trigger", unit="s"),
    Parameter("periods", 2, "pulse periods in the time window", type=int),
    Parameter("samples_per_period", 200, "scope samples per pulse period", type=int),
    Parameter("averages", 256, "scope averages per acquisition", type=int),
    Parameter("acquisitions", 4, "acquisitions per vertical range with the laser on", type=int),
    Parameter("pm_electrode_transit", None, "phase-modulator electrode transit time L", unit="s"),
    Parameter("drive_pulse_width", None, "phase-modulator drive pulse width w", unit="s"),
    Parameter("faraday_mirror", False, "the source passes the PM twice via a Faraday mirror", type=bool),
)


def run_leakage_light(bench: Any, store: Store, *, progress: Progress | None = None, **params: Any) -> RunSummary:
    """Run the leakage-light scan on ``bench`` into ``store``; returns the finished run's summary."""
    p = resolve_parameters(KIND, PARAMETERS, bench.config.scans.get(KIND), params)
    if p["periods"] < 1 or p["acquisitions"] < 1 or p["samples_per_period"] < 10:
        raise ValueError("leakage-light: need periods >= 1, acquisitions >= 1, samples_per_period >= 10")
    tx = Transmitter(bench, p)
    scope = instrument(bench, p["scope"], "oscilloscope", "scope")
    channel = scope.channel(p["input"])
    period = 1.0 / p["pulse_rate"]
    window = {"window_start": p["trigger_delay"], "window_duration": p["periods"] * period,
              "points": p["periods"] * p["samples_per_period"]}
    inputs = (p["input"],)

    # Set up before the run opens: the lock, the carving, the two vertical ranges, the time axis.
    tx.light()
    try:
        tx.carve()
        channel.scale = 0.5
        channel.offset = 1.5
        probe = scope.acquire(inputs, averages=p["averages"], **window)[p["input"]]
        fit_vertical(channel, min(0.0, float(probe.volts.min())), float(probe.volts.max()))
        full = scope.acquire(inputs, averages=p["averages"], **window)[p["input"]]
        between = between_pulses(full.times - p["trigger_delay"], period, p["pulse_duty_cycle"])
        floor = float(np.median(full.volts[between]))
        ranges = {"full": (float(channel.scale.to("V").magnitude), float(channel.offset.to("V").magnitude)),
                  "zoom": _zoom_range(floor)}
        times = full.times
    except BaseException:
        tx.light(False)
        raise
    n = times.size
    groups = (
        DataGroup("traces", [DatasetSpec("range", "", "full | zoom vertical range", dtype=STRING),
                             DatasetSpec("light", "", "signal (laser on) | dark (laser off)", dtype=STRING),
                             DatasetSpec("acquisition", "", "acquisition index", dtype="i8"),
                             DatasetSpec("volts", "V", "output photodiode, averaged", shape=(n,)),
                             DatasetSpec("clipped", "", "sample at an ADC rail (1) or not (0)", dtype="u1",
                                         shape=(n,)),
                             DatasetSpec("scale", "V", "vertical scale per division"),
                             DatasetSpec("offset", "V", "vertical offset")],
                  signal="volts", axes=[".", "time"], fixed={"time": (times, "s")},
                  title="averaged output traces in two vertical ranges"),
    )
    total = 2 * (p["acquisitions"] + 1)
    with ScanSession(bench, store, KIND, p, PARAMETERS, groups, default="traces", progress=progress,
                     title=TITLE) as scan:
        tx.leave_dark(scan)
        scan.progress.start(total, "leakage light")
        for light in ("dark", "signal"):
            tx.light(light == "signal")
            scan.wait(0.1)
            for name, (scale, offset) in ranges.items():
                channel.scale = scale
                channel.offset = offset
                for index in range(1 if light == "dark" else p["acquisitions"]):
                    trace = scan.measure(f"{light} {name} acquisition {index}",
                                         lambda: scope.acquire(inputs, averages=p["averages"], **window)[p["input"]])
                    if trace is not None:
                        scan.append("traces", range=name, light=light, acquisition=index, volts=trace.volts,
                                    clipped=trace.clipped.astype(np.uint8), scale=scale, offset=offset)
                    else:
                        scan.progress.advance()
    return scan.summary()


def _zoom_range(floor_v: float) -> tuple[float, float]:
    """Scale/offset that put the inter-pulse level at a quarter of the screen height."""
    scale = max(abs(floor_v) / 2.0, 1e-3)
    return scale, floor_v + 2.0 * scale


def leakage_ratio(run: RunData) -> float | None:
    """Mean inter-pulse power over mean in-pulse power (quick look; dark-subtracted, unclipped samples)."""
    traces = LeakageTraces.from_run(run)

    def mean_trace(name: str, light: str) -> np.ndarray | None:
        mask = traces.select(name, light)
        return traces.volts[mask].mean(axis=0) if mask.any() else None

    full, zoom = mean_trace("full", "signal"), mean_trace("zoom", "signal")
    dark_full, dark_zoom = mean_trace("full", "dark"), mean_trace("zoom", "dark")
    if full is None or zoom is None:
        return None
    full = full - (dark_full if dark_full is not None else 0.0)
    zoom = zoom - (dark_zoom if dark_zoom is not None else 0.0)
    pulse_level = float(full[traces.in_pulse].mean())
    return float(zoom[traces.between].mean()) / pulse_level if pulse_level > 0 else None


def quicklook(run: RunData) -> dict[str, str]:
    """Headline numbers: inter-pulse over in-pulse power (the dynamic extinction ratio)."""
    ratio = leakage_ratio(run)
    if ratio is None or ratio <= 0:
        return {}
    return {"inter-pulse / pulse power": f"{ratio:.3g} ({-linear_to_db(ratio):.1f} dB)"}


def plot(run: RunData, fig: Any) -> None:
    """The full-range and zoomed traces (clipped samples hidden), with the dark baselines."""
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    times = run.data("traces", "time").to("ns").magnitude
    ranges = np.asarray(run.data("traces", "range")).astype(str)
    lights = np.asarray(run.data("traces", "light")).astype(str)
    volts = run.data("traces", "volts").to("mV").magnitude
    clipped = run.data("traces", "clipped").magnitude.astype(bool)
    for ax, name in ((ax1, "full"), (ax2, "zoom")):
        for light, style in (("signal", "-"), ("dark", ":")):
            mask = (ranges == name) & (lights == light)
            if not mask.any():
                continue
            trace = volts[mask].mean(axis=0)
            trace = np.where(clipped[mask].any(axis=0), np.nan, trace)
            ax.plot(times, trace, style, lw=0.9, label=f"{light}")
        ax.set_ylabel("photodiode (mV)")
        ax.set_title(f"{name} range" + (" (pulses clipped, not drawn)" if name == "zoom" else ""))
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper right", fontsize="small")
    ax2.set_xlabel("time after the pulse clock (ns)")
    fig.suptitle(f"{run.path.name} {run.name}: leakage light — " +
                 ", ".join(f"{k} {v}" for k, v in quicklook(run).items()))
