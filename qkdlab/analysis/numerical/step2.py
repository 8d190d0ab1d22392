"""Step 2: a certified lower bound on α at the step-1 point (Winick, Lütkenhaus & Coles,
Quantum 2, 77 (2018), Sec. 3 and Theorem 2; derivation in docs/numerical-derivation.md).

f is convex, so for any positive-definite ρ (feasible or not) and every feasible σ,
f(σ) ≥ f(ρ) + ⟨∇f(ρ), σ − ρ⟩ = ⟨∇f(ρ), σ⟩ (because ⟨∇f(ρ), ρ⟩ = f(ρ), :mod:`.objective`).
Minimising the right-hand side over the feasible set is the linearisation SDP; for *any*
multipliers y (no dual feasibility needed) weak duality gives, with L = ⊕_b ∇f_b(ρ_b) and
Tr σ = 1,

    ⟨L, σ⟩ = Σ_k y_k Tr(Γ_k σ) + ⟨L − Σ_k y_k Γ_k, σ⟩ ≥ Σ_k min(y_k l_k, y_k u_k) + λ_min(L − Σ_k y_k Γ_k).

This is the minimum-eigenvalue correction of the paper: an inexact dual y (from QICS or from the
dual SDP) is paid for by λ_min of its residual instead of being trusted. It needs neither ρ
feasible nor y optimal, only a positive-definite ρ: where the step-1 point is (numerically) on the
boundary we use ρ_δ = (1 − δ)ρ + δ 𝟙/d, which is again positive definite (the perturbation term:
it moves the linearisation point, never the validity; Winick et al. perturb G instead and pay
ζ_ε, which the support compression of :mod:`.objective` makes unnecessary here).

Floating point: L is computed with a relative error of a few ulps times the condition of the
logarithm; λ_min by LAPACK with error ≤ d·ε·‖M‖. We subtract ``_ROUNDOFF · d · (‖L‖ + Σ|y_k|‖Γ_k‖)``
plus the same times Σ|y_k b_k|, which dominates both (Weyl's inequality).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .objective import BlockObjective
from .problem import NumericalProblem

__all__ = ["Certificate", "certify", "dual_bound", "linearisation"]

#: Multiple of machine epsilon charged per dimension and unit norm for round-off (generous).
_ROUNDOFF = 64 * np.finfo(float).eps
#: Smallest eigenvalue kept in the linearisation point (relative to 1/d).
_MIN_EIGENVALUE = 1e-14


@dataclass(frozen=True)
class Certificate:
    """A rigorous lower bound (bits) on α, the multipliers that give it and its round-off margin."""

    bound_bits: float
    multipliers: np.ndarray
    margin_bits: float
    source: str


@dataclass(frozen=True)
class Linearisation:
    """∇f at the (perturbed) step-1 point, per block, and f there (bits)."""

    gradient: tuple[np.ndarray, ...]
    value_bits: float
    perturbation: float


def linearisation(problem: NumericalProblem, rho: Sequence[np.ndarray]) -> Linearisation:
    """f and ∇f at ρ, made positive definite by the smallest mixing with 𝟙/d that does it."""
    total_dim = sum(b.dim for b in problem.blocks)
    trace = sum(float(np.trace(r).real) for r in rho)
    rho = [(r + r.conj().T) / 2 / trace for r in rho]
    low = min(float(np.linalg.eigvalsh(r).min()) for r in rho)
    floor = _MIN_EIGENVALUE / total_dim
    delta = 0.0 if low >= floor else min(1.0, (floor - low) * total_dim / (1 + (floor - low) * total_dim))
    grads, value = [], 0.0
    for r, blk in zip(rho, problem.blocks, strict=True):
        r = (1 - delta) * r + delta * np.eye(blk.dim) / total_dim
        if blk.yields_key:
            v, g = BlockObjective(blk).value_and_gradient(r)
            grads.append(g)
            value += v
        else:
            grads.append(np.zeros((blk.dim, blk.dim)))
    return Linearisation(tuple(grads), value / math.log(2), delta)


def _feasible_sign(problem: NumericalProblem, y: np.ndarray) -> np.ndarray:
    """Zero the multipliers whose sign would meet an infinite bound (they would give −∞)."""
    y = np.array(y, dtype=float)
    for k, c in enumerate(problem.constraints):
        if c.upper == math.inf and y[k] < 0:
            y[k] = 0.0
        if c.lower == -math.inf and y[k] > 0:
            y[k] = 0.0
    return y


def dual_bound(problem: NumericalProblem, lin: Linearisation, y: np.ndarray, source: str = "") -> Certificate:
    """Σ_k min(y_k l_k, y_k u_k) + λ_min(L − Σ_k y_k Γ_k), in bits, minus the round-off margin."""
    y = _feasible_sign(problem, y)
    linear = 0.0
    scale = 0.0
    lam = math.inf
    norm_l = 0.0
    for b, blk in enumerate(problem.blocks):
        m = lin.gradient[b].copy()  # nats, like the multipliers
        for k, c in enumerate(problem.constraints):
            if y[k] != 0.0 and c.operator[b] is not None:
                m -= y[k] * c.operator[b]
        lam = min(lam, float(np.linalg.eigvalsh(m)[0]))
        norm_l = max(norm_l, float(np.linalg.norm(lin.gradient[b], 2)))
        scale = max(scale, blk.dim)
    for k, c in enumerate(problem.constraints):
        if y[k] > 0:
            linear += y[k] * c.lower
        elif y[k] < 0:
            linear += y[k] * c.upper
    op_norms = sum(abs(y[k]) * max(float(np.abs(op).sum(axis=1).max()) for op in c.operator if op is not None)
                   for k, c in enumerate(problem.constraints) if y[k] != 0.0)
    margin = _ROUNDOFF * scale * (norm_l + op_norms) + _ROUNDOFF * (abs(linear) + float(np.abs(y).sum()))
    bound = (linear + lam - margin) / math.log(2)
    return Certificate(bound, y, margin / math.log(2), source)


def _dual_sdp(problem: NumericalProblem, lin: Linearisation, gap_target: float) -> Certificate | None:
    """The linearisation's dual SDP,  max Σ_k (a_k l_k − c_k u_k) + λ
    s.t. L − Σ_k (a_k − c_k) Γ_k − λ𝟙 ⪰ 0 (per block), a, c ≥ 0 (c = 0 for equalities),
    through the shared solver core (CLARABEL then SCS, both at 1e-12); each run is certified by
    :func:`dual_bound` at its multipliers, so the solver's accuracy never matters for validity."""
    import cvxpy as cp

    from ..solve import CertifiedValue, SolverSpec
    from ..solve import solve as solve_conic

    m = len(problem.constraints)
    a, c, lam = cp.Variable(m), cp.Variable(m), cp.Variable()
    objective = lam
    cons = []
    for k, con in enumerate(problem.constraints):
        if con.is_equality:
            objective = objective + a[k] * con.lower
            cons.append(c[k] == 0)
            continue
        objective = objective + (a[k] * con.lower if con.lower > -math.inf else 0)
        objective = objective - (c[k] * con.upper if con.upper < math.inf else 0)
        cons += [a[k] >= 0, c[k] >= 0] + ([] if con.lower > -math.inf else [a[k] == 0]) + (
            [] if con.upper < math.inf else [c[k] == 0])
    for b, blk in enumerate(problem.blocks):
        expr = lin.gradient[b] - lam * np.eye(blk.dim)
        for k, con in enumerate(problem.constraints):
            if con.operator[b] is not None:
                expr = expr - (a[k] - c[k]) * con.operator[b]
        cons.append((expr + expr.T) / 2 >> 0)
    prob = cp.Problem(cp.Maximize(objective), cons)
    found: list[Certificate] = []

    def certify_run(p: cp.Problem) -> CertifiedValue | None:
        if a.value is None or c.value is None:
            return None
        cert = dual_bound(problem, lin, np.asarray(a.value - c.value, dtype=float), "linearisation dual SDP")
        found.append(cert)
        return CertifiedValue(cert.bound_bits, float(p.value) / math.log(2))

    solvers = (SolverSpec("CLARABEL", {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12}),
               SolverSpec("SCS", {"eps_abs": 1e-10, "eps_rel": 1e-10}))
    solve_conic(prob, solvers, certify_run, 0.0, bound="lower", gap_tolerance=gap_target)
    return max(found, key=lambda cert: cert.bound_bits, default=None)


def certify(problem: NumericalProblem, rho: Sequence[np.ndarray], candidates: Sequence[np.ndarray] = (),
            target_gap: float = 1e-9, reference_bits: float | None = None) -> tuple[Certificate, Linearisation]:
    """The best certified bound from the candidate multipliers (QICS's dual, a previous solution);
    if none comes within ``target_gap`` of ``reference_bits`` (the step-1 value), also the dual SDP."""
    lin = linearisation(problem, rho)
    best = Certificate(0.0, np.zeros(len(problem.constraints)), 0.0, "trivial (D ≥ 0)")
    for i, y in enumerate(candidates):
        if y is None or len(y) != len(problem.constraints) or not np.all(np.isfinite(y)):
            continue
        cert = dual_bound(problem, lin, np.asarray(y, dtype=float), f"candidate {i}")
        if cert.bound_bits > best.bound_bits:
            best = cert
    reference = lin.value_bits if reference_bits is None else reference_bits
    if reference - best.bound_bits > target_gap:
        cert = _dual_sdp(problem, lin, target_gap)
        if cert is not None and cert.bound_bits > best.bound_bits:
            best = cert
    return best, lin
