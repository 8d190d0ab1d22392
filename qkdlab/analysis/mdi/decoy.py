"""Decoy-state linear programs for MDI-QKD: Bourassa et al., PRA 106, 062618 (2022), App. A.

For every (Alice state a, Bob state b, outcome r) the gains satisfy Eq. (A2),
Q_{k,l} = Σ_{m,n} P(m|μ_k) P(n|ν_l) p_{m,n}, with p_{m,n} ∈ [0, 1] independent of the intensity
setting (perfect phase randomisation, intensity independent of the encoding: assumption (1) of
Sec. III A; the leakage light carries no intensity information, Sec. III C). With a photon-number
cutoff N we keep Eq. (A2) as an equality with one tail variable per intensity pair,

    Q_{k,l} = Σ_{m,n ≤ N} P(m|μ_k) P(n|ν_l) p_{m,n} + T_{k,l},   0 ≤ T_{k,l} ≤ τ_{k,l},

τ_{k,l} = 1 − P(m ≤ N|μ_k) P(n ≤ N|ν_l) the Poisson tail mass: exactly the feasible set of
Eqs. (A3)-(A5), so the photons above the cutoff are bounded, not dropped, and the bounds are
rigorous for any N. Minimising and maximising p_{1,1} gives [p_pass,L, p_pass,U] of Eq. (4).
(Written as the pair of inequalities (A3), (A5), the rows of weak intensities are equalities up
to τ ~ 1e-40 and HiGHS wrongly reports infeasibility; the tail variables avoid that.)

Numerics. All (a, b, r) and both senses are solved as one block-diagonal LP (the blocks are
independent, so the optimum of the sum is optimal in every block) with HiGHS; the constraint
matrix depends only on the intensities and the cutoff and is built once (cached). Each block is
scaled by its largest gain so HiGHS's absolute tolerances are meaningful at long distance, each
column by its largest Poisson weight (else HiGHS drops the ~1e-18 entries of high photon numbers
and solves a different problem), and each p_{m,n} gets the box
min(1, min_{k,l} Q_{k,l}/P(m|μ_k)P(n|ν_l)) implied by the equalities.
The returned bounds are not the solver's primal values but weak-duality certificates evaluated
from its dual values (any λ gives a valid bound, so solver tolerances can only loosen them); if
HiGHS returns no dual values the bounds are the trivial 0 and 1. Inconsistent data (no yields
reproduce the gains) raise :class:`~qkdlab.errors.SolverError` naming the first such (a, b, r).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from scipy import sparse
from scipy.optimize import OptimizeResult, linprog
from scipy.stats import poisson

from ...errors import SolverError
from .detection import OUTCOMES
from .types import DetectionBounds

__all__ = ["DEFAULT_CUTOFF", "DEFAULT_INTENSITIES", "photon_number_weights", "single_photon_bounds"]

log = logging.getLogger(__name__)

#: Alice's and Bob's intensities in the paper's simulations (Sec. IV A).
DEFAULT_INTENSITIES = (0.05, 0.1, 0.6)
#: Photon-number cutoff of App. A ("N_max of 10 photons was sufficient").
DEFAULT_CUTOFF = 10
#: Widenings δ of the data, relative to each event's largest gain, tried in turn when HiGHS reports
#: infeasibility: with weak or vacuum intensities the rows are equalities up to τ ~ 1e-40 and the
#: float rounding of the gains (~1e-16) suffices for HiGHS to misreport. Each scaled tail variable
#: then ranges over [−δ, τ/s + δ]: a relaxation of the LP, so the certified bounds stay valid.
_RELAXATIONS = (0.0, 1e-9, 1e-7, 1e-5)


def photon_number_weights(intensities_a: Sequence[float], intensities_b: Sequence[float], cutoff: int
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Eq. (A1) weights P(m|μ_k) P(n|ν_l), shape (K·L, (N+1)²), and the tail masses τ_{k,l}, shape (K·L,)."""
    mu, nu = np.asarray(intensities_a, float), np.asarray(intensities_b, float)
    if mu.ndim != 1 or nu.ndim != 1 or np.any(mu < 0) or np.any(nu < 0):
        raise ValueError(f"intensities {intensities_a}, {intensities_b} must be 1-D and non-negative")
    n = np.arange(cutoff + 1)
    pa, pb = poisson.pmf(n[None, :], mu[:, None]), poisson.pmf(n[None, :], nu[:, None])
    weights = np.einsum("km,ln->klmn", pa, pb).reshape(len(mu) * len(nu), -1)
    sa, sb = poisson.sf(cutoff, mu), poisson.sf(cutoff, nu)
    tail = (sa[:, None] + sb[None, :] - sa[:, None] * sb[None, :]).ravel()   # 1 − F_a F_b without cancellation
    return weights, tail


@lru_cache(maxsize=32)
def _block_problem(intensities_a: tuple[float, ...], intensities_b: tuple[float, ...], cutoff: int, blocks: int
                   ) -> tuple[np.ndarray, np.ndarray, sparse.csr_array]:
    """Weights W (K·L, (N+1)²), tails τ, and the equality matrix [W / max_k W, 1] of one block (yields
    column-scaled, then one tail variable per row), repeated block-diagonally ``blocks`` times."""
    weights, tail = photon_number_weights(intensities_a, intensities_b, cutoff)
    one = sparse.hstack([sparse.csr_array(weights / weights.max(axis=0)), sparse.eye_array(len(weights))])
    return weights, tail, sparse.block_diag([one] * blocks, format="csr")


def _scaled_data(q: np.ndarray, weights: np.ndarray, tail: np.ndarray, relaxation: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per event: the scale s (largest gain), the right-hand sides Q/s, and the lower and upper boxes of
    the scaled variables (p · max_k W / s, then T / s, widened by ``relaxation``). The box of p,
    min(1, min_{k,l} Q_{k,l}/W_{k,l,mn}), is implied by the equalities, so it changes no bound."""
    scale = np.where(q.max(axis=1) > 0, q.max(axis=1), 1.0)
    with np.errstate(divide="ignore"):
        implied = np.min(np.where(weights > 0, q[:, :, None] / weights[None], np.inf), axis=1)
    yields = np.minimum(implied, 1.0) * weights.max(axis=0) / scale[:, None]
    tails = tail[None, :] / scale[:, None] + relaxation
    lower = np.concatenate([np.zeros_like(yields), np.full_like(tails, -relaxation)], axis=1)
    return scale, q / scale[:, None], lower, np.concatenate([yields, tails], axis=1)


def _dual_bounds(cost: np.ndarray, a_eq: sparse.csr_array, b_eq: np.ndarray, lower: np.ndarray,
                 upper: np.ndarray, duals: np.ndarray, blocks: int) -> np.ndarray:
    """Per-block weak-duality lower bounds on min cᵀz over {A z = b, l ≤ z ≤ u}, from duals λ.

    g(λ) = λᵀb + Σ_j min(r_j l_j, r_j u_j), r = c − Aᵀλ, is ≤ cᵀz for every feasible z, whatever λ is.
    """
    reduced = cost - a_eq.T @ duals
    per_var = np.minimum(reduced * lower, reduced * upper)
    return per_var.reshape(blocks, -1).sum(axis=1) + (duals * b_eq).reshape(blocks, -1).sum(axis=1)


def _solve(cost: np.ndarray, a_eq: sparse.csr_array, b_eq: np.ndarray, lower: np.ndarray, upper: np.ndarray
           ) -> OptimizeResult:
    # presolve costs more than it saves on these small blocks (and misreports infeasibility more often)
    return linprog(cost, A_eq=a_eq, b_eq=b_eq, bounds=np.column_stack([lower, upper]), method="highs",
                   options={"presolve": False})


def _first_infeasible(q: np.ndarray, intensities_a: tuple[float, ...], intensities_b: tuple[float, ...],
                      cutoff: int, shape: tuple[int, ...]) -> str:
    """The first (a, b, r) whose gains no yields reproduce, even widened (for the error message)."""
    weights, tail, a_eq = _block_problem(intensities_a, intensities_b, cutoff, 1)
    for i in range(len(q)):
        _, b_eq, lower, upper = _scaled_data(q[i : i + 1], weights, tail, _RELAXATIONS[-1])
        if _solve(np.zeros(a_eq.shape[1]), a_eq, b_eq.ravel(), lower.ravel(), upper.ravel()).status == 2:
            return f"(a, b, r) = {tuple(int(x) for x in np.unravel_index(i, shape))}"
    return "a combination of events"


def single_photon_bounds(gains: np.ndarray, intensities_a: Sequence[float] = DEFAULT_INTENSITIES,
                         intensities_b: Sequence[float] | None = None, outcomes: Sequence[str] = OUTCOMES,
                         cutoff: int = DEFAULT_CUTOFF) -> DetectionBounds:
    """Bounds on every single-photon p_pass,1,1(a, b, r) from decoy gains (Bourassa et al. App. A).

    ``gains`` has shape (nA, nB, nR, K, L): Q^r_{k,l}(a, b), the probability of announcement r given
    Alice's state a with intensity μ_k and Bob's state b with ν_l (``intensities_b=None``: Bob uses
    Alice's intensities; a 0 is a vacuum decoy). Returns :class:`DetectionBounds` of shape (nA, nB, nR).
    """
    intensities_a = tuple(float(x) for x in intensities_a)
    intensities_b = intensities_a if intensities_b is None else tuple(float(x) for x in intensities_b)
    if max(intensities_a) <= 0 or max(intensities_b) <= 0:
        raise ValueError(f"intensities {intensities_a} x {intensities_b}: each side needs a non-zero intensity")
    q = np.asarray(gains, float)
    if q.ndim != 5 or q.shape[2:] != (len(outcomes), len(intensities_a), len(intensities_b)):
        raise ValueError(f"gains of shape {q.shape} do not match (nA, nB, {len(outcomes)}, {len(intensities_a)}, "
                         f"{len(intensities_b)}) for outcomes {tuple(outcomes)} and the intensities")
    if np.any(q < 0) or np.any(q > 1):
        raise ValueError("gains must be probabilities in [0, 1]")
    event_shape = q.shape[:3]
    q = q.reshape(-1, len(intensities_a) * len(intensities_b))          # (events, K·L)
    events = len(q)
    weights, tail, a_eq = _block_problem(intensities_a, intensities_b, cutoff, 2 * events)
    single = cutoff + 2                                                  # flat index of (m, n) = (1, 1)
    unit = weights.max(axis=0)[single]                                   # z_11 = p_11 · unit / s
    # blocks 0..events-1 minimise p_11, blocks events..2·events-1 maximise it
    cost = np.zeros((2 * events, a_eq.shape[1] // (2 * events)))
    cost[:events, single], cost[events:, single] = 1.0 / unit, -1.0 / unit
    for relaxation in _RELAXATIONS:
        scale, b_eq, lower, upper = _scaled_data(q, weights, tail, relaxation)
        b_all = np.concatenate([b_eq, b_eq]).ravel()
        l_all, u_all = np.concatenate([lower, lower]).ravel(), np.concatenate([upper, upper]).ravel()
        result = _solve(cost.ravel(), a_eq, b_all, l_all, u_all)
        if result.status != 2:
            break
    else:
        where = _first_infeasible(q, intensities_a, intensities_b, cutoff, event_shape)
        raise SolverError(f"decoy gains at {where} are inconsistent with any photon-number yields for intensities "
                          f"{intensities_a} x {intensities_b}; check the gains, their order and the intensities")
    if relaxation > 0:
        log.info("decoy LP solved with the gains widened by %g of their largest value (conservative)", relaxation)
    if result.eqlin is None or result.eqlin.marginals is None:
        log.warning("decoy LP gave no dual values (status %d: %s); using the trivial bounds 0 and 1",
                    result.status, result.message)
        return DetectionBounds(lower=np.zeros(event_shape), upper=np.ones(event_shape), outcomes=tuple(outcomes))
    if result.status != 0:
        log.warning("decoy LP status %d (%s); the dual certificates are still valid but may be loose",
                    result.status, result.message)
    certified = _dual_bounds(cost.ravel(), a_eq, b_all, l_all, u_all, result.eqlin.marginals, 2 * events)
    upper_bound = np.clip(-certified[events:] * scale, 0.0, 1.0)
    # a pinned p_11 can come out a rounding error apart; the smaller value is the safe lower bound
    lower_bound = np.minimum(np.clip(certified[:events] * scale, 0.0, 1.0), upper_bound)
    return DetectionBounds(lower=lower_bound.reshape(event_shape), upper=upper_bound.reshape(event_shape),
                           outcomes=tuple(outcomes))
