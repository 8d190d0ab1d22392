"""The state-overlap SDP: the largest ‖T̃ − R̃‖² over all emitted states allowed by ε.

Framework paper (Currás-Lorenzo et al. 2025), App. A.4 and Eq. (1): the emitted states ψ_j
(pure WLOG, App. A.1: purify, the Gram matrix is all that matters) satisfy
|<φ_j|ψ_j>|² ≥ 1 − ε with known qubit states φ_j. Re<Tar|Ref> is linear in the Gram matrix of
the ψ_j (:mod:`qkdlab.analysis.coin`), so its minimum over all states allowed is an SDP.

Reformulation for conditioning. The naive Gram SDP asks the solver for 1 − Re<Tar|Ref> = O(ε)
next to entries of order 1, which is lost below ε ≈ 1e-8. We write ψ_j = φ_j + Δ_j, choose the
free phase of each ψ_j so that <φ_j|ψ_j> is real and positive (always possible, and the
fidelity condition does not see it), and scale the deviations by s = 2 − 2√(1 − ε)
(= ‖Δ_j‖² at the fidelity limit, computed as 2ε/(1 + √(1 − ε)) without cancellation):
B = <φ|Δ>/√s, K = <Δ|Δ>/s. Then

    Z = [[G_φ, B], [B^H, K]] ⪰ 0,   Re B_jj = −(√s/2) K_jj,   Im B_jj = 0,   K_jj ≤ 1,

(normalisation of ψ_j, the phase convention, and the fidelity bound), and
‖T̃ − R̃‖² = c₀ + √s (2 Re Σ M_jk B_jk + √s Σ M_jk K_jk) with c₀ = ‖T̃ − R̃‖² at ψ = φ. When
c₀ = 0 (the loss-tolerant coin; GLLP at δ = 0) the B term vanishes identically on the feasible
set (T̃ − R̃ annihilates the φ_j), and the solver maximises Σ M_jk K_jk = O(1); the result is
c₀ + s·J. Otherwise it maximises J = 2 Re Σ M B + √s Σ M K and the result is c₀ + √s·J.
Every quantity the solver sees is O(1) for all ε in (0, 1].

Certification. We solve the *dual* SDP

    min Tr Y + Σ u_j   s.t.   S = blkdiag(Y, diag u) + Σ λ_j E_j + Σ μ_j F_j − C ⪰ 0, u ≥ 0,

posed in an orthonormal frame of the φ_j's span (G_φ = Φ^H Φ, so the fixed block is the
identity and the problem is strictly feasible; E_j, F_j are the matrices of the two diagonal
constraints, C the objective). Any dual-feasible
point bounds the maximum from above (weak duality: ⟨S, Z⟩ ≥ 0). The solver's point is made
exactly feasible by u ← max(u, 0), then Y ← Y + τI, u ← u + τ with τ = max(0, −λ_min(S)), which
raises the bound by (d + n)τ; a floating-point margin is added. The reported gap is the
certified bound minus the solver's own optimal value (how much the repair cost). The solvers of
``SOLVERS`` are tried in order by the shared core (:func:`.solve.solve`); if none returns a usable
point, the trivial bound ‖T̃ − R̃‖² ≤ 4N (Re<Tar|Ref> ≥ −1) is used and flagged as conservative.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import cvxpy as cp
import numpy as np

from ..model import SolverReport
from .coin import CoinPair
from .solve import CertifiedValue, SolverSpec, solve

__all__ = ["OverlapBound", "Witness", "max_distance", "fidelity_scale"]

#: Solvers tried in order (:mod:`.solve`); the first whose dual point certifies a bound is used.
SOLVERS = (SolverSpec("CLARABEL"), SolverSpec("SCS"))


@dataclass(frozen=True)
class Witness:
    """Explicit emitted states allowed by ε, from the solver's primal point: ψ_j = φ_j + δ_j (rows).

    ``phi`` and ``delta`` are kept apart (δ_j = O(√ε)) so that ‖L ψ‖² = ‖L φ + L δ‖² keeps its
    precision at ε = 1e-12. By construction |<φ_j|ψ_j>|² ≥ 1 − ε and ‖ψ_j‖ = 1 (up to rounding),
    so ‖T̃ − R̃‖² of these states is a *lower* bound on the SDP's maximum, for any pair: what
    coin_q.py needs to certify that no q does better than the one it reports.
    """

    phi: np.ndarray
    delta: np.ndarray

    def apply(self, rows: np.ndarray) -> np.ndarray:
        """Σ_j rows[a, j] ψ_j, one row per a."""
        return rows @ self.phi + rows @ self.delta


@dataclass(frozen=True)
class OverlapBound:
    """Certified upper bound on ‖T̃ − R̃‖² (and so a lower bound on Re<Tar|Ref>), and explicit states near it."""

    distance: float
    norm: float
    epsilon: float
    report: SolverReport
    witness: Witness | None = None

    @property
    def min_overlap(self) -> float:
        """Lower bound on Re<Tar|Ref> for the normalised states."""
        return 1.0 - self.distance / (2.0 * self.norm)


def fidelity_scale(epsilon: float) -> float:
    """s = 2 − 2√(1 − ε), the largest ‖ψ − φ‖² at fidelity 1 − ε (no cancellation)."""
    return 2.0 * epsilon / (1.0 + math.sqrt(1.0 - epsilon))


def _orthonormal_frame(gram: np.ndarray) -> np.ndarray:
    """Φ (d × n) with G_φ = Φ^H Φ and d = rank: the φ_j in an orthonormal basis of their span.

    Working in that basis (φ_j = Σ_a Φ_aj e_a, B' = <e|Δ>/√s) replaces the rank-deficient block
    G_φ of the Gram matrix by the identity, so the SDP is strictly feasible and solvers converge
    (four qubit states have a rank-2 Gram matrix).
    """
    values, vectors = np.linalg.eigh(gram)
    keep = values > 1e-10 * values.max()
    return np.sqrt(values[keep])[:, None] * vectors[:, keep].conj().T


def _problem_matrices(pair: CoinPair, frame: np.ndarray, sqrt_s: float, aligned: bool
                      ) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """C, E_j, F_j on Z = [[I_d, B'], [B'^H, K]] with ⟨A, Z⟩ = Re Tr(A Z).

    E_j: Re(Φ^H B')_jj + (√s/2) K_jj (= 0: ψ_j normalised); F_j: Im(Φ^H B')_jj (= 0: phase
    convention); C: 2 Re Σ M_jk (Φ^H B')_jk + κ Σ M_jk K_jk (κ = √s), or Σ M_jk K_jk if aligned.
    """
    m = pair.metric
    d, n = frame.shape
    size = d + n
    c = np.zeros((size, size), complex)
    if aligned:
        c[d:, d:] = m.T
    else:
        coupling = frame.conj() @ m                    # N_al = Σ_j conj(Φ_aj) M_jl
        c[d:, :d] = coupling.T
        c[:d, d:] = coupling.conj()
        c[d:, d:] = sqrt_s * m.T
    e_list, f_list = [], []
    for j in range(n):
        e = np.zeros((size, size), complex)
        e[d + j, :d] = frame[:, j].conj() / 2.0
        e[:d, d + j] = frame[:, j] / 2.0
        e[d + j, d + j] = sqrt_s / 2.0
        f = np.zeros((size, size), complex)
        f[d + j, :d] = frame[:, j].conj() / 2j
        f[:d, d + j] = -frame[:, j] / 2j
        e_list.append(e)
        f_list.append(f)
    return c, e_list, f_list


def _certify(d: int, c: np.ndarray, e_list: list[np.ndarray], f_list: list[np.ndarray],
             y: np.ndarray, u: np.ndarray, lam: np.ndarray, mu: np.ndarray) -> float:
    """Rigorous upper bound from an approximately dual-feasible point (module docstring)."""
    size = c.shape[0]
    y = (y + y.conj().T) / 2.0
    u = np.maximum(u, 0.0)
    s = np.zeros_like(c)
    s[:d, :d] = y
    s[d:, d:] = np.diag(u)
    s += sum(l * e for l, e in zip(lam, e_list)) + sum(m * f for m, f in zip(mu, f_list)) - c
    s = (s + s.conj().T) / 2.0
    tau = max(0.0, -float(np.linalg.eigvalsh(s)[0]))
    margin = 1e-13 * (1.0 + float(np.abs(s).sum()))
    return float(np.real(np.trace(y))) + float(u.sum()) + size * (tau + margin)


def _witnesses(frame: np.ndarray, z: np.ndarray, sqrt_s: float, epsilon: float) -> list[Witness]:
    """Explicit states from the primal matrix Z = [[I, B'], [B'^H, K]] (the dual value of the PSD constraint).

    δ_j = √s (B'_j ⊕ W_j) with W^H W = K − B'^H B' (the part outside span{φ}, clipped to PSD), in
    C^(d + n). Then each ψ_j is put exactly on the allowed set: normalised, <φ_j|ψ_j> real and
    positive, ψ_j = √(1 − e_j) φ_j + √e_j χ_j with the orthogonal weight e_j = min(ε, its value), or
    e_j = ε (the maximum usually sits at the fidelity limit, and the solver's primal point is less
    accurate than its dual): two candidates, the caller keeps the better.
    """
    d, n = frame.shape
    b, k = z[:d, d:], z[d:, d:]
    schur = k - b.conj().T @ b
    values, vectors = np.linalg.eigh((schur + schur.conj().T) / 2.0)
    outside = np.sqrt(np.clip(values, 0.0, None))[:, None] * vectors.conj().T
    phi = np.vstack([frame, np.zeros((n, n))]).T                      # rows φ_j in C^(d + n)
    raw = sqrt_s * np.vstack([b, outside]).T
    candidates = []
    for saturate in (False, True):
        delta = np.zeros_like(raw)
        for j in range(n):
            orth = raw[j] - np.vdot(phi[j], raw[j]) * phi[j]                # φ_j is a unit vector
            norm2 = float(np.linalg.norm(orth) ** 2)
            if norm2 == 0.0:
                continue
            e = epsilon if saturate else min(epsilon, norm2 / float(np.linalg.norm(phi[j] + raw[j]) ** 2))
            delta[j] = -e / (1.0 + math.sqrt(1.0 - e)) * phi[j] + math.sqrt(e) * orth / math.sqrt(norm2)
        candidates.append(Witness(phi, delta))
    return candidates


def _dual_problem(d: int, c: np.ndarray, e_list: list[np.ndarray], f_list: list[np.ndarray],
                  on_primal: Callable[[np.ndarray], None] | None = None
                  ) -> tuple[cp.Problem, Callable[[cp.Problem], CertifiedValue | None]]:
    """The dual SDP of the module docstring and its certificate (for :func:`.solve.solve`).

    ``on_primal`` receives the primal matrix Z (the dual value of the PSD constraint) of each run.
    """
    n = len(e_list)
    y = cp.Variable((d, d), hermitian=True)
    u = cp.Variable(n, nonneg=True)
    lam = cp.Variable(n)
    mu = cp.Variable(n)
    slack = cp.bmat([[y, np.zeros((d, n))], [np.zeros((n, d)), cp.diag(u)]])
    slack = slack + sum(lam[j] * e_list[j] + mu[j] * f_list[j] for j in range(n)) - c
    problem = cp.Problem(cp.Minimize(cp.real(cp.trace(y)) + cp.sum(u)), [slack >> 0])

    def certify(solved: cp.Problem) -> CertifiedValue | None:
        if any(v.value is None for v in (y, u, lam, mu)):
            return None
        if on_primal is not None and solved.constraints[0].dual_value is not None:
            on_primal(np.asarray(solved.constraints[0].dual_value))
        return CertifiedValue(_certify(d, c, e_list, f_list, y.value, u.value, lam.value, mu.value),
                              float(solved.value))

    return problem, certify


@lru_cache(maxsize=256)
def _cached(pair_key: tuple, epsilon: float) -> OverlapBound:
    pair: CoinPair = _PAIRS[pair_key]
    c0 = max(pair.distance_at_characterized_states(), 0.0)
    if pair.offset is not None:     # known in closed form: aligned iff it is 0 (rounding can't decide it)
        aligned = pair.offset == 0.0
        c0 = max(c0, pair.offset)
    else:
        aligned = c0 <= 1e-12 * max(1.0, float(np.abs(pair.metric).max()))
    if aligned:
        c0 = 0.0        # Tar(0) = Ref(0) exactly; rounding must not leak into √Δ
    trivial = 4.0 * pair.norm
    if epsilon <= 0.0:
        return OverlapBound(c0, pair.norm, epsilon, SolverReport(message="ε = 0: the states are the φ_j"))
    s = fidelity_scale(epsilon)
    sqrt_s = math.sqrt(s)
    frame = _orthonormal_frame(pair.states.gram)
    c, e_list, f_list = _problem_matrices(pair, frame, sqrt_s, aligned)
    scale = s if aligned else sqrt_s
    # the solver's variable J is the distance's excess over c0 in units of `scale`; the trivial bound in J units
    witnesses: list[Witness] = []
    problem, certify = _dual_problem(frame.shape[0], c, e_list, f_list,
                                     lambda z: witnesses.extend(_witnesses(frame, z, sqrt_s, epsilon)))
    solution = solve(problem, SOLVERS, certify, conservative=(trivial - c0) / scale)
    witness = max(witnesses, key=lambda w: float(np.linalg.norm(w.apply(pair.difference)) ** 2), default=None)
    if solution.conservative:
        report = solution.report.model_copy(update={
            "message": "no solver certified the overlap bound; used Re<Tar|Ref> ≥ −1 (no key). "
                       + solution.report.message})
        return OverlapBound(trivial, pair.norm, epsilon, report)
    distance = min(c0 + scale * max(solution.value, 0.0), trivial)
    report = solution.report.model_copy(update={"gap": scale * solution.report.gap})
    return OverlapBound(distance, pair.norm, epsilon, report, witness)


_PAIRS: dict[tuple, CoinPair] = {}


def max_distance(pair: CoinPair, epsilon: float) -> OverlapBound:
    """Certified max of ‖T̃ − R̃‖² over emitted states with fidelity ≥ 1 − ε (cached per pair and ε)."""
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"ε = {epsilon} must lie in [0, 1]")
    key = (pair.kind, hash(pair.states), pair.difference.tobytes())
    _PAIRS.setdefault(key, pair)
    return _cached(key, float(epsilon))
