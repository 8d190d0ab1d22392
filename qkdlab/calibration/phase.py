"""Phase-modulation run -> the encoded phases of the settings, the qubit states and the flaw δ.

Model of the interferometric read-out (both outputs of the characterization interferometer,
so laser power drifts cancel):

    r(V) = P1 / (P1 + P2) = ½ [1 + 𝒱 cos ψ(V)],   ψ(V) = π V / Vπ + a V² + c

with visibility 𝒱, half-wave voltage Vπ, quadratic nonlinearity a and an offset c that lumps the
modulator's static phase and the interferometer's (unknown, irrelevant) reference phase. The sweep
is fitted by least squares (``scipy.optimize.curve_fit``), the covariance scaled by the residual
variance (independent Gaussian reading noise assumed).

Each setting's fringe phase ψ_j is then measured directly from its repeated readings: the mean
r̄_j inverted through the fitted visibility, cos ψ_j = (2 r̄_j - 1)/𝒱, on the branch (sign of
sin ψ) that the fitted curve gives at the setting's drive. The encoded phase relative to the
first setting is φ_j = ψ_j - ψ_0 (c cancels). Uncertainties: Monte Carlo over the fitted
parameters (Gaussian with the fit covariance) and the setting means (Student t), giving a
standard deviation per quantity, turned into a two-sided bound with a normal quantile at the
failure probability split equally (Bonferroni) over the settings and δ. Near a fringe extremum
the inversion is insensitive and the interval widens accordingly — a single quadrature cannot do
better (two-quadrature read-out would; see ``../shared/background/characterization-methods.md``
§1.1).

The loss-tolerant flaw: the family θ_j = (1 + δ/π) φ_j^nom / 2 of Tamaki et al. (PRA 90, 052314
(2014)) and Currás-Lorenzo et al. (2025), i.e. φ_j = (1 + δ/π) φ_j^nom, fitted by least squares
over the settings (φ_0 = 0 by construction):  δ = π (Σ φ_j φ_j^nom / Σ (φ_j^nom)² - 1). The rms
residual of that fit says how well the one-parameter family describes the measured phases; the
per-setting phases (general qubit states) are the primary result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from ..errors import CalibrationError
from ..model import Bound, Provenance, QubitState
from ..store import RunData
from .provenance import run_provenance
from .stats import normal_quantile

__all__ = ["PhaseCalibration", "calibrate_phase", "fringe"]

_MONTE_CARLO = 4000


def fringe(volts: np.ndarray, visibility: float, vpi: float, nonlinearity: float, offset: float) -> np.ndarray:
    """r(V) = ½[1 + 𝒱 cos(π V/Vπ + a V² + c)] (the model fitted to the sweep)."""
    return 0.5 * (1.0 + visibility * np.cos(np.pi * volts / vpi + nonlinearity * volts**2 + offset))


@dataclass(frozen=True)
class PhaseCalibration:
    """What the phase-modulation run gives: fringe fit, setting phases, qubit states and δ."""

    protocol: str
    visibility: Bound
    vpi: Bound
    nonlinearity: Bound
    fringe_phases: tuple[float, ...]   # ψ_j: the fringe argument at each setting (for correlations)
    fit_parameters: tuple[float, float, float, float]  # 𝒱, Vπ, a, c of the fringe fit
    states: tuple[QubitState, ...]
    delta: Bound
    delta_fit_residual_rad: float
    fit_residual_rms: float
    provenance: Provenance

    def fringe_phase_at(self, volts: np.ndarray) -> np.ndarray:
        """ψ(V) = π V/Vπ + a V² + c of the fitted fringe, at any drive voltage."""
        _, vpi, a, c = self.fit_parameters
        v = np.asarray(volts, dtype=float)
        return np.pi * v / vpi + a * v**2 + c


def _ratio(run: RunData, group: str) -> tuple[np.ndarray, np.ndarray]:
    """(drive V, P1/(P1+P2)) of a group; CalibrationError if the second output was not recorded."""
    drive = run.data(group, "drive").to("V").magnitude
    p1 = run.data(group, "power").to("W").magnitude
    p2 = run.data(group, "power_b").to("W").magnitude
    if not np.all(np.isfinite(p2)):
        raise CalibrationError(f"{run.path} {run.name}: the phase-modulation run has no second interferometer "
                               "output (power_b); the two-port ratio is needed to cancel power drifts")
    return drive, p1 / (p1 + p2)


def _fit_sweep(run: RunData, drive: np.ndarray, ratio: np.ndarray, vpi_guess: float) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares fringe fit, started from a grid over the offset (the fit is not convex in it)."""
    visibility0 = float(np.clip(ratio.max() - ratio.min(), 0.05, 1.0))  # r spans ½(1 ± 𝒱) over a fringe
    best = None
    for offset0 in np.linspace(-np.pi, np.pi, 16, endpoint=False):
        try:
            with np.errstate(all="ignore"):
                params, cov = curve_fit(fringe, drive, ratio, p0=(visibility0, vpi_guess, 0.0, offset0),
                                        bounds=([0.0, 0.2 * vpi_guess, -1.0, -4 * np.pi], [1.0, 5 * vpi_guess, 1.0, 4 * np.pi]),
                                        maxfev=20000)
        except (RuntimeError, ValueError, OptimizeWarning):
            continue
        residual = float(np.sum((fringe(drive, *params) - ratio) ** 2))
        if best is None or residual < best[0]:
            best = (residual, params, cov)
    if best is None or not np.all(np.isfinite(best[2])):
        raise CalibrationError(f"{run.path} {run.name}: the fringe model does not fit the phase-modulation sweep "
                               "(no converged least-squares fit); check the interferometer and the drive range")
    return best[1], best[2]


def calibrate_phase(run: RunData, *, failure_probability: float, max_residual: float = 0.02) -> PhaseCalibration:
    """Fit the phase-modulation run and estimate the settings' phases, qubit states and δ.

    ``max_residual``: the largest rms deviation (in r units) between the sweep and the fitted
    fringe that is accepted as "described by the model"; beyond it the fit is refused.
    """
    if run.kind != "phase-modulation":
        raise CalibrationError(f"{run.path} {run.name}: a {run.kind} run cannot give the encoded phases "
                               "(it needs a phase-modulation run)")
    drive, ratio = _ratio(run, "sweep")
    if drive.size < 8:
        raise CalibrationError(f"{run.path} {run.name}: {drive.size} sweep points are too few for the 4-parameter "
                               "fringe fit (need at least 8)")
    vpi_guess = float(run.parameter("vpi_nominal").to("V").magnitude)
    params, cov = _fit_sweep(run, drive, ratio, vpi_guess)
    rms = float(np.sqrt(np.mean((fringe(drive, *params) - ratio) ** 2)))
    if rms > max_residual:
        raise CalibrationError(f"{run.path} {run.name}: the fringe model does not describe the sweep (rms residual "
                               f"{rms:.3g} > {max_residual}); the interferometer may have drifted during the scan")
    labels_all = np.asarray(run.data("settings", "label")).astype(str)
    setting = run.data("settings", "setting").magnitude.astype(int)
    s_drive, s_ratio = _ratio(run, "settings")
    nominal = run.data("settings", "nominal_phase").to("rad").magnitude
    indices = sorted(set(setting.tolist()))
    if len(indices) < 2 or any(np.sum(setting == j) < 2 for j in indices):
        raise CalibrationError(f"{run.path} {run.name}: each encoding setting needs at least two readings")

    rng = np.random.default_rng(12345)  # fixed: the calibration of a given file is reproducible
    samples = rng.multivariate_normal(params, cov, size=_MONTE_CARLO, method="eigh")
    psi_samples, psi_point, nominal_j, labels, volts_j = [], [], [], [], []
    for j in indices:
        mask = setting == j
        readings = s_ratio[mask]
        volts = float(s_drive[mask][0])
        mean, sem = float(readings.mean()), float(readings.std(ddof=1) / math.sqrt(readings.size))
        mean_samples = mean + sem * rng.standard_t(readings.size - 1, size=_MONTE_CARLO)
        psi_samples.append(_invert(mean_samples, samples, volts))
        psi_point.append(float(_invert(np.array([mean]), params[None, :], volts)[0]))
        nominal_j.append(float(nominal[mask][0]))
        labels.append(str(labels_all[mask][0]))
        volts_j.append(volts)
    psi_samples_a = np.array(psi_samples)
    phi_samples = _wrap_near(psi_samples_a - psi_samples_a[0], np.array(nominal_j)[:, None])
    phi_point = _wrap_near(np.array(psi_point) - psi_point[0], np.array(nominal_j))
    nominal_a = np.array(nominal_j)
    delta_samples = np.pi * (np.sum(phi_samples * nominal_a[:, None], axis=0) / np.sum(nominal_a**2) - 1.0)
    delta_point = float(np.pi * (np.sum(phi_point * nominal_a) / np.sum(nominal_a**2) - 1.0))
    residual = float(np.sqrt(np.mean((phi_point - (1 + delta_point / np.pi) * nominal_a) ** 2)))

    share = failure_probability / (len(indices) + 1)
    z = normal_quantile(share)
    method = ("fringe fit + inversion of the setting readings; Monte Carlo σ, normal quantile, "
              f"Bonferroni over {len(indices)} settings and δ")
    provenance = run_provenance(run, method="fringe fit r = ½[1 + V cos(πV/Vπ + aV² + c)], two-port ratio")
    states = []
    for k, j in enumerate(indices):
        sigma = float(np.std(phi_samples[k])) if k else 0.0
        bound = Bound(value=float(phi_point[k]), lower=float(phi_point[k] - z * sigma),
                      upper=float(phi_point[k] + z * sigma), unit="rad", failure_probability=share if k else 0.0,
                      method=method if k else "reference setting (phase 0 by definition)", provenance=provenance)
        states.append(QubitState(label=labels[k], nominal_phase=nominal_j[k], phase=bound))
    delta_sigma = float(np.std(delta_samples))
    delta = Bound(value=delta_point, lower=delta_point - z * delta_sigma, upper=delta_point + z * delta_sigma,
                  unit="rad", failure_probability=share, method="least squares φ_j = (1 + δ/π) φ_j^nom; " + method,
                  provenance=provenance)
    t_fit = normal_quantile(failure_probability)
    errors = np.sqrt(np.diag(cov))
    return PhaseCalibration(
        protocol=str(run.parameter("protocol")),
        visibility=Bound(value=float(params[0]), lower=float(params[0] - t_fit * errors[0]),
                         upper=float(min(params[0] + t_fit * errors[0], 1.0)), method="least-squares fit ± z·σ"),
        vpi=Bound(value=float(params[1]), lower=float(params[1] - t_fit * errors[1]),
                  upper=float(params[1] + t_fit * errors[1]), unit="V", method="least-squares fit ± z·σ"),
        nonlinearity=Bound(value=float(params[2]), lower=float(params[2] - t_fit * errors[2]),
                           upper=float(params[2] + t_fit * errors[2]), unit="rad/V^2", method="least-squares fit ± z·σ"),
        fringe_phases=tuple(float(p) for p in psi_point), fit_parameters=tuple(float(x) for x in params),
        states=tuple(states), delta=delta,
        delta_fit_residual_rad=residual, fit_residual_rms=rms, provenance=provenance)


def _invert(mean_ratio: np.ndarray, params: np.ndarray, volts: float) -> np.ndarray:
    """ψ from r̄ through the fitted visibility, on the branch of the fitted curve at ``volts``."""
    visibility, vpi, a, c = (params[:, k] for k in range(4))
    psi_fit = np.pi * volts / vpi + a * volts**2 + c
    cosine = np.clip((2.0 * mean_ratio - 1.0) / np.clip(visibility, 1e-6, None), -1.0, 1.0)
    principal = np.arccos(cosine)                       # in [0, π]
    base = np.round((psi_fit - principal) / (2 * np.pi)) * 2 * np.pi
    plus = base + principal
    base_minus = np.round((psi_fit + principal) / (2 * np.pi)) * 2 * np.pi
    minus = base_minus - principal
    return np.where(np.abs(plus - psi_fit) <= np.abs(minus - psi_fit), plus, minus)


def _wrap_near(phase: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``phase`` shifted by multiples of 2π to lie within π of ``reference``."""
    return reference + (phase - reference + np.pi) % (2 * np.pi) - np.pi
