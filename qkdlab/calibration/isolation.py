"""Isolation run -> the back-reflection isolation γ and the Trojan-horse part of ε.

γ is the slope of back-reflected versus injected power (ordinary least squares; the intercept
absorbs the meters' dark offset, which the run's dark readings check). Its upper confidence bound
is slope + t(1 - κ; n - 2) · SE(slope) (Student t, independent Gaussian reading noise).

Trojan-horse bound (Currás-Lorenzo et al. 2025, App. A.2, Eq. A2; Lucamarini et al., PRX 5,
031030 (2015)): Eve's injected light is limited to μ_in^U photons per pulse slot by the damage
threshold of the transmitter's optics, μ_in^U = N / f_rep with N photons per second; the light
coming back carries at most μ_out^U = γ^U μ_in^U photons, and the back-reflected state is
√(1 - ε_j)|vac> + √ε_j |Ω_j> with ε_j ≤ μ_out^U, since the probability of a non-vacuum state is at
most its mean photon number, for *any* photon statistics. qkdlab uses ε_THA = μ_out^U, the
general bound of the paper; the coherent-state value 1 - exp(-μ_out^U), which is slightly smaller
and assumes Poissonian back-reflected light, is recorded alongside.

Components the scan did not include: when the isolation run injected behind part of the
transmitter's output chain (e.g. before its output attenuator, which a real Trojan-horse probe
passes twice), the user states that passive attenuation A (dB) and
γ_total = γ · 10^(-2A/10), the component rule of Lucamarini et al. (γ = R·I^n·A²·F² in linear
terms); A = 0 by default, which is exact when the scan probed the whole output.

Default N: 10^20 photons/s, Lucamarini et al.'s laser-induced-damage threshold for a fibre
(≈ 12.8 W at 1550 nm); the other preset is the fibre softening point, 4.3 × 10^23 photons/s. A
user who knows a lower threshold for their optics (a fuse, a power limiter) states it as a power.
Caution (background §6.4): the isolation must hold up to that power; a low-power bench scan
alone does not show it, and the model notes that.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.constants import c as LIGHT_SPEED
from scipy.constants import h as PLANCK

from ..errors import CalibrationError
from ..model import Bound, EpsilonPart
from ..store import RunData
from .provenance import run_provenance
from .stats import t_quantile

__all__ = ["DAMAGE_PRESETS", "calibrate_isolation", "photon_rate"]

#: Damage-threshold presets: photons per second reaching the transmitter's optics, with sources.
DAMAGE_PRESETS: dict[str, tuple[float, str]] = {
    "lucamarini-lidt": (1e20, "Lucamarini et al., PRX 5, 031030 (2015): fibre laser-induced damage threshold"),
    "softening-point": (4.3e23, "Lucamarini et al., PRX 5, 031030 (2015): fibre softening point"),
}


def photon_rate(power_w: float, wavelength_m: float) -> float:
    """Photons per second of a power at a wavelength."""
    return power_w * wavelength_m / (PLANCK * LIGHT_SPEED)


def calibrate_isolation(run: RunData, *, failure_probability: float, repetition_rate_hz: float,
                        damage_photons_per_s: float = DAMAGE_PRESETS["lucamarini-lidt"][0],
                        damage_source: str = DAMAGE_PRESETS["lucamarini-lidt"][1],
                        passive_attenuation_db: float | None = None) -> tuple[Bound, EpsilonPart]:
    """γ with its upper bound, and the Trojan-horse ε part (see the module docstring).

    ``passive_attenuation_db`` None: the attenuation the run recorded as ``unprobed_attenuation``.
    """
    if run.kind != "isolation":
        raise CalibrationError(f"{run.path} {run.name}: a {run.kind} run cannot give the isolation "
                               "(it needs an isolation run)")
    x = run.data("steps", "injected").to("W").magnitude
    y = run.data("steps", "reflected").to("W").magnitude
    steps = np.unique(run.data("steps", "attenuation").magnitude).size
    if x.size < 3 or steps < 2:
        raise CalibrationError(f"{run.path} {run.name}: {x.size} readings at too few injected powers for the "
                               "isolation slope (need at least 3 readings at 2 or more powers)")
    design = np.vstack([x, np.ones_like(x)]).T
    (slope, intercept), residuals, *_ = np.linalg.lstsq(design, y, rcond=None)
    dof = x.size - 2
    variance = float(np.sum((y - design @ np.array([slope, intercept])) ** 2) / max(dof, 1))
    se = math.sqrt(variance / float(np.sum((x - x.mean()) ** 2)))
    if slope <= 0:
        raise CalibrationError(f"{run.path} {run.name}: the back-reflected power does not grow with the injected "
                               f"power (slope {slope:.3g}); check the circulator and the meters")
    upper = float(slope + t_quantile(failure_probability, dof, "upper") * se)
    gamma = Bound(value=float(slope), lower=None, upper=upper, unit="", failure_probability=failure_probability,
                  method="OLS slope of reflected vs injected power; one-sided Student-t upper bound",
                  provenance=run_provenance(run, method="back-reflection isolation γ"))
    if passive_attenuation_db is None:
        recorded = run.parameters.get("unprobed_attenuation")
        passive_attenuation_db = float(recorded) if recorded is not None else 0.0
    mu_in = damage_photons_per_s / repetition_rate_hz
    mu_out = upper * 10.0 ** (-2.0 * passive_attenuation_db / 10.0) * mu_in
    part = EpsilonPart(
        name="trojan_horse", upper=min(mu_out, 1.0), degree_of_freedom="own-mode", inventory="measured",
        failure_probability=failure_probability,
        provenance=run_provenance(run, method="ε_THA = γ^U · 10^(-2A/10) · N / f_rep (App. A.2, Eq. A2)"),
        method="ε_THA = μ_out^U = γ^U 10^(-2A/10) μ_in^U, μ_in^U = N / f_rep",
        details={"gamma": float(slope), "gamma_upper": upper, "mu_in_upper": mu_in, "mu_out_upper": mu_out,
                 "passive_attenuation_db": passive_attenuation_db, "damage_photons_per_s":
                 damage_photons_per_s, "damage_threshold_source": damage_source, "repetition_rate_hz":
                 repetition_rate_hz, "coherent_state_value": -math.expm1(-mu_out),
                 "caution": "the isolation must hold up to the damage power; this scan measured it at mW levels"})
    return gamma, part
