"""Mode-dependence run -> a conservative bound on 1 - F between each setting's optical mode and a reference mode.

What is bounded. A single photon of setting j is |φ_j⟩ ⊗ |m_j⟩: the encoded qubit (phase between
time bins) times the pulse's temporal/spectral mode m_j, which the encoding should leave alone but
which a modulator can move — a drive-dependent delay τ_j, a chirp that offsets the carrier by
Δν_j. With a setting-independent reference mode m_ref, |⟨φ_j, m_ref|φ_j, m_j⟩|² = |⟨m_ref|m_j⟩|²,
so the mode is a tensor factor of its own: the part enters ε as **own-mode** (Currás-Lorenzo et
al. 2025, App. A.2, Eqs. A3-A4: "temporal/spectral/spatial mode dependencies ... can also be
written in the form of Eqs. (A2) and (A3)"; fidelities multiply), ε_MD = max_j (1 - |⟨m_ref|m_j⟩|²).

Assumption (stated in the part's method): the setting displaces one common mode f in time and
frequency, m_j = exp(-i(τ_j Ω - ω_j T)) f (Ω the angular-frequency and T the time operator,
ω_j = 2πΔν_j); the pulse shape itself does not depend on the setting. (The widths used are the
largest over the settings, so a setting that only broadens its pulse is still covered through
σ; a setting-dependent change of shape at equal widths is outside this bound.) Under it, with the
displacement generator G = Δτ Ω - Δω T relative to the reference, the Mandelstam-Tamm bound
|⟨f|e^{-iG}|f⟩| ≥ cos(ΔG) (ΔG ≤ π/2) and ΔG ≤ |Δτ| σ_Ω + |Δω| σ_T (Cauchy-Schwarz; σ_Ω, σ_T the
rms angular-frequency and time widths of f) give

    1 - F_j ≤ sin²(min(|Δτ_j| σ_Ω + |Δω_j| σ_T, π/2)),

with no assumption on f's spectral phase (a chirped f has a larger σ_Ω, which the OSA sees).
Intensity traces alone could never bound F from above (measurements only lower fidelities), so
the widths are what make the bound possible: the time trace gives |Δτ| (centroid shifts) and σ_T,
the spectrum gives |Δω| (centroid shifts) and σ_Ω. ``docs/mode-dependence-derivation.md`` has the
derivation and the comparison with the exact Gaussian case, 1 - F = 1 - exp(-Var G), which the
bound exceeds at most by the cross term 2|Δτ Δω| σ_T σ_Ω.

From the data, conservatively:

- centroids: per repeat, each setting's centroid minus the mean over settings (a drift common to
  the repeat cancels); Student-t intervals over repeats; the reference is the midpoint of the
  extreme estimates; |Δ| ≤ |estimate - reference| + t·SE;
- σ_T: rms width of the dark- and leakage-subtracted scope trace over the pulse window, plus
  dt²/12 for the sampling; a scope's finite bandwidth convolves the intensity with its impulse
  response, which only *adds* variance (conservative);
- σ_Ω: the OSA reads the spectrum convolved with its resolution filter, whose variance adds; the
  filter variance is subtracted only down to its lower bound ((1 - tol)·FWHM/2.3548)², and the
  inter-pulse leakage (a narrow line carrying a fraction w of the light, measured on the scope
  between pulses) can only narrow the spectrum, so σ_pulse² ≤ σ_measured²/(1 - w);
- one-sided Student-t upper bounds on both widths per setting (the largest is used) and on the
  leakage share; the failure probability is split (Bonferroni) over the 2J centroid intervals,
  the 2J width bounds and the leakage share.

Resolution: a time trace whose sample interval exceeds a tenth of the pulse's rms width, or a
spectrum whose resolution filter accounts for more than 80 % of the measured spectral variance
(a filter rms width above twice the pulse's: the subtraction would then dominate σ_Ω),
cannot resolve the mode and is refused (``CalibrationError`` naming the numbers and the fix).
With no true displacement, the bound is at most the *resolution floor*
sin²(2 (t·SE_τ σ_Ω + t·SE_ω σ_T)) (the estimates within their intervals of zero; the factor 2 for
the reference chosen between them), which the part records.

The time tagger's detection-time histogram is a second, independent read-out of the delays
(detector jitter blurs the histogram but does not move its centroid); its interval is recorded and
a disagreement with the scope is noted, but it does not enter the bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import CalibrationError
from ..model import EpsilonPart
from ..store import RunData
from .provenance import run_provenance
from .stats import t_quantile

__all__ = ["TraceMoments", "SpectrumMoments", "ModeDependenceBound", "trace_moments", "spectrum_moments",
           "histogram_centroid", "bound_mode_dependence", "calibrate_mode_dependence", "FWHM_PER_SIGMA",
           "LIGHT_SPEED"]

LIGHT_SPEED = 299792458.0
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
#: A trace must sample the pulse at least this finely: sample interval ≤ rms width / this.
SAMPLES_PER_WIDTH = 10.0
#: The resolution filter may account for at most this fraction of the measured spectral variance.
MAX_FILTER_SHARE = 0.8


@dataclass(frozen=True)
class TraceMoments:
    """One averaged pulse trace: centroid (s), rms-width² (s²) and the leakage share of the light."""

    centroid: float
    variance: float
    leak_fraction: float


@dataclass(frozen=True)
class SpectrumMoments:
    """One spectrum: centroid offset (Hz, from the axis centre) and the measured variance (Hz²)."""

    centroid: float
    variance: float


@dataclass(frozen=True)
class ModeDependenceBound:
    """The bound and its ingredients (per setting, in the order of ``labels``)."""

    labels: tuple[str, ...]
    upper: float
    estimate: float
    per_setting_upper: tuple[float, ...]
    delay_upper_s: tuple[float, ...]
    shift_upper_hz: tuple[float, ...]
    delay_estimate_s: tuple[float, ...]
    shift_estimate_hz: tuple[float, ...]
    sigma_t_upper_s: float
    sigma_nu_upper_hz: float
    reference_delay_s: float
    reference_shift_hz: float
    resolution_floor: float
    consistent_with_zero: bool
    failure_probability: float


def trace_moments(times: np.ndarray, volts: np.ndarray, dark: np.ndarray, *, pulse_start: float,
                  pulse_width: float, period: float, margin: float) -> TraceMoments:
    """Moments of one pulse from a scope trace covering at least one period.

    The leakage level is the median of the dark-subtracted trace between the pulse window
    ``[pulse_start - margin, pulse_start + pulse_width + margin)`` and the next pulse's window;
    it is subtracted inside the window, where the centroid and variance are taken.
    """
    t = np.asarray(times, dtype=float)
    y = np.asarray(volts, dtype=float) - np.asarray(dark, dtype=float)
    if t.shape != y.shape or t.ndim != 1:
        raise CalibrationError(f"scope trace of {y.size} samples does not match its time axis of {t.size}")
    lo, hi = pulse_start - margin, pulse_start + pulse_width + margin
    inside = (t >= lo) & (t < hi)
    outside = (t >= hi) & (t < lo + period)  # between this pulse and the next
    if inside.sum() < 4 or outside.sum() < 4:
        raise CalibrationError(f"the scope trace ({t[0]:.3g}..{t[-1]:.3g} s) does not cover the pulse window "
                               f"[{lo:.3g}, {hi:.3g}) s and the light between pulses; record at least one pulse period")
    level = float(np.median(y[outside]))
    dt = float(np.median(np.diff(t)))
    w = y[inside] - level
    ti = t[inside]
    energy = float(w.sum())
    if energy <= 0:
        raise CalibrationError("a scope trace shows no pulse above the light between pulses; the pulses were not carved")
    centroid = float((w * ti).sum() / energy)
    variance = float((w * (ti - centroid) ** 2).sum() / energy) + dt * dt / 12.0
    leak = max(level, 0.0) * (period - pulse_width) / dt
    return TraceMoments(centroid, variance, leak / (leak + energy))


def spectrum_moments(wavelengths: np.ndarray, power: np.ndarray, dark: np.ndarray) -> SpectrumMoments:
    """Centroid (Hz, relative to the frequency of the axis centre) and variance (Hz²) of a dark-subtracted spectrum."""
    lam = np.asarray(wavelengths, dtype=float)
    p = np.asarray(power, dtype=float) - np.asarray(dark, dtype=float)
    if lam.shape != p.shape or lam.ndim != 1:
        raise CalibrationError(f"OSA trace of {p.size} points does not match its wavelength axis of {lam.size} points")
    nu = LIGHT_SPEED / lam - LIGHT_SPEED / float(lam[lam.size // 2])
    weight = p * LIGHT_SPEED / lam**2  # readings are point values of a density in λ; dν = c dλ / λ²
    total = float(weight.sum())
    if total <= 0:
        raise CalibrationError("an OSA trace shows no light above the dark trace; check the OSA input and the span")
    centroid = float((weight * nu).sum() / total)
    return SpectrumMoments(centroid, float((weight * (nu - centroid) ** 2).sum() / total))


def histogram_centroid(bin_times: np.ndarray, counts: np.ndarray, half_window: float) -> float:
    """Centroid (s) of a detection-time histogram within ± ``half_window`` of its peak, background removed."""
    t = np.asarray(bin_times, dtype=float)
    c = np.asarray(counts, dtype=float)
    peak = float(t[int(np.argmax(c))])
    inside = np.abs(t - peak) <= half_window
    background = float(np.median(c[~inside])) if (~inside).any() else 0.0
    w = np.clip(c[inside] - background, 0.0, None)
    if w.sum() <= 0:
        raise CalibrationError("a time-tagger histogram holds no detections above its background")
    return float((w * t[inside]).sum() / w.sum())


def _relative(values: np.ndarray) -> np.ndarray:
    """Per repeat (columns), each setting's value minus the mean over settings (rows)."""
    return values - values.mean(axis=0, keepdims=True)


def _intervals(values: np.ndarray, quantile: float) -> tuple[np.ndarray, np.ndarray]:
    """(mean, half-width) per setting of settings × repeats values relative to the settings' mean."""
    rel = _relative(values)
    se = rel.std(axis=1, ddof=1) / math.sqrt(values.shape[1])
    return rel.mean(axis=1), quantile * se


def bound_mode_dependence(labels: tuple[str, ...], traces: list[list[TraceMoments]],
                          spectra: list[list[SpectrumMoments]], *, sample_interval: float,
                          filter_fwhm_hz: float, filter_tolerance: float, failure_probability: float) -> ModeDependenceBound:
    """The bound of the module docstring from per-setting, per-repeat moments (settings × repeats)."""
    n_set = len(labels)
    if n_set < 2:
        raise CalibrationError("mode dependence needs at least two settings to compare")
    if len(traces) != n_set or len(spectra) != n_set:
        raise CalibrationError(f"moments for {len(traces)} traces and {len(spectra)} spectra, but {n_set} settings")
    repeats = min(min(len(r) for r in traces), min(len(r) for r in spectra))
    if repeats < 2:
        raise CalibrationError("mode dependence needs at least two repeats per setting (the noise is estimated "
                               "from their spread); rerun the scan with --repeats 2 or more")
    tau = np.array([[m.centroid for m in row[:repeats]] for row in traces])
    var_t = np.array([[m.variance for m in row[:repeats]] for row in traces])
    leak = np.array([[m.leak_fraction for m in row[:repeats]] for row in traces])
    nu = np.array([[m.centroid for m in row[:repeats]] for row in spectra])
    var_nu = np.array([[m.variance for m in row[:repeats]] for row in spectra])
    pieces = 4 * n_set + 1  # centroids (2 per setting), widths (2 per setting), the leakage share
    share = failure_probability / pieces
    q_two = t_quantile(share, repeats - 1, "two")
    q_one = t_quantile(share, repeats - 1, "upper")

    def upper(values: np.ndarray) -> float:
        """The largest per-setting one-sided upper bound on the mean over repeats."""
        return float(np.max(values.mean(axis=1) + q_one * values.std(axis=1, ddof=1) / math.sqrt(repeats)))

    sigma_t2 = upper(var_t)
    if sample_interval > math.sqrt(max(sigma_t2, 0.0)) / SAMPLES_PER_WIDTH:
        raise CalibrationError(f"the scope's sample interval {sample_interval * 1e12:.3g} ps is coarser than the pulse's "
                               f"rms width {math.sqrt(sigma_t2) * 1e12:.3g} ps / {SAMPLES_PER_WIDTH:g}; record the "
                               "traces with more points per pulse")
    filter_var = (filter_fwhm_hz / FWHM_PER_SIGMA) ** 2
    measured_nu2 = upper(var_nu)
    if (1.0 - filter_tolerance) ** 2 * filter_var > MAX_FILTER_SHARE * measured_nu2:
        raise CalibrationError(f"the OSA resolution ({filter_fwhm_hz / 1e9:.3g} GHz FWHM) is coarser than the pulse "
                               f"spectrum it must resolve (measured rms width {math.sqrt(measured_nu2) / 1e9:.3g} GHz, "
                               f"filter ≥ {MAX_FILTER_SHARE:.0%} of it); use a finer resolution")
    leak_upper = min(upper(leak), 0.5)
    sigma_nu2 = (measured_nu2 - (1.0 - filter_tolerance) ** 2 * filter_var) / (1.0 - leak_upper)
    sigma_t = math.sqrt(sigma_t2)
    sigma_omega = 2.0 * math.pi * math.sqrt(sigma_nu2)

    d_tau, h_tau = _intervals(tau, q_two)
    d_nu, h_nu = _intervals(nu, q_two)
    ref_tau = 0.5 * (d_tau.max() + d_tau.min())
    ref_nu = 0.5 * (d_nu.max() + d_nu.min())
    tau_up = np.abs(d_tau - ref_tau) + h_tau
    nu_up = np.abs(d_nu - ref_nu) + h_nu
    theta = tau_up * sigma_omega + 2.0 * math.pi * nu_up * sigma_t
    per = np.sin(np.minimum(theta, math.pi / 2)) ** 2
    theta_hat = np.abs(d_tau - ref_tau) * sigma_omega + 2.0 * math.pi * np.abs(d_nu - ref_nu) * sigma_t
    floor_theta = 2.0 * (h_tau.max() * sigma_omega + 2.0 * math.pi * h_nu.max() * sigma_t)
    return ModeDependenceBound(
        labels=tuple(labels), upper=float(per.max()),
        estimate=float(np.sin(np.minimum(theta_hat, math.pi / 2)).max() ** 2),
        per_setting_upper=tuple(float(v) for v in per), delay_upper_s=tuple(float(v) for v in tau_up),
        shift_upper_hz=tuple(float(v) for v in nu_up), delay_estimate_s=tuple(float(v) for v in d_tau - ref_tau),
        shift_estimate_hz=tuple(float(v) for v in d_nu - ref_nu), sigma_t_upper_s=sigma_t,
        sigma_nu_upper_hz=math.sqrt(sigma_nu2), reference_delay_s=float(ref_tau),
        reference_shift_hz=float(ref_nu), resolution_floor=float(math.sin(min(floor_theta, math.pi / 2)) ** 2),
        consistent_with_zero=bool(np.all(np.abs(d_tau) <= h_tau) and np.all(np.abs(d_nu) <= h_nu)),
        failure_probability=failure_probability)


def calibrate_mode_dependence(run: RunData, *, failure_probability: float,
                              filter_tolerance: float | None = None) -> tuple[ModeDependenceBound, EpsilonPart]:
    """The mode-dependence ε part from a ``mode-dependence`` run (see the module docstring)."""
    if run.kind != "mode-dependence":
        raise CalibrationError(f"{run.path} {run.name}: a {run.kind} run cannot give mode dependence")
    where = f"{run.path} {run.name}"
    labels = tuple(str(v) for v in np.atleast_1d(run.parameter("labels")))
    tol = _parameter(run, "osa_filter_tolerance", "") if filter_tolerance is None else filter_tolerance
    period = 1.0 / _parameter(run, "pulse_rate", "Hz")
    width = _parameter(run, "pulse_duty_cycle", "") * period
    start = _parameter(run, "trigger_delay", "s")
    margin = _parameter(run, "window_margin", "s")
    resolution = _parameter(run, "osa_resolution", "m")

    times = _data(run, "traces", "time", "s")
    trace_setting = run.data("traces", "setting").magnitude.astype(int)
    trace_repeat = run.data("traces", "repeat").magnitude.astype(int)
    volts = _data(run, "traces", "intensity", "V")
    lam = _data(run, "spectra", "wavelength", "m")
    spec_setting = run.data("spectra", "setting").magnitude.astype(int)
    spec_repeat = run.data("spectra", "repeat").magnitude.astype(int)
    power = _data(run, "spectra", "power", "W")
    if power.ndim != 2 or power.shape[1] != lam.size:
        raise CalibrationError(f"{where}: OSA traces of {power.shape[-1]} points do not match the wavelength axis of "
                               f"{lam.size} points; the run is damaged or was written by another program")
    missing = [labels[j] for j in range(len(labels))
               if not np.any(trace_setting == j) or not np.any(spec_setting == j)]
    if missing:
        raise CalibrationError(f"{where}: no traces or spectra for setting(s) {missing}; the scan ended early — rerun "
                               "it (every setting needs its traces and spectra)")
    dark_trace = _mean_dark(volts, trace_setting, where, "scope")
    dark_spec = _mean_dark(power, spec_setting, where, "OSA")
    dt = float(np.median(np.diff(times)))
    trace_rows = [[trace_moments(times, volts[i], dark_trace, pulse_start=start, pulse_width=width, period=period,
                                 margin=margin) for i in np.flatnonzero(trace_setting == j)[np.argsort(trace_repeat[trace_setting == j])]]
                  for j in range(len(labels))]
    spec_rows = [[spectrum_moments(lam, power[i], dark_spec)
                  for i in np.flatnonzero(spec_setting == j)[np.argsort(spec_repeat[spec_setting == j])]]
                 for j in range(len(labels))]
    centre = float(lam[lam.size // 2])
    fwhm_hz = LIGHT_SPEED * resolution / centre**2
    try:
        result = bound_mode_dependence(labels, trace_rows, spec_rows, sample_interval=dt, filter_fwhm_hz=fwhm_hz,
                                       filter_tolerance=tol, failure_probability=failure_probability)
    except CalibrationError as exc:
        raise CalibrationError(f"{where}: {exc}") from None
    details: dict[str, float | str | bool | list[float]] = {
        "estimate": result.estimate, "resolution_floor": result.resolution_floor,
        "consistent_with_zero": result.consistent_with_zero, "per_setting_upper": list(result.per_setting_upper),
        "delay_upper_s": list(result.delay_upper_s), "frequency_shift_upper_hz": list(result.shift_upper_hz),
        "sigma_t_upper_s": result.sigma_t_upper_s, "sigma_nu_upper_hz": result.sigma_nu_upper_hz,
        "reference_delay_s": result.reference_delay_s, "reference_shift_hz": result.reference_shift_hz,
        "osa_resolution_m": resolution, "osa_filter_tolerance": tol, "scope_sample_interval_s": dt}
    details.update(_tagger_check(run, labels))
    part = EpsilonPart(
        name="mode_dependence", upper=result.upper, degree_of_freedom="own-mode", inventory="measured",
        failure_probability=failure_probability,
        provenance=run_provenance(run, method="1 - F ≤ sin²(|Δτ|σ_Ω + |Δω|σ_T): centroids and widths of scope "
                                              "traces and OSA spectra (one mode displaced in time and frequency)"),
        method="Mandelstam-Tamm bound on a time-frequency displacement; Student-t, Bonferroni", details=details)
    return result, part


def _parameter(run: RunData, name: str, unit: str) -> float:
    """A scan parameter as a float in ``unit`` (plain numbers for dimensionless ones)."""
    value = run.parameter(name)
    return float(value.to(unit).magnitude if hasattr(value, "to") else value)


def _data(run: RunData, group: str, name: str, unit: str) -> np.ndarray:
    """A dataset in ``unit``; a dataset in another kind of unit is refused with its name."""
    try:
        return np.asarray(run.data(group, name).to(unit).magnitude, dtype=float)
    except Exception as exc:  # pint's DimensionalityError, or a missing dataset
        raise CalibrationError(f"{run.path} {run.name}: {group}/{name} cannot be read in {unit} ({exc}); the run was "
                               "not written by the mode-dependence scan") from None


def _mean_dark(rows: np.ndarray, setting: np.ndarray, where: str, what: str) -> np.ndarray:
    dark = rows[setting < 0]
    if dark.size == 0:
        raise CalibrationError(f"{where}: no dark {what} trace; rerun the scan (it records one with the laser off)")
    return dark.mean(axis=0)


def _tagger_check(run: RunData, labels: tuple[str, ...]) -> dict[str, float | str | bool | list[float]]:
    """The time tagger's delays per setting (relative to the settings' mean), as a cross-check."""
    if "histograms" not in run.groups:
        return {}
    bins = _data(run, "histograms", "delay", "s")
    setting = run.data("histograms", "setting").magnitude.astype(int)
    counts = run.data("histograms", "counts").magnitude
    half = _parameter(run, "window_margin", "s") + _parameter(run, "pulse_duty_cycle", "") / _parameter(
        run, "pulse_rate", "Hz")
    try:
        rows = [[histogram_centroid(bins, counts[i], half) for i in np.flatnonzero(setting == j)]
                for j in range(len(labels))]
    except CalibrationError as exc:
        return {"tagger_check": f"not available: {exc}"}
    repeats = min(len(r) for r in rows)
    if repeats < 2:
        return {}
    rel = _relative(np.array([r[:repeats] for r in rows]))
    return {"tagger_delay_s": [float(v) for v in rel.mean(axis=1)],
            "tagger_delay_se_s": [float(v) for v in rel.std(axis=1, ddof=1) / math.sqrt(repeats)]}
