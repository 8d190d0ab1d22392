"""Exact reductions of a :class:`~.problem.NumericalProblem`; each keeps the minimum α.

1. **Real symmetric ρ** (``NumericalProblem.is_complex`` false). If every K_i, Z_j and Γ_k is real
   and ρ is feasible, so is its complex conjugate ρ̄ (the constraints are real linear functionals:
   Tr(Γ ρ̄) = conj Tr(Γ ρ) = Tr(Γ ρ) since Γ is real symmetric), with f(ρ̄) = f(ρ) (conjugation
   commutes with G, Z and the logarithm). f is convex, so Re ρ = (ρ + ρ̄)/2 is feasible with
   f(Re ρ) ≤ f(ρ): minimising over real symmetric ρ loses nothing (Ferenczi & Lütkenhaus,
   PRA 85, 052310, Sec. V C). The step-1 solver then works over 𝕊ⁿ instead of ℍⁿ.
2. **Blocks** (:func:`merge_blocks` builds the unreduced problem). If all K_i, Z_j, Γ_k are block
   diagonal for a decomposition H = ⊕_b H_b (Bob's photon number, Zhang et al. Sec. III B), the
   pinching P(ρ) = ⊕_b Π_b ρ Π_b keeps every constraint value and, G and Z commuting with it, gives
   D(G(Pρ) ‖ Z(G(Pρ))) = D(P'(Gρ) ‖ P'(Z(Gρ))) ≤ D(Gρ ‖ Z(Gρ)) by data processing (P' the pinching
   on G's output, P'Z = ZP'). So block-diagonal ρ suffice, and f splits into a sum over blocks.
3. **Facial reduction of zero-probability constraints** (:func:`facial_reduction`). If
   Tr(Γ ρ) ≤ 0 is required with Γ ⪰ 0 (an outcome observed with probability 0), every feasible ρ
   is supported on ker Γ; the same holds for Tr(Γ ρ) ≥ λ_max(Γ) (e.g. a photon-number bound
   b_k = 1), which with Tr ρ = 1 is Tr((λ_max𝟙 − Γ) ρ) ≤ 0 with λ_max𝟙 − Γ ⪰ 0; we restrict each block to ker(Σ such Γ) with an isometry Q_b
   (ρ_b = Q_b ρ'_b Q_b†, K → K Q_b, Γ → Q_b† Γ Q_b) and drop those constraints. Eigenvalues of Γ
   below a tolerance are treated as zero, which keeps those directions: a relaxation, so the bound
   stays valid. Without this step no strictly feasible ρ exists and interior-point solvers stall.
4. **Orthonormalised equalities** (:func:`orthonormalise`). The equalities A x = p (rows vec Γ_k,
   with Tr ρ = 1 as the first) are replaced by V_rᵀ x = S_r⁻¹ U_rᵀ p from the thin SVD A = U S Vᵀ
   truncated at singular values below tolerance. The two systems have the same solutions when p
   lies in range(U_r); redundant rows (e.g. Alice's marginal, which the statistics already fix)
   no longer make the system singular. If p has a component outside range(U_r) above tolerance the
   statistics contradict each other and :class:`InconsistentStatisticsError` says so.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from .problem import Block, Constraint, NumericalProblem, ProblemError

__all__ = ["InconsistentStatisticsError", "facial_reduction", "merge_blocks", "orthonormalise"]

#: Eigenvalues/singular values below this fraction of the largest count as exact zeros.
_ZERO_TOL = 1e-11


class InconsistentStatisticsError(ProblemError):
    """The observed statistics cannot all hold for one quantum state."""


def merge_blocks(problem: NumericalProblem) -> NumericalProblem:
    """The same problem with all blocks merged into one (the unreduced form, for tests)."""
    dims = [b.dim for b in problem.blocks]
    key = [b for b in problem.blocks if b.yields_key]
    # One Kraus operator per (block, i), padded to the merged input space; outputs stacked.
    out_dims = [b.kraus[0].shape[0] if b.yields_key else 0 for b in problem.blocks]
    m_total, n_total = sum(out_dims), sum(dims)
    kraus = []
    n_off = m_off = 0
    n_proj = len(key[0].key_projectors)
    if any(len(b.key_projectors) != n_proj for b in key):
        raise ProblemError("merge_blocks needs the same number of key-map projectors in every key block")
    z_full = [np.zeros((m_total, m_total)) for _ in range(n_proj)]
    for b, blk in enumerate(problem.blocks):
        if blk.yields_key:
            for k in blk.kraus:
                big = np.zeros((m_total, n_total), dtype=k.dtype)
                big[m_off:m_off + out_dims[b], n_off:n_off + blk.dim] = k
                kraus.append(big)
            for j, z in enumerate(blk.key_projectors):
                z_full[j][m_off:m_off + out_dims[b], m_off:m_off + out_dims[b]] = z
        m_off += out_dims[b]
        n_off += blk.dim
    zs = [z for z in z_full if np.abs(z).any()]
    merged = Block(n_total, tuple(kraus), tuple(zs), "merged")
    cons = [Constraint((scipy.linalg.block_diag(*[problem.block_operator(c, b) for b in range(len(dims))]),),
                       c.lower, c.upper, c.name) for c in problem.constraints]
    return NumericalProblem((merged,), tuple(cons), problem.leakage, problem.name, problem.assumptions)


def facial_reduction(problem: NumericalProblem
                     ) -> tuple[NumericalProblem, tuple[np.ndarray, ...], tuple[int, ...]]:
    """Restrict each block to the common kernel of the PSD operators constrained to ≤ 0.

    Returns the reduced problem, the isometries Q_b (ρ_b = Q_b ρ'_b Q_b†) and the indices of the
    original blocks kept (a block whose kernel is {0} carries no weight and is dropped)."""
    nb = len(problem.blocks)

    def eigen_range(c: Constraint) -> tuple[float, float]:
        ws = [np.linalg.eigvalsh(problem.block_operator(c, b)) for b in range(nb)]
        return min(float(w[0]) for w in ws), max(float(w[-1]) for w in ws)

    faces: list[tuple[Constraint, list[np.ndarray]]] = []  # (constraint, PSD operator F_b with Tr(Fρ) = 0)
    for c in problem.constraints:
        if c.upper <= 0.0 or c.lower > -np.inf:
            low, high = eigen_range(c)
            tol = _ZERO_TOL * max(1.0, abs(low), abs(high))
            if c.upper <= 0.0 and low >= -tol:  # Tr(Γρ) ≤ 0, Γ ⪰ 0
                if c.upper < 0.0:
                    raise InconsistentStatisticsError(f"{c.name or 'constraint'}: a probability bounded above by "
                                                      f"{c.upper} < 0; check the statistics")
                faces.append((c, [problem.block_operator(c, b) for b in range(nb)]))
            elif c.lower >= high - tol:  # Tr(Γρ) ≥ λ_max(Γ) with Tr ρ = 1: Tr((λ_max𝟙 − Γ)ρ) ≤ 0
                faces.append((c, [high * np.eye(blk.dim) - problem.block_operator(c, b)
                                  for b, blk in enumerate(problem.blocks)]))
    if not faces:
        return problem, tuple(np.eye(b.dim) for b in problem.blocks), tuple(range(nb))
    zero = [c for c, _ in faces]
    isos = []
    for b, blk in enumerate(problem.blocks):
        total = sum((ops[b] for _, ops in faces), np.zeros((blk.dim, blk.dim)))
        w, v = np.linalg.eigh(total)
        scale = max(float(np.abs(w).max(initial=0.0)), 1.0)
        isos.append(v[:, w <= _ZERO_TOL * scale])
    blocks = []
    for blk, q in zip(problem.blocks, isos, strict=True):
        if q.shape[1] == 0:
            blocks.append(None)
            continue
        kraus = tuple(k @ q for k in blk.kraus) if blk.yields_key else ()
        blocks.append(Block(q.shape[1], kraus, blk.key_projectors if kraus else (), blk.name))
    keep = [b for b, blk in enumerate(blocks) if blk is not None]
    cons = []
    for c in problem.constraints:
        if any(c is z for z in zero):
            continue
        ops = tuple(None if c.operator[b] is None else isos[b].conj().T @ c.operator[b] @ isos[b] for b in keep)
        cons.append(Constraint(ops, c.lower, c.upper, c.name))
    reduced = NumericalProblem(tuple(blocks[b] for b in keep), tuple(cons), problem.leakage, problem.name,
                               problem.assumptions)
    full = tuple(isos[b] for b in keep)
    return reduced, full, tuple(keep)


def _vec(m: np.ndarray, complex_: bool) -> np.ndarray:
    if complex_:
        m = np.asarray(m, dtype=complex)
        return np.concatenate([m.real.ravel(), m.imag.ravel()])
    return np.asarray(m).real.ravel()


def orthonormalise(problem: NumericalProblem, tolerance: float = 1e-9) -> NumericalProblem:
    """Trace row plus equalities → an orthonormal, non-redundant system with the same solutions.

    The returned problem's first constraint is still Tr ρ = 1 (up to scaling) only if it survives
    as a direction; the engine re-adds nothing, since the trace is among the combined rows."""
    complex_ = problem.is_complex
    nb = len(problem.blocks)
    eqs = [Constraint(tuple(np.eye(b.dim) for b in problem.blocks), 1.0, 1.0, "trace")]
    eqs += [c for c in problem.constraints if c.is_equality]
    rest = [c for c in problem.constraints if not c.is_equality]
    a = np.array([np.concatenate([_vec(problem.block_operator(c, b), complex_) for b in range(nb)]) for c in eqs])
    p = np.array([c.lower for c in eqs])
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    r = int(np.sum(s > _ZERO_TOL * s[0]))
    coeff = u[:, :r].T / s[:r, None]  # S_r⁻¹ U_rᵀ
    residual = p - u[:, :r] @ (u[:, :r].T @ p)
    worst = float(np.abs(residual).max(initial=0.0))
    if worst > tolerance:
        k = int(np.argmax(np.abs(residual)))
        raise InconsistentStatisticsError(
            f"the observed statistics contradict each other (e.g. near '{eqs[k].name}', residual {worst:.2e}): "
            "no quantum state reproduces them; check that each of Alice's bases sums to 1 and the marginals match")
    combined = [np.tensordot(coeff, np.array([problem.block_operator(c, b) for c in eqs]), axes=1) for b in range(nb)]
    values = coeff @ p
    new = [Constraint(tuple(ops[j] for ops in combined), float(values[j]), float(values[j]), f"orthonormal {j}")
           for j in range(r)]
    return NumericalProblem(problem.blocks, tuple(new + rest), problem.leakage, problem.name, problem.assumptions)
