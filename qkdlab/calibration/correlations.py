"""Pulse-correlation run -> ε_l per lag, the correlation length and ε_correl.

What is bounded (Currás-Lorenzo et al. 2025, App. A.3, Eq. A6): for a pulse with setting j_k,
the overlap between its states when the setting l pulses back differs, |<ψ_{..j̃_{k-l}..}|ψ_{..j_{k-l}..}>|²
≥ 1 - ε_l; then ε_correl = 1 - Π_l (1 - ε_l) (Eq. A8), a part acting on the qubit's degree of
freedom. qkdlab measures the history-dependent *phase* of each pulse (the encoded degree of
freedom): two phase states (|e> + e^{iφ}|l>)/√2 differing by Δφ have fidelity cos²(Δφ/2), so
ε_l = sin²(Δφ_l^U / 2) with Δφ_l^U an upper confidence bound on the largest phase change caused by
the setting l pulses back. Intensity changes per lag are reported separately (decoy-state
intensity-correlation analyses need them; they do not change a single-photon qubit).

From read-outs to phases. Each pulse gives an interferometer integral over an output integral,
q = K r with r = ½[1 + 𝒱 cos ψ] the fringe (𝒱 and the settings' fringe phases ψ_j come from the
phase-modulation calibration) and K an unknown gain ratio, fitted by least squares over the
settings' mean read-outs. Read-out intervals are inverted exactly through the fringe,
ψ = ±arccos((2r - 1)/𝒱) on the setting's branch; near a fringe extremum a single read-out
cannot resolve phase (an interval that reaches the extremum covers both branches), so the scan
records a second quadrature (every PM level shifted by a drive offset q, which moves the fringe
phases but not the history-dependent drive change ΔV). A phase change measured at drive V + q is
referred to the operating drive V by ψ'(V)/ψ'(V + q) (first order in ΔV, ψ' from the fit); for
each pair of histories the tighter of the two quadratures' bounds is kept.

Statistics: every (setting, full history) occurs once per pattern, so each acquisition gives one
read-out per cell; cell means over acquisitions, with the read-out noise variance pooled over all
cells (Student t, dof = cells × (acquisitions - 1)). For lag l, cells are compared in pairs that
differ only in the setting l pulses back; the largest |difference| plus t·√2·SE bounds the
largest change, with the failure probability split (Bonferroni) over every pair compared.
``length`` l_c is the largest lag with a pair whose lower bound on |difference| is above zero;
``resolution`` is the smallest phase change the data could exclude (the bound at zero difference
for the best-resolved setting).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np

from ..errors import CalibrationError
from ..model import Bound, Correlations, EpsilonPart
from ..store import RunData
from ..transmitter import drive_levels, nominal_phases
from .provenance import run_provenance
from .stats import t_quantile

__all__ = ["calibrate_correlations"]


def calibrate_correlations(run: RunData, *, visibility: float, fringe_phase_at: Callable[[np.ndarray], np.ndarray],
                           failure_probability: float, resolution_floor: float = 0.0) -> tuple[Correlations, EpsilonPart]:
    """ε_l per lag and the pulse-correlation ε part (see the module docstring).

    ``fringe_phase_at(V)``: the fringe phase ψ at a PM drive V, and ``visibility`` 𝒱 — both from
    the phase-modulation calibration (``PhaseCalibration.fringe_phase_at``).
    """
    if run.kind != "pulse-correlations":
        raise CalibrationError(f"{run.path} {run.name}: a {run.kind} run cannot give pulse correlations")
    protocol = str(run.parameter("protocol"))
    levels = drive_levels(nominal_phases(protocol)[1], float(run.parameter("vpi_nominal").to("V").magnitude))
    n_phase = levels.size
    acquisition = run.data("pulses", "acquisition").magnitude.astype(int)
    offset = (run.data("pulses", "drive_offset").to("V").magnitude if "drive_offset" in run.groups["pulses"]
              else np.zeros(acquisition.size))  # runs recorded before the second quadrature existed
    acquisition = run.data("pulses", "acquisition").magnitude.astype(int)
    setting = run.data("pulses", "setting").magnitude.astype(int)
    history = run.data("pulses", "history").magnitude.astype(int)
    energy = run.data("pulses", "energy").magnitude
    interference = run.data("pulses", "interference").magnitude
    quadratures = sorted(set(np.round(offset, 9).tolist()))
    for q in quadratures:
        if np.unique(acquisition[np.isclose(offset, q)]).size < 2:
            raise CalibrationError(f"{run.path} {run.name}: fewer than two acquisitions at drive offset {q:g} V; at "
                                   "least two are needed to estimate the read-out noise")
    if np.any(energy <= 0):
        raise CalibrationError(f"{run.path} {run.name}: pulses with no energy; the pulses were not carved")
    lags = history.shape[1]
    step = 1e-3
    slope_operating = (np.asarray(fringe_phase_at(levels + step)) - np.asarray(fringe_phase_at(levels - step))) / (2 * step)

    # per quadrature: the read-out gain K and each cell's phase range, referred to the operating drive
    n_cells = len({(round(o, 9), s, *h) for o, s, h in zip(offset, setting, map(tuple, history))})
    share = failure_probability / (2 * n_cells + 2 * len(quadratures))
    ranges: dict[tuple[int, ...], list[tuple[float, float, float, float]]] = {}
    energy_mean: dict[tuple[int, ...], float] = {}
    best_resolution = math.inf
    for q in quadratures:
        mask = np.isclose(offset, q)
        psi = np.asarray(fringe_phase_at(levels + q), dtype=float)
        slope_here = (np.asarray(fringe_phase_at(levels + q + step)) - np.asarray(fringe_phase_at(levels + q - step))) / (2 * step)
        to_operating = np.abs(slope_operating / slope_here)  # ψ'(V)/ψ'(V + q): the same drive change, in phase
        readout = interference[mask] / energy[mask]
        fringe = 0.5 * (1 + visibility * np.cos(psi))
        phase_of = setting[mask] % n_phase
        means = np.array([readout[phase_of == j].mean() for j in range(n_phase)])
        usable = fringe >= 0.25  # settings well away from the dark fringe give stable gain estimates
        gains = means[usable] / fringe[usable] if usable.any() else means / np.maximum(fringe, 1e-3)
        gain_range = (float(gains.min()), float(np.median(gains)), float(gains.max()))
        cells: dict[tuple[int, ...], list[float]] = {}
        cell_energy: dict[tuple[int, ...], list[float]] = {}
        for s_, h, value, e in zip(setting[mask], history[mask], readout, energy[mask]):
            key = (int(s_), *map(int, h))
            cells.setdefault(key, []).append(float(value))
            cell_energy.setdefault(key, []).append(float(e))
        counts = np.array([len(v) for v in cells.values()])
        if counts.min() < 2:
            raise CalibrationError(f"{run.path} {run.name}: some histories were seen only once at drive offset {q:g} V; "
                                   "record more acquisitions")
        pooled = float(np.sum([np.var(v, ddof=1) * (len(v) - 1) for v in cells.values()]) / np.sum(counts - 1))
        t = t_quantile(share, int(np.sum(counts - 1)), "two")
        branch = np.where(np.sin(psi) >= 0, 1.0, -1.0)
        for key, values in cells.items():
            j = key[0] % n_phase
            mean = float(np.mean(values))
            half = t * math.sqrt(pooled / len(values))
            # one phase interval per candidate gain: a pair shares its gain, so pairs compare like with like
            per_gain = tuple(_phase_interval(mean / g, half / g, visibility, branch[j]) for g in gain_range)
            ranges.setdefault(key, []).append((per_gain, float(to_operating[j])))
            if q == 0.0:
                energy_mean[key] = float(np.mean(cell_energy[key]))
        best_resolution = min(best_resolution, float(t * math.sqrt(2 * pooled / counts.mean())
                                                     / (0.5 * visibility * np.max(np.abs(np.sin(psi)))
                                                        * np.min(np.abs(slope_here)) / np.max(np.abs(slope_operating)))))
    deviations, epsilons, intensity, significant = [], [], [], []
    for lag in range(lags):
        groups: dict[tuple[int, ...], list[tuple[int, ...]]] = {}
        for key in ranges:
            groups.setdefault(key[:1 + lag] + key[2 + lag:], []).append(key)
        pairs = [pair for members in groups.values() for pair in itertools.combinations(members, 2)]
        if not pairs:
            raise CalibrationError(f"{run.path} {run.name}: no two histories differ only at lag {lag + 1}")
        best_upper = best_point = best_lower = 0.0
        worst_intensity = 0.0
        for a, b in pairs:
            upper, point, lower, resolved = math.inf, 0.0, 0.0, -math.inf
            for (gains_a, fa), (gains_b, _) in zip(ranges[a], ranges[b]):
                # this quadrature's phase change, referred to the operating drive, worst case over the
                # gain range; the tightest upper and the largest lower bound of the quadratures both hold
                q_upper = max(fa * max(abs(ha - lb), abs(hb - la)) for (_, la, ha), (_, lb, hb) in zip(gains_a, gains_b))
                q_lower = min(fa * max(0.0, la - hb, lb - ha) for (_, la, ha), (_, lb, hb) in zip(gains_a, gains_b))
                (pa, la, ha), (pb, lb, hb) = gains_a[1], gains_b[1]
                upper = min(upper, q_upper)
                lower = max(lower, q_lower)
                width = fa * ((ha - la) + (hb - lb))
                if -width > resolved:
                    resolved, point = -width, fa * abs(pa - pb)
            best_upper, best_point, best_lower = max(best_upper, upper), max(best_point, point), max(best_lower, lower)
            if a in energy_mean and b in energy_mean:
                worst_intensity = max(worst_intensity, abs(energy_mean[a] - energy_mean[b])
                                      / max(0.5 * (energy_mean[a] + energy_mean[b]), 1e-300))
        if best_lower > 0:
            significant.append(lag + 1)
        upper = min(max(best_upper, resolution_floor), math.pi)
        deviations.append(Bound(value=best_point, lower=best_lower, upper=upper, unit="rad",
                                failure_probability=failure_probability,
                                method="largest phase change between histories differing at this lag; exact fringe "
                                       "inversion of pooled Student-t read-out intervals, the better of two "
                                       "quadratures (Bonferroni over cells and quadratures)"))
        epsilons.append(math.sin(upper / 2) ** 2)
        intensity.append(worst_intensity)
    eps_correl = 1.0 - float(np.prod([1.0 - e for e in epsilons]))
    provenance = run_provenance(run, method="history-conditioned interferometer read-outs through the fitted fringe, "
                                   f"{len(quadratures)} quadrature(s)")
    correlations = Correlations(length=max(significant, default=0), epsilon_per_lag=tuple(epsilons),
                                phase_deviation_per_lag=tuple(deviations), intensity_deviation=tuple(intensity),
                                resolution=best_resolution, provenance=provenance)
    part = EpsilonPart(name="pulse_correlations", upper=min(eps_correl, 1.0), degree_of_freedom="qubit",
                       inventory="measured", failure_probability=failure_probability, provenance=provenance,
                       method="ε_l = sin²(Δφ_l^U/2), ε_correl = 1 - Π(1 - ε_l) (App. A.3, Eqs. A6-A8)",
                       details={"lags_measured": lags, "epsilon_per_lag": list(epsilons),
                                "resolution_rad": best_resolution, "quadratures_v": [float(q) for q in quadratures]})
    return correlations, part


def _phase_interval(mean: float, half: float, visibility: float, branch: float) -> tuple[float, float, float]:
    """Fringe phase (point, low, high) for a read-out r ∈ [mean - half, mean + half].

    The phase is measured from the fringe maximum on the setting's branch (``branch`` = sign of
    sin ψ): ψ = branch · arccos((2r - 1)/𝒱). An interval that reaches an extremum of the fringe
    cannot tell the two branches apart, so its phase range extends over both sides of it.
    """
    def theta(r: float) -> float:
        return math.acos(min(max((2 * r - 1) / visibility, -1.0), 1.0))

    low_r, high_r = mean - half, mean + half
    thetas = sorted((theta(low_r), theta(high_r)))  # θ decreases as r grows
    point = branch * theta(mean)
    if (2 * high_r - 1) / visibility >= 1.0:      # reaches the maximum (θ = 0): both signs possible
        return point, -thetas[1], thetas[1]
    if (2 * low_r - 1) / visibility <= -1.0:      # reaches the minimum (θ = π): wraps past π
        span = (thetas[0], 2 * math.pi - thetas[0])
        return point, *(span if branch > 0 else (-span[1], -span[0]))
    ends = sorted((branch * thetas[0], branch * thetas[1]))
    return point, ends[0], ends[1]
