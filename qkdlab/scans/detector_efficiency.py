"""Detector-efficiency scan: efficiency versus gate delay per detector, with light of known μ.

Set-up: the transmitter carves pulses (IM bias locked at the null, the AWG drives one pulse per
slot at ``pulse_rate``); the output-tap power meter reads the average output power; a fixed
attenuator and a VOA bring the pulses to the single-photon level at the detectors.

The mean photon number per pulse at a detector input is

    μ = P_monitor · 10^(-(L + A_VOA)/10) / (f_pulse · h c / λ)

with ``L = monitor_to_detector_loss`` the bench's calibrated loss from the monitor reading to a
detector input with the VOA at 0 dB (tap ratio, fixed attenuator, splitter), ``A_VOA`` the VOA
setting and λ the laser wavelength. The scan sets ``A_VOA`` so that μ ≈ ``target_mu`` and
records the calibration (monitor readings before and after, the VOA setting, μ). The average
power includes the inter-pulse leakage light, so μ is slightly overestimated (by about
(1 - d)/(d·ER), 1.4 % for d = 0.1 and 28 dB); the extinction-ratio run lets calibration correct it.

Then, for each detector and each gate delay: detections and gates with the light on, then with
the VOA shutter closed (dark counts at the same delay, interleaved so slow drifts cancel).
``qkdlab.calibration`` turns these into η(delay) = -ln[(1 - p)/(1 - p_dark)]/μ with
Clopper–Pearson intervals — the time-mode dependence behind efficiency mismatch. The click
probability per gate p is the observed one corrected for the (non-paralysable) dead time τ:
after a click the next ``B = τ · f_gate`` gates are blind, so the observed fraction is
``p_obs = p / (1 + p B)`` and ``p = p_obs / (1 - p_obs B)``; the dead time and the integration
time (``f_gate`` = gates / integration) are recorded per point for that reason.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.constants import c as LIGHT_SPEED
from scipy.constants import h as PLANCK

from ..errors import ConfigError
from ..store import STRING, DataGroup, DatasetSpec, RunData, RunSummary, Store
from .base import Parameter, PowerReader, Progress, ScanSession, instrument, resolve_parameters
from .transmitter import Transmitter, transmitter_parameters

KIND = "detector-efficiency"
TITLE = "Detection efficiency versus gate delay, per detector"

PARAMETERS = (
    Parameter("detectors", "spd1, spd2", "detectors to scan", type=str, multiple=True),
    *transmitter_parameters("laser", "laser_power", "bias_controller", "awg", "awg_filter", "awg_sync_output", "im_channel", "carving_voltage",
                            "pulse_rate"),
    Parameter("monitor", "pm_monitor", "power meter at the output tap", type=str),
    Parameter("monitor_to_detector_loss", None,
              "calibrated loss from the monitor reading to a detector input, VOA at 0 dB", unit="dB"),
    Parameter("voa", "voa", "variable attenuator before the detectors", type=str),
    Parameter("target_mu", 0.2, "mean photon number per pulse wanted at each detector", unit=""),
    Parameter("delay_start", 0.0, "first gate delay", unit="s"),
    Parameter("delay_stop", 10e-9, "last gate delay", unit="s"),
    Parameter("delay_step", 0.1e-9, "gate delay step", unit="s"),
    Parameter("integration", 0.2, "counter integration time per reading", unit="s"),
    Parameter("calibration_readings", 10, "monitor readings before and after the delay scans", type=int),
    Parameter("averaging", 0.1, "power-meter averaging per reading", unit="s"),
)

GROUPS = (
    DataGroup("delays", [DatasetSpec("detector", "", "detector name", dtype=STRING),
                         DatasetSpec("delay", "s", "gate (trigger) delay"),
                         DatasetSpec("detections", "count", "detections with light"),
                         DatasetSpec("gates", "count", "gates applied with light"),
                         DatasetSpec("dark_detections", "count", "detections with the VOA shutter closed"),
                         DatasetSpec("dark_gates", "count", "gates applied with the shutter closed"),
                         DatasetSpec("mu", "", "mean photon number per pulse at the detector input"),
                         DatasetSpec("dead_time", "s", "detector dead time after a detection"),
                         DatasetSpec("integration", "s", "counter integration time of each reading")],
              signal="detections", axes=["delay"], title="counts versus gate delay"),
    DataGroup("calibration", [DatasetSpec("when", "", "before | after the delay scans", dtype=STRING),
                              DatasetSpec("monitor_power", "W", "output-tap power reading"),
                              DatasetSpec("voa_attenuation", "dB", "VOA attenuation that mu refers to"),
                              DatasetSpec("mu", "", "mean photon number per pulse at a detector input")],
              signal="mu", title="mean photon number calibration"),
)


def mean_photon_number(monitor_w: float, loss_db: float, rate_hz: float, wavelength_m: float) -> float:
    """μ per pulse at a detector input from the monitor reading (see the module docstring)."""
    return monitor_w * 10.0 ** (-loss_db / 10.0) / (rate_hz * PLANCK * LIGHT_SPEED / wavelength_m)


def run_detector_efficiency(bench: Any, store: Store, *, progress: Progress | None = None,
                            **params: Any) -> RunSummary:
    """Run the detector-efficiency scan on ``bench`` into ``store``; returns the finished run's summary."""
    p = resolve_parameters(KIND, PARAMETERS, bench.config.scans.get(KIND), params)
    if p["monitor_to_detector_loss"] is None:
        raise ConfigError("detector-efficiency: monitor_to_detector_loss is not set; measure the loss (dB) from "
                          "the output-tap power-meter reading to a detector input with the VOA at 0 dB and give "
                          "it with --monitor-to-detector-loss or in the bench config's scans section")
    if p["delay_step"] <= 0 or p["delay_stop"] < p["delay_start"] or not p["detectors"]:
        raise ValueError("detector-efficiency: need delay_step > 0, delay_stop >= delay_start and a detector")
    detectors = {name: instrument(bench, name, "single-photon detector", "detectors") for name in p["detectors"]}
    tx = Transmitter(bench, p)
    voa = instrument(bench, p["voa"], "attenuator", "voa")
    monitor = PowerReader(bench, p["monitor"], "monitor")
    delays = np.arange(p["delay_start"], p["delay_stop"] + 0.5 * p["delay_step"], p["delay_step"])
    total = 2 * p["calibration_readings"] + len(detectors) * delays.size
    with ScanSession(bench, store, KIND, p, PARAMETERS, GROUPS, default="delays", progress=progress,
                     title=TITLE) as scan:
        scan.progress.start(total, "detector efficiency")
        monitor.set_averaging(p["averaging"])
        voa.shutter_open = False
        scan.on_exit("close the VOA shutter", lambda: setattr(voa, "shutter_open", False))
        tx.leave_dark(scan)
        tx.light()
        wavelength = float(tx.laser.wavelength.to("m").magnitude)
        tx.carve()

        def calibrate(when: str, attenuation: float | None) -> float:
            """Read the monitor; return μ at VOA 0 dB (the mean of the readings)."""
            values = []
            for _ in range(p["calibration_readings"]):
                power = scan.measure("monitor power", monitor.read)
                if power is None:
                    scan.progress.advance()
                    continue
                mu0 = mean_photon_number(power, p["monitor_to_detector_loss"], p["pulse_rate"], wavelength)
                att = attenuation if attenuation is not None else 0.0  # before: μ referred to the VOA at 0 dB
                scan.append("calibration", when=when, monitor_power=power, voa_attenuation=att,
                            mu=mu0 * 10 ** (-att / 10))
                values.append(mu0)
            if not values:
                raise RuntimeError("detector-efficiency: no monitor reading succeeded; cannot calibrate μ")
            return float(np.mean(values))

        mu0 = calibrate("before", None)
        attenuation = round(max(0.0, 10 * math.log10(mu0 / p["target_mu"])), 2)
        voa.attenuation = attenuation
        mu = mu0 * 10 ** (-attenuation / 10)
        for name, detector in detectors.items():
            detector.integration_time = p["integration"]
            seconds = float(detector.integration_time.to("s").magnitude)
            dead_time = float(detector.dead_time.to("s").magnitude)
            for delay in delays:
                def counts(d: float = float(delay)) -> tuple[int, ...]:
                    detector.trigger_delay = d
                    voa.shutter_open = True
                    light = _counts(detector, seconds)
                    voa.shutter_open = False
                    return (*light, *_counts(detector, seconds))

                result = scan.measure(f"{name} counts at delay {delay * 1e9:.2f} ns", counts)
                if result is not None:
                    scan.append("delays", detector=name, delay=delay, detections=result[0], gates=result[1],
                                dark_detections=result[2], dark_gates=result[3], mu=mu,
                                dead_time=dead_time, integration=seconds)
                else:
                    scan.progress.advance()
        calibrate("after", attenuation)
    return scan.summary()


def _counts(detector: Any, seconds: float) -> tuple[int, int]:
    """(detections, gates) in one integration window, from the rates the counters report."""
    detections = detector.read_counter("detection").value.to("Hz").magnitude * seconds
    gates = detector.read_counter("gate").value.to("Hz").magnitude * seconds
    return int(round(detections)), int(round(gates))


def dead_time_corrected(observed: np.ndarray, blind_gates: np.ndarray) -> np.ndarray:
    """Click probability per gate from the observed fraction, with ``blind_gates`` gates lost per click."""
    return observed / np.clip(1.0 - observed * blind_gates, 1e-12, None)


def efficiency_estimate(run: RunData) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per detector: (delays in s, point estimates of η) — the quick look, without intervals."""
    names = np.asarray(run.data("delays", "detector")).astype(str)
    delay = run.data("delays", "delay").to("s").magnitude
    c = run.data("delays", "detections").magnitude
    n = run.data("delays", "gates").magnitude
    dc = run.data("delays", "dark_detections").magnitude
    dn = run.data("delays", "dark_gates").magnitude
    mu = run.data("delays", "mu").magnitude
    blind = run.data("delays", "dead_time").to("s").magnitude * n / run.data("delays", "integration").to("s").magnitude
    out = {}
    for name in dict.fromkeys(names):
        m = names == name
        click = np.clip(dead_time_corrected(c[m] / np.maximum(n[m], 1), blind[m]), 0, 1 - 1e-12)
        dark = np.clip(dead_time_corrected(dc[m] / np.maximum(dn[m], 1), blind[m]), 0, 1 - 1e-12)
        out[str(name)] = (delay[m], np.clip(-np.log((1 - click) / (1 - dark)) / mu[m], 0, None))
    return out


def quicklook(run: RunData) -> dict[str, str]:
    """Headline numbers: the peak efficiency and its delay per detector."""
    out = {}
    for name, (delay, eta) in efficiency_estimate(run).items():
        if eta.size:
            i = int(np.argmax(eta))
            out[name] = f"η_max {eta[i]:.3f} at {delay[i] * 1e9:.2f} ns"
    return out


def plot(run: RunData, fig: Any) -> None:
    """Efficiency versus gate delay per detector, with the dark-count probability."""
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
    names = np.asarray(run.data("delays", "detector")).astype(str)
    delay_all = run.data("delays", "delay").to("s").magnitude
    dark_p = run.data("delays", "dark_detections").magnitude / np.maximum(run.data("delays", "dark_gates").magnitude, 1)
    for name, (delay, eta) in efficiency_estimate(run).items():
        ax1.plot(delay * 1e9, eta, ".-", label=name)
        m = names == name
        seen = m & (dark_p > 0)
        line = ax2.semilogy(delay_all[seen] * 1e9, dark_p[seen], ".", alpha=0.5)[0]
        ax2.axhline(dark_p[m].mean(), color=line.get_color(), label=f"{name}: mean {dark_p[m].mean():.2g}")
    ax1.set_xlabel("gate delay (ns)")
    ax1.set_ylabel("detection efficiency η (fraction)")
    ax1.set_title(f"efficiency (μ = {float(np.mean(run.data('delays', 'mu').magnitude)):.3f} per pulse)")
    ax1.grid(True, alpha=0.3)
    ax1.legend()
    ax2.set_xlabel("gate delay (ns)")
    ax2.set_ylabel("dark-count probability per gate")
    ax2.set_title("dark counts (readings with none not shown)")
    ax2.legend(fontsize="small")
    ax2.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"{run.path.name} {run.name}: detector efficiency — " +
                 "; ".join(f"{k} {v}" for k, v in quicklook(run).items()))
