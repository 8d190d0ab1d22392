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

__all__ = ["vacuum_weak_bounds", "linear_program_bounds", "decoy_roles"]


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
    mus = np.asarray(intensities, float)
    n = np.arange(cutoff + 1)
    weights = poisson.pmf(n[None, :], mus[:, None])                     # (k, n)
    tail = 1.0 - weights.sum(axis=1)
    # Q_k − tail_k ≤ Σ w Y ≤ Q_k  (the tail contributes something in [0, tail_k])
    a_ub = np.vstack([weights, -weights])
    b_ub = np.concatenate([np.asarray(q_up, float), -(np.asarray(q_low, float) - tail)])
    bounds = []
    for sign in (1.0, -1.0):
        cost = np.zeros(cutoff + 1)
        cost[photon] = sign
        result = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=(0.0, 1.0), method="highs")
        if result.status == 2:
            raise SolverError(f"decoy data {np.asarray(q_low)}..{np.asarray(q_up)} at intensities {intensities} are "
                              "inconsistent with any photon-number yields; check the counts and intensities")
        if result.status != 0:
            # unsure: the trivial bound, never an optimistic one
            bounds.append(0.0 if sign > 0 else 1.0)
            continue
        bounds.append(float(result.x[photon]))
    return bounds[0], bounds[1]
