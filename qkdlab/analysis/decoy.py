"""Decoy-state bounds on single-photon yields for phase-randomised weak coherent pulses.

A phase-randomised coherent pulse of mean μ is a Poisson mixture of photon-number states, so
the yield of any event is Q_μ = Σ_n e^{−μ} μ^n/n! Y_n with Y_n ∈ [0, 1] independent of μ
(Hwang 2003; Lo, Ma, Chen 2005; Wang 2005). The framework paper (App. A.7) feeds the
single-photon quantities to the phase-error bound; every event (setting j, Bob basis b,
outcome o) gets its own interval [Y_1^L, Y_1^U].

Two independent methods:

- :func:`vacuum_weak_bounds`, the analytic vacuum + weak-decoy bounds of Ma, Qi, Zhao, Lo,
  PRA 72, 012326 (2005), Eqs. (34)-(35) written for yields (signal μ > decoy ν > vacuum 0):
  Y_1 ≥ μ/(μν − ν²) [Q_ν e^ν − Q_μ e^μ ν²/μ² − (μ² − ν²)/μ² Y_0^U] (using ν^n ≤ ν² μ^{n−2},
  n ≥ 2) and Y_1 ≤ (Q_ν e^ν − Y_0^L)/ν. Every Q enters with the sign that makes the bound
  worst over the given intervals, so they hold for interval (finite-key) data.
- :func:`linear_program_bounds`: the exact bounds over all yields consistent with the data,
  min/max Y_1 subject to Q_k^L ≤ Σ_{n≤n_c} P(n|μ_k) Y_n + tail_k ≤ Q_k^U, where the photon
  numbers above the cut-off n_c contribute anything in [0, 1 − Σ_{n≤n_c} P(n|μ_k)] (no
  truncation error). Any number of intensities; the analytic bounds are never tighter.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import linprog
from scipy.stats import poisson

from ..errors import SolverError

__all__ = ["certified_yield_bounds", "decoy_roles", "linear_program_bounds", "vacuum_weak_bounds"]


def decoy_roles(intensities: tuple[float, ...]) -> tuple[int, int, int]:
    """Indices of (signal, weak decoy, vacuum): signal first, the vacuum a 0, the decoy the weakest other."""
    if len(intensities) < 3 or 0.0 not in intensities[1:]:
        raise ValueError(f"intensities {intensities}: the decoy-state bounds need the signal first, a weak decoy "
                         "and a vacuum decoy (0), e.g. 0.5,0.1,0")
    vacuum = intensities.index(0.0, 1)
    others = [k for k in range(1, len(intensities)) if k != vacuum]
    decoy = min(others, key=lambda k: intensities[k])
    if not 0.0 < intensities[decoy] < intensities[0]:
        raise ValueError(f"intensities {intensities}: the weak decoy must be weaker than the signal (first)")
    return 0, decoy, vacuum


def vacuum_weak_bounds(q_low: np.ndarray, q_up: np.ndarray, intensities: tuple[float, ...]
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(Y_1^L, Y_1^U) from yield intervals per intensity (last axis), vectorised over the rest."""
    s, d, v = decoy_roles(intensities)
    mu, nu = intensities[s], intensities[d]
    y0_low, y0_up = q_low[..., v], q_up[..., v]
    lower = mu / (mu * nu - nu**2) * (q_low[..., d] * math.exp(nu) - q_up[..., s] * math.exp(mu) * nu**2 / mu**2
                                      - (mu**2 - nu**2) / mu**2 * y0_up)
    upper = (q_up[..., d] * math.exp(nu) - y0_low) / nu
    return np.clip(lower, 0.0, 1.0), np.clip(upper, 0.0, 1.0)


def linear_program_bounds(q_low: np.ndarray, q_up: np.ndarray, intensities: tuple[float, ...], photon: int = 1,
                          cutoff: int = 10) -> tuple[float, float]:
    """Exact (Y_photon^L, Y_photon^U) over all yields consistent with one event's intervals (1-D inputs)."""
    low, up = certified_yield_bounds(np.asarray(q_low, float)[None], np.asarray(q_up, float)[None], intensities,
                                     (photon,), cutoff)
    return float(low[0, 0]), float(up[0, 0])


def _poisson_rows(intensities: tuple[float, ...], cutoff: int) -> tuple[np.ndarray, np.ndarray]:
    """P(n|μ_k) for n ≤ cutoff and the tail P(n > cutoff|μ_k), the latter from the survival function
    (no 1 − Σ cancellation, so a tail of 1e-15 is not lost)."""
    mus = np.asarray(intensities, float)
    n = np.arange(cutoff + 1)
    return poisson.pmf(n[None, :], mus[:, None]), poisson.sf(cutoff, mus)


def _dual_bound(cost: np.ndarray, weights: np.ndarray, low: np.ndarray, up: np.ndarray, lam: np.ndarray,
                top: np.ndarray) -> float:
    """Lagrangian lower bound on min cost·y over l ≤ W y ≤ u, 0 ≤ y ≤ top, valid for ANY λ:

        cost·y ≥ cost·y − Σ_k λ_k (W_k y − b_k) ≥ Σ_n min(0, (cost − Wᵀλ)_n) · top + Σ_k λ_k b_k,

    with b_k = l_k where λ_k > 0 and u_k where λ_k < 0 (each term λ_k (W_k y − b_k) ≥ 0). The sum is
    lowered by a floating-point error bound of its terms (conservative rounding)."""
    lam = np.where(np.isfinite(np.where(lam > 0, low, up)), lam, 0.0)
    reduced = cost - weights.T @ lam
    terms = np.concatenate([np.minimum(reduced, 0.0) * top, np.where(lam > 0, lam * low, lam * up)])
    # rounding: each reduced cost carries ≤ (k+1)·eps·(|c_n| + Σ_k |W_kn λ_k|) (and min(0, ·) is
    # 1-Lipschitz), the final sum ≤ len·eps·Σ|terms|; doubled for the products themselves
    eps = np.finfo(float).eps
    reduced_error = (len(lam) + 2) * eps * float(np.sum(top * (np.abs(cost) + np.abs(weights.T) @ np.abs(lam))))
    return float(terms.sum() - 2 * (reduced_error + (len(terms) + 1) * eps * np.abs(terms).sum()))


def certified_yield_bounds(q_low: np.ndarray, q_up: np.ndarray, intensities: tuple[float, ...],
                           photons: tuple[int, ...] = (0, 1), cutoff: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Certified (Y_n^L, Y_n^U) for n in ``photons``, for every event: inputs (..., k), outputs (..., len(photons)).

    The LP min/max Y_n s.t. Q_k^L − tail_k ≤ Σ_{m≤n_c} P(m|μ_k) Y_m ≤ Q_k^U, 0 ≤ Y_m ≤ 1, with
    tail_k = P(m > n_c | μ_k) (the photon numbers above the cut-off contribute anything in
    [0, tail_k]: an analytic bound, no truncation error). Rows are scaled by the largest Q of the
    event, so yields of 1e-6 are resolved at HiGHS's 1e-7 tolerance. HiGHS's primal value is not
    used as the bound: its duals λ are, through :func:`_dual_bound`, which is valid for any λ (a
    poor λ costs tightness, never validity). See docs/decoy-mismatch.md."""
    q_low, q_up = np.broadcast_arrays(np.asarray(q_low, float), np.asarray(q_up, float))
    weights, tail = _poisson_rows(intensities, cutoff)
    shape = q_low.shape[:-1]
    flat_low, flat_up = q_low.reshape(-1, len(intensities)), q_up.reshape(-1, len(intensities))
    out_low = np.zeros((flat_low.shape[0], len(photons)))
    out_up = np.ones((flat_low.shape[0], len(photons)))
    for e in range(flat_low.shape[0]):
        scale = max(float(flat_up[e].max()), 1e-300)
        lo = (flat_low[e] - tail) / scale
        hi = flat_up[e] / scale
        # implied bounds: every term of a row is ≥ 0, so P(n|μ_k) Y_n ≤ Q_k^U; keeping the box small
        # keeps the dual's reduced-cost errors (× the box) at the scale of the data
        with np.errstate(divide="ignore", invalid="ignore"):
            top = np.minimum(1.0 / scale, np.min(np.where(weights > 0, hi[:, None] / weights, np.inf), axis=0))
        a_ub = np.vstack([weights, -weights])
        b_ub = np.concatenate([hi, -lo])
        for i, photon in enumerate(photons):
            for sign in (1.0, -1.0):
                cost = np.zeros(cutoff + 1)
                cost[photon] = sign
                result = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=list(zip(np.zeros_like(top), top)),
                                 method="highs")
                if result.status == 2:
                    raise SolverError(f"decoy data {flat_low[e]}..{flat_up[e]} at intensities {intensities} are "
                                      "inconsistent with any photon-number yields; check the counts and intensities")
                if result.status != 0:
                    continue                                     # unsure: keep the trivial bound
                marg = result.ineqlin.marginals
                lam = marg[:len(hi)] - marg[len(hi):]            # λ > 0: W y ≥ lo binds; λ < 0: W y ≤ hi
                bound = _dual_bound(cost, weights, lo, hi, lam, top) * scale
                if sign > 0:
                    out_low[e, i] = min(max(bound, 0.0), 1.0)
                else:
                    out_up[e, i] = min(max(-bound, 0.0), 1.0)
    return out_low.reshape(shape + (len(photons),)), out_up.reshape(shape + (len(photons),))
