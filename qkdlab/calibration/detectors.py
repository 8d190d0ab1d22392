"""Detector-efficiency run -> the receiver's ``DetectorTable`` (η per detector and gate delay).

Model (the scan's, ``qkdlab.scans.detector_efficiency``): every gate is an independent trial
(i.i.d. gates) in which a threshold detector clicks with probability

    p = 1 - (1 - p_d) · exp(-η μ),

with p_d the dark-click probability per gate, μ the mean photon number per pulse at the detector
input (Poissonian light) and η the detection efficiency for light in the gate's temporal mode.
Hence

    η = -ln[(1 - p)/(1 - p_d)] / μ.

Dead time is non-paralysable: after a click the next B = τ · f_gate gates are blind (τ the
recorded dead time, f_gate = gates / integration), so the observed fraction is
p_obs = p/(1 + pB) and p = p_obs/(1 - p_obs B), an increasing map; bounds on p_obs map to bounds
on p. Clicks are counted as binomial in the gates (Clopper-Pearson on p_obs). For a real
non-paralysable detector the click count is a renewal process whose variance,
n p (1 - p)/(1 + pB)³, is *below* the binomial one, so the binomial interval is conservative there.

Bounds, each with the method named in its ``Bound.method``:

- p and p_d per detector and delay: two-sided Clopper-Pearson on the light and dark readings
  (``stats.clopper_pearson``), mapped through the dead-time correction;
- μ: the monitor readings before and after the delay scans, each converted to μ at the scan's
  VOA setting (before: P_i · μ_scan / mean(P_before), which is how the scan computed μ_scan; after:
  as recorded). A two-sided Student-t interval on the mean of each group (each spending half of
  μ's share), and the μ interval is their union [min of lowers, max of uppers]. Assumption: the
  pulse energy during the delay scans lies between its values before and after (monotone drift);
  the union covers that whole range — a deliberately conservative choice, since the readings of
  one group alone would not cover a drift. ``mu_leakage_allowance`` a ≥ 0 lowers the lower bound
  to μ_lo/(1 + a): the monitor's average power includes the inter-pulse leakage light, so the
  monitor-derived μ overestimates the pulse μ by the leakage's relative energy, ≈ (1 - d)/(d·ER)
  (1.4 % for duty cycle d = 0.1 and ER = 28 dB); pass an upper bound on it (e.g. the leakage-light
  calibration's ``relative_energy.upper``). The point value stays the monitor-derived mean, as in
  the scan's quick look. With the default a = 0 the η upper bounds are biased low by that
  fraction: on the simulated bench (1.4 %), 1 s readings and κ = 0.01, some central η interval
  missed the truth for 4 of 40 seeds with a = 0, none with a = 0.0143;
- η: η is increasing in p, decreasing in p_d and (for p ≥ p_d) decreasing in μ, so
  η_lo = max(0, -ln[(1 - p_lo)/(1 - p_d,hi)]) / μ_hi and
  η_hi = min(1, max(0, -ln[(1 - p_hi)/(1 - p_d,lo)]) / μ_lo) hold whenever the bounds on p, p_d
  and μ hold;
- the dark probability per detector (``DetectorTable.dark_probability``): all its dark readings
  pooled, two-sided Clopper-Pearson, dead-time corrected (assumes p_d does not depend on delay);
- ``mismatch_ratio`` r = η_min/η_max over the detectors at the operating delay, bounded by
  min_i η_lo,i / max_i η_hi,i ≤ r ≤ min(1, min_i η_hi,i / max_i η_lo,i) (no extra budget: it holds
  whenever the efficiency bounds at that delay hold).

Failure probability (Bonferroni): with N points (detector × delay), D detectors, the run makes
K = 2N + D + 1 bounds — p and p_d at every point, the pooled p_d per detector, and μ — and each
spends κ/K. All bounds of the table then hold together with probability ≥ 1 - κ; an η bound
spends 3κ/K (p, p_d and μ), the mismatch ratio at most (2D + 1)κ/K.

Operating delay (unless given): the recorded delay that maximises the smaller of the detectors'
point estimates of η. ``two_mode`` is the Table-I form [[η1, η2], [η2, η1]] (η1 ≥ η2; Zhang et
al., PRR 3, 013076 (2021)) taken at the most adverse delay: among the delays where the larger
point estimate is at least ``min_relative_efficiency`` of the overall peak (an Eve who shifts the
light's arrival can reach any of them while the detectors still see light), the one minimising
η2_lo/η1_hi, with η1 = the larger detector's upper bound and η2 = the smaller one's lower bound:
the most mismatch the confidence intervals allow. The cut excludes delays where both detectors
are nearly blind, where the ratio is dominated by dark counts and tells nothing about the light.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import CalibrationError, DataError
from ..model import Bound, DetectorTable
from ..store import RunData
from .provenance import run_provenance
from .stats import clopper_pearson, mean_bounds

__all__ = ["KIND", "calibrate_detectors"]

KIND = "detector-efficiency"
_DELAY_RESOLUTION_S = 1e-12  # delays closer than this are the same delay


def _corrected(p_obs: float, blind: float) -> float:
    """Dead-time corrected click probability p = p_obs/(1 - p_obs B), clipped to [0, 1]."""
    denominator = 1.0 - p_obs * blind
    if denominator <= 0.0:
        return 1.0
    return min(max(p_obs / denominator, 0.0), 1.0)


def _log_ratio(p: float, p_dark: float) -> float:
    """-ln[(1 - p)/(1 - p_d)] (inf when p = 1)."""
    if p >= 1.0:
        return math.inf
    return -math.log1p(-p) + math.log1p(-p_dark)


def calibrate_detectors(run: RunData, *, failure_probability: float, operating_delay_s: float | None = None,
                        min_relative_efficiency: float = 0.1, mu_leakage_allowance: float = 0.0) -> DetectorTable:
    """The detector table of a detector-efficiency run, with bounds (see the module docstring).

    ``failure_probability`` κ is split equally (Bonferroni) over every bound made;
    ``operating_delay_s`` is matched to the nearest recorded delay (within half a step);
    ``min_relative_efficiency`` limits the delays considered for ``two_mode``;
    ``mu_leakage_allowance`` is the relative overestimate of μ allowed for the leakage light.
    """
    where = f"{run.path} {run.name}"
    if run.kind != KIND:
        raise CalibrationError(f"{where}: a {run.kind} run cannot give detector efficiencies "
                               f"(it needs a {KIND} run)")
    if not 0.0 < failure_probability < 1.0:
        raise CalibrationError(f"{where}: failure probability {failure_probability} must be in (0, 1)")
    if not 0.0 <= min_relative_efficiency <= 1.0:
        raise CalibrationError(f"{where}: min_relative_efficiency {min_relative_efficiency} must be in [0, 1]")
    if not mu_leakage_allowance >= 0.0:
        raise CalibrationError(f"{where}: mu_leakage_allowance {mu_leakage_allowance} must be >= 0")

    try:
        names = np.asarray(run.data("delays", "detector")).astype(str)
        delay = np.asarray(run.data("delays", "delay").to("s").magnitude, dtype=float)
        clicks = np.asarray(run.data("delays", "detections").magnitude, dtype=float)
        gates = np.asarray(run.data("delays", "gates").magnitude, dtype=float)
        dark_clicks = np.asarray(run.data("delays", "dark_detections").magnitude, dtype=float)
        dark_gates = np.asarray(run.data("delays", "dark_gates").magnitude, dtype=float)
        mu_scan = np.asarray(run.data("delays", "mu").magnitude, dtype=float)
        dead_time = np.asarray(run.data("delays", "dead_time").to("s").magnitude, dtype=float)
        integration = np.asarray(run.data("delays", "integration").to("s").magnitude, dtype=float)
        when = np.asarray(run.data("calibration", "when")).astype(str)
        power = np.asarray(run.data("calibration", "monitor_power").to("W").magnitude, dtype=float)
        cal_mu = np.asarray(run.data("calibration", "mu").magnitude, dtype=float)
    except DataError as exc:
        raise CalibrationError(f"{where}: not a usable detector-efficiency run ({exc})") from None

    # -- points: (detector, delay) with their counts pooled over repeated readings ------------
    bad = np.flatnonzero((gates <= 0) | (dark_gates <= 0) | (integration <= 0))
    if bad.size:
        i = int(bad[0])
        raise CalibrationError(f"{where}: zero gates for {names[i]} at delay {delay[i] * 1e9:.3f} ns "
                               f"({int(gates[i])} gates with light, {int(dark_gates[i])} dark); "
                               "the detector was not gated — check its trigger and gate frequency")
    detectors = tuple(dict.fromkeys(names.tolist()))
    if not detectors:
        raise CalibrationError(f"{where}: the run has no delay readings")
    key = np.round(delay / _DELAY_RESOLUTION_S).astype(np.int64)
    per_detector: dict[str, set[int]] = {}
    for name in detectors:
        keys = set(key[names == name].tolist())
        if len(keys) < 3:
            raise CalibrationError(f"{where}: detector {name} has readings at {len(keys)} delay(s); at least 3 "
                                   "are needed to see the efficiency's delay dependence (rerun the scan over a "
                                   "wider delay range)")
        per_detector[name] = keys
    common = sorted(set.intersection(*per_detector.values()))
    if len(common) < 3:
        raise CalibrationError(f"{where}: only {len(common)} delay(s) were read for every detector; at least 3 "
                               "common delays are needed for the table")
    delays_s = tuple(float(np.mean(delay[key == k])) for k in common)
    n_points = len(detectors) * len(common)

    # -- Bonferroni --------------------------------------------------------------------------------
    n_bounds = 2 * n_points + len(detectors) + 1
    share = failure_probability / n_bounds

    # -- μ -------------------------------------------------------------------------------------------
    mu, mu_lo, mu_hi, mu_method = _mu_bounds(where, when, power, cal_mu, mu_scan, share, mu_leakage_allowance)

    # -- per point -----------------------------------------------------------------------------------
    cp = "two-sided Clopper-Pearson on the counts, dead-time corrected p = p_obs/(1 - p_obs B)"
    eta_rows: list[tuple[Bound, ...]] = []
    eta_values = np.zeros((len(detectors), len(common)))
    dark_bounds: list[Bound] = []
    eta_method = (f"η = -ln[(1 - p)/(1 - p_d)]/μ; {cp} for p and p_d (each κ/K), μ: {mu_method}; "
                  "η_lo from (p_lo, p_d,hi, μ_hi), η_hi from (p_hi, p_d,lo, μ_lo) (monotonicity), clipped to [0, 1]; "
                  f"K = {n_bounds} bounds (Bonferroni)")
    for row, name in enumerate(detectors):
        m_det = names == name
        bounds = []
        for col, k in enumerate(common):
            m = m_det & (key == k)
            c, n = round(float(clicks[m].sum())), round(float(gates[m].sum()))
            dc, dn = round(float(dark_clicks[m].sum())), round(float(dark_gates[m].sum()))
            blind = float(np.average(dead_time[m] * gates[m] / integration[m], weights=gates[m]))
            dark_blind = float(np.average(dead_time[m] * dark_gates[m] / integration[m], weights=dark_gates[m]))
            p = _corrected(c / n, blind)
            p_lo_obs, p_hi_obs = clopper_pearson(c, n, share, "two")
            p_lo, p_hi = _corrected(p_lo_obs, blind), _corrected(p_hi_obs, blind)
            pd = _corrected(dc / dn, dark_blind)
            pd_lo_obs, pd_hi_obs = clopper_pearson(dc, dn, share, "two")
            pd_lo, pd_hi = _corrected(pd_lo_obs, dark_blind), _corrected(pd_hi_obs, dark_blind)
            lower = max(0.0, _log_ratio(p_lo, pd_hi)) / mu_hi
            upper = min(1.0, max(0.0, _log_ratio(p_hi, pd_lo)) / mu_lo) if mu_lo > 0 else 1.0
            lower = min(lower, 1.0)
            value = min(max(_log_ratio(p, pd) / mu, 0.0), 1.0)
            eta_values[row, col] = value
            bounds.append(Bound(value=value, lower=lower, upper=upper, unit="",
                                failure_probability=3 * share, method=eta_method))
        eta_rows.append(tuple(bounds))
        # pooled dark probability of this detector
        dc, dn = round(float(dark_clicks[m_det].sum())), round(float(dark_gates[m_det].sum()))
        dark_blind = float(np.average(dead_time[m_det] * dark_gates[m_det] / integration[m_det],
                                      weights=dark_gates[m_det]))
        lo_obs, hi_obs = clopper_pearson(dc, dn, share, "two")
        dark_bounds.append(Bound(value=_corrected(dc / dn, dark_blind), lower=_corrected(lo_obs, dark_blind),
                                 upper=_corrected(hi_obs, dark_blind), unit="", failure_probability=share,
                                 method=f"dark-click probability per gate, all {len(common)} dark readings of "
                                        f"{name} pooled ({dc} clicks in {dn} gates); {cp}; κ/K, K = {n_bounds}"))

    # -- operating delay --------------------------------------------------------------------------
    worst = eta_values.min(axis=0)
    if operating_delay_s is None:
        op = int(np.argmax(worst))
        op_how = "the delay maximising the smaller point estimate of η"
    else:
        distances = np.abs(np.asarray(delays_s) - operating_delay_s)
        op = int(np.argmin(distances))
        step = float(np.median(np.diff(delays_s)))
        if distances[op] > 0.5 * step + _DELAY_RESOLUTION_S:
            raise CalibrationError(f"{where}: operating delay {operating_delay_s * 1e9:.3f} ns was not scanned "
                                   f"(delays {delays_s[0] * 1e9:.3f}-{delays_s[-1] * 1e9:.3f} ns, step "
                                   f"{step * 1e9:.3f} ns)")
        op_how = "the stated operating delay (nearest recorded delay)"
    at_op = [eta_rows[i][op] for i in range(len(detectors))]
    values = [b.value for b in at_op]
    ratio_value = min(values) / max(values) if max(values) > 0 else 0.0
    lows = [b.lower if b.lower is not None else 0.0 for b in at_op]
    highs = [b.upper if b.upper is not None else 1.0 for b in at_op]
    ratio_lo = min(lows) / max(highs) if max(highs) > 0 else 0.0
    ratio_hi = min(1.0, min(highs) / max(lows)) if max(lows) > 0 else 1.0
    mismatch = Bound(value=ratio_value, lower=ratio_lo, upper=ratio_hi, unit="",
                     failure_probability=min(1.0, (2 * len(detectors) + 1) * share),
                     method=(f"η_min/η_max at {delays_s[op] * 1e9:.3f} ns ({op_how}); bounds "
                             "min η_lo/max η_hi and min η_hi/max η_lo from the efficiency bounds at that delay"),
                     provenance=run_provenance(run, method="detector-efficiency mismatch at the operating delay"))

    # -- the Table-I two-mode form at the most adverse delay ----------------------------------------
    peak = float(eta_values.max())
    best: tuple[float, float, float] | None = None
    for col in range(len(common)):
        larger, smaller = int(np.argmax(eta_values[:, col])), int(np.argmin(eta_values[:, col]))
        if peak <= 0 or eta_values[larger, col] < min_relative_efficiency * peak:
            continue
        eta1 = eta_rows[larger][col].upper
        eta2 = eta_rows[smaller][col].lower
        eta1 = 1.0 if eta1 is None else eta1
        eta2 = 0.0 if eta2 is None else min(eta2, eta1)
        ratio = eta2 / eta1 if eta1 > 0 else 1.0
        if best is None or ratio < best[0]:
            best = (ratio, eta1, eta2)
    if best is None:
        raise CalibrationError(f"{where}: no delay shows a detector efficiency above zero; "
                               "the detectors saw no light (check the VOA, the gate delays and the fibres)")
    _, eta1, eta2 = best
    two_mode = ((eta1, eta2), (eta2, eta1))

    method = (f"detector table: η per detector and gate delay ({eta_method}); dark probability pooled per detector; "
              f"operating delay {delays_s[op] * 1e9:.3f} ns ({op_how}); two_mode = Table-I form at the most "
              f"adverse delay with the larger η ≥ {min_relative_efficiency:g} of the peak (η1 = upper bound of the "
              "larger, η2 = lower bound of the smaller); total failure probability "
              f"{failure_probability:g} split over K = {n_bounds} bounds")
    return DetectorTable(
        detectors=detectors, delays_s=delays_s, efficiency=tuple(eta_rows), dark_probability=tuple(dark_bounds),
        operating_delay_s=delays_s[op], mismatch_ratio=mismatch, two_mode=two_mode,
        provenance=run_provenance(run, method=method))


def _mu_bounds(where: str, when: np.ndarray, power: np.ndarray, cal_mu: np.ndarray, mu_scan: np.ndarray,
               failure: float, allowance: float) -> tuple[float, float, float, str]:
    """(μ, μ_lo, μ_hi, method) from the calibration readings (see the module docstring)."""
    if power.size == 0 or mu_scan.size == 0:
        raise CalibrationError(f"{where}: no μ calibration readings (the run's calibration group is empty); "
                               "the mean photon number cannot be bounded — rerun the scan")
    scan_mu = float(np.median(mu_scan))
    if not scan_mu > 0:
        raise CalibrationError(f"{where}: the scan's mean photon number is {scan_mu}; it must be positive")
    before = when == "before"
    after = when == "after"
    if before.sum() < 2:
        raise CalibrationError(f"{where}: {int(before.sum())} μ calibration reading(s) before the delay scans; "
                               "at least 2 are needed for a Student-t bound on μ")
    groups = {"before": power[before] * scan_mu / float(np.mean(power[before]))}
    if after.sum() >= 2:
        groups["after"] = cal_mu[after]
    each = failure / len(groups)
    lows, highs, readings = [], [], []
    for values in groups.values():
        _, lo, hi = mean_bounds(values, each, "two")
        lows.append(lo)
        highs.append(hi)
        readings.extend(values.tolist())
    mu = float(np.mean(readings))
    mu_lo = min(lows) / (1.0 + allowance)
    mu_hi = max(highs)
    if not mu_lo > 0:
        raise CalibrationError(f"{where}: the μ calibration readings do not bound μ away from zero "
                               f"(lower bound {mu_lo:.3g}); check the monitor power meter")
    method = (f"μ from the monitor readings ({' and '.join(f'{len(v)} {k}' for k, v in groups.items())} the scans), "
              f"union of two-sided Student-t intervals per group (covers the drift between them), "
              f"κ/K split over the groups")
    if "after" not in groups:
        method += "; no readings after the scans: a drift during the scans is not covered"
    if allowance > 0:
        method += f"; lower bound divided by 1 + {allowance:g} (leakage light in the monitor's average power)"
    return mu, mu_lo, mu_hi, method
