"""Extinction-ratio and leakage-light runs -> the leakage light as a coherent state, and ε_leak.

The inter-pulse light of a pulse slot carries ρ = (leak energy per slot) / (pulse energy) times
the signal's mean photon number: μ_leak = ρ μ_signal, with μ_signal the operating intensity the
user states. Two measurements of ρ, both with duty cycle d = pulse width / period:

- extinction-ratio run (slow power meter): the inter-pulse light sees the bias alone, so its
  power is P_null (static, drive off) and, with pulses carved, P_pulsed = d P_pulse + (1 - d) P_null:
  ρ = (1 - d) P_null / (P_pulsed - (1 - d) P_null). Upper bound from one-sided Student-t bounds
  on the repeated readings (P_null high, P_pulsed low; the expression is monotone in both).
- leakage-light run (scope): ρ = (1 - d)/d × (mean zoomed level between pulses) / (mean level
  within the pulse window), dark-subtracted, one value per acquisition, Student-t upper bound
  over acquisitions. The pulse window includes the pulse edges, which lowers the in-pulse mean
  and so errs on the high side of ρ (conservative).

The larger upper bound wins; both are recorded. The static extinction ratio (peak over null,
lower bound) is reported too. ε_leak (background §3.2): against a vacuum reference the leak
state |α_j> of a setting has 1 - |<0|α_j>|² = 1 - exp(-μ_leak) ≤ μ_leak, for every setting; it lives
in temporal modes of its own, so it enters ε by the product rule (Currás-Lorenzo et al. 2025,
App. A.2). For the MDI analysis the model keeps the leak's time profile and the phase-modulator
geometry (Bourassa et al., PRA 106, 062618 (2022), App. D) that shape its polarization/phase.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import CalibrationError
from ..model import Bound, EpsilonPart, LeakageModel
from ..store import RunData
from ..transmitter import LeakageTraces
from .provenance import run_provenance
from .stats import mean_bounds

__all__ = ["calibrate_leakage"]


def _from_extinction_run(run: RunData, failure: float) -> tuple[float, float, Bound]:
    """(ρ, ρ upper bound, static ER in dB with its lower bound) from the operating readings."""
    if run.kind != "extinction-ratio":
        raise CalibrationError(f"{run.path} {run.name}: a {run.kind} run is not an extinction-ratio run")
    states = np.asarray(run.data("operating", "state")).astype(str)
    power = run.data("operating", "power").to("W").magnitude
    readings = {name: power[states == name] for name in ("peak", "null", "null_pulsed")}
    if any(v.size < 2 for v in readings.values()):
        raise CalibrationError(f"{run.path} {run.name}: need at least two readings at peak, null and null with "
                               "pulses to bound the leakage light")
    d = float(run.parameter("pulse_duty_cycle"))
    share = failure / 3
    null, _, null_hi = mean_bounds(readings["null"], share, "upper")
    pulsed, pulsed_lo, _ = mean_bounds(readings["null_pulsed"], share, "lower")
    peak, peak_lo, _ = mean_bounds(readings["peak"], share, "lower")
    if pulsed - (1 - d) * null <= 0 or pulsed_lo - (1 - d) * null_hi <= 0:
        raise CalibrationError(f"{run.path} {run.name}: the pulsed power does not exceed the inter-pulse light; "
                               "the pulses were not carved (check the AWG drive and the bias lock)")
    rho = (1 - d) * null / (pulsed - (1 - d) * null)
    rho_upper = (1 - d) * null_hi / (pulsed_lo - (1 - d) * null_hi)
    er = Bound(value=10 * math.log10(peak / null), lower=10 * math.log10(max(peak_lo, 1e-300) / null_hi), unit="dB",
               failure_probability=2 * share, method="peak over null power, one-sided Student-t bounds",
               provenance=run_provenance(run, method="static extinction ratio"))
    return rho, rho_upper, er


def _from_scope_run(run: RunData, failure: float) -> tuple[float, float, np.ndarray, np.ndarray]:
    """(ρ, ρ upper bound, times within one period, profile relative to the pulse level)."""
    if run.kind != "leakage-light":
        raise CalibrationError(f"{run.path} {run.name}: a {run.kind} run is not a leakage-light run")
    traces = LeakageTraces.from_run(run)
    times, period, d = traces.times, traces.period, traces.duty
    volts, clipped = traces.volts, traces.clipped
    in_pulse, between = traces.in_pulse, traces.between

    def dark(name: str) -> np.ndarray:
        mask = traces.select(name, "dark")
        return volts[mask].mean(axis=0) if mask.any() else np.zeros(times.size)

    full = volts[traces.select("full", "signal")] - dark("full")
    zoom_mask = traces.select("zoom", "signal")
    zoom = volts[zoom_mask] - dark("zoom")
    if full.shape[0] < 2 or zoom.shape[0] < 2:
        raise CalibrationError(f"{run.path} {run.name}: need at least two acquisitions in each vertical range")
    usable = between & ~clipped[zoom_mask].any(axis=0)
    if usable.sum() < 5:
        raise CalibrationError(f"{run.path} {run.name}: fewer than 5 unclipped samples between pulses in the zoomed "
                               "range; the vertical range did not capture the inter-pulse level")
    pulse_level = full[:, in_pulse].mean(axis=1)
    if np.any(pulse_level <= 0):
        raise CalibrationError(f"{run.path} {run.name}: no pulse in the full-range traces")
    pairs = min(full.shape[0], zoom.shape[0])
    ratios = (1 - d) / d * zoom[:pairs, usable].mean(axis=1) / pulse_level[:pairs]
    rho, _, rho_upper = mean_bounds(ratios, failure, "upper")
    level = zoom.mean(axis=0)
    profile = np.where(clipped[zoom_mask].any(axis=0), full.mean(axis=0), level) / float(pulse_level.mean())
    first = times < times[0] + period
    return rho, rho_upper, np.mod(times[first], period), profile[first]


def calibrate_leakage(er_run: RunData | None, leak_run: RunData | None, *, mean_photon_number: float,
                      failure_probability: float) -> tuple[LeakageModel, EpsilonPart]:
    """The leakage model and ε_leak from whichever of the two runs are given (see the module docstring)."""
    if er_run is None and leak_run is None:
        raise CalibrationError("leakage light: give an extinction-ratio run, a leakage-light run, or both")
    share = failure_probability / ((er_run is not None) + (leak_run is not None))
    estimates: dict[str, tuple[float, float]] = {}
    er_bound = None
    times: tuple[float, ...] = ()
    profile: tuple[float, ...] = ()
    provenance = []
    if er_run is not None:
        rho, upper, er_bound = _from_extinction_run(er_run, share)
        estimates["extinction-ratio"] = (rho, upper)
        provenance.append(run_provenance(er_run, method="ρ = (1-d) P_null / (P_pulsed - (1-d) P_null)"))
    if leak_run is not None:
        rho, upper, t, prof = _from_scope_run(leak_run, share)
        estimates["leakage-light"] = (rho, upper)
        times, profile = tuple(float(x) for x in t), tuple(float(x) for x in prof)
        provenance.append(run_provenance(leak_run, method="ρ = (1-d)/d × zoomed inter-pulse / in-pulse level"))
    source = max(estimates, key=lambda k: estimates[k][1])
    rho, rho_upper = estimates[source]
    method = f"larger upper bound of {sorted(estimates)} ({source}); Student-t, failure split equally"
    origin = run_provenance(*(r for r in (er_run, leak_run) if r is not None), method=method)
    relative = Bound(value=rho, upper=rho_upper, failure_probability=failure_probability, method=method,
                     provenance=origin)
    mu = Bound(value=rho * mean_photon_number, upper=rho_upper * mean_photon_number,
               failure_probability=failure_probability, method=f"μ_leak = ρ × μ_signal ({mean_photon_number}); " + method,
               provenance=origin)

    def geometry(name: str) -> float | None:
        if leak_run is None or leak_run.parameters.get(name) is None:
            return None
        return float(leak_run.parameter(name).to("s").magnitude)

    model = LeakageModel(
        mean_photons_per_slot=mu, relative_energy=relative, extinction_ratio_db=er_bound, times_s=times,
        profile=profile, pm_electrode_transit_s=geometry("pm_electrode_transit"),
        drive_pulse_width_s=geometry("drive_pulse_width"),
        faraday_mirror=bool(leak_run.parameter("faraday_mirror")) if leak_run is not None else False,
        provenance=tuple(provenance))
    part = EpsilonPart(
        name="leakage_light", upper=-math.expm1(-mu.upper), degree_of_freedom="own-mode", inventory="measured",
        failure_probability=failure_probability,
        provenance=origin,
        method="ε_leak = 1 - exp(-μ_leak^U) (vacuum reference)",
        details={f"rho_{k}": v[0] for k, v in estimates.items()} | {f"rho_upper_{k}": v[1] for k, v in estimates.items()}
        | {"mean_photon_number_signal": mean_photon_number})
    return model, part
