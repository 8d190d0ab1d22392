"""Certified phase-error bound of MDI-QKD from Eve's Gram matrix: Bourassa et al., PRA 106, 062618
(2022), Sec. II A (Eqs. (2)-(8), App. B), the SDP of Primaatmaja et al., PRA 99, 062332 (2019).

Eve's attack maps the signal states |Ψ_a Φ_b⟩ (Alice's a, Bob's b, any number of states each) to
Σ_z |e_{a,b,z}⟩|z⟩ (Eq. (1)), z ∈ {the announcements r that pass, F}. Announcements are classical,
so only the Gram blocks G_z[(a,b),(a',b')] = ⟨e_{a,b,z}|e_{a',b',z}⟩ of equal z enter, and
Eq. (2) reads Σ_z G_z = G_AB := G_A ⊗ G_B (entrywise over the pairs used). Eliminating
G_F = G_AB − Σ_r G_r leaves the variables G_r ⪰ 0 (one per passing announcement) with

    G_AB − Σ_r G_r ⪰ 0                                       (Eq. (2) with G_F ⪰ 0)
    p_L(a, b, r) ≤ G_r[(a,b),(a,b)] ≤ p_U(a, b, r)             (Eqs. (3)-(4), from DetectionBounds)

and the phase error of the key announcement k (Eq. (7), App. B) in the virtual picture
Σ_{x,y} |x, y⟩ e^{i(γ_A x + γ_B y)} |Ψ_x Φ_y⟩ on the key-basis states (x, y ∈ {0Z, 1Z}):

    e_ph = 1/2 − s Re[e^{i(γ_A+γ_B)} ⟨e_00|e_11⟩ + e^{i(γ_A−γ_B)} ⟨e_01|e_10⟩] / Σ_{x,y} ⟨e_xy|e_xy⟩.

Conventions pinned down (checked against the closed form at |α|² = 0, ideal BB84 states, exact
honest single-photon statistics: the SDP gives the X-basis single-photon error rate):

- **Virtual phases γ.** Any γ gives a valid virtual protocol; Eq. (7) as printed is γ = 0, which
  makes the virtual X eigenstates (Ψ_0Z ± Ψ_1Z)/√2 in whatever per-state phase gauge the Gram
  matrix happens to be. We fix the gauge-invariant choice that puts a reference test state T in the
  virtual X-Z plane: γ = arg⟨Ψ_1Z|T⟩ − arg⟨Ψ_0Z|T⟩, T the non-key state with the largest
  |⟨Ψ_0Z|T⟩⟨Ψ_1Z|T⟩| (first on ties: 0X for BB84). For ideal states T = 0X is then the virtual
  |+⟩, as in the closed form.
- **Pauli pair and sign s.** e_ph counts the X⊗X parity opposite to the one the announcement
  heralds: s = +1 if announcement k correlates (T_A, T_B) (Ψ+ of Lo-Curty-Qi for X test states),
  s = −1 if it anticorrelates them (Ψ−), taken from :func:`.detection.bit_error_mask`. Eq. (7) as
  printed is s = +1 (target Φ+ after Bob's flip).
- **Ratio.** With interval bounds the denominator is a variable; the linear-fractional program is
  solved exactly by the Charnes-Cooper substitution Y_r = t G_r, t = 1/Σ_key p (t ≥ 0,
  Σ_{x,y} Y_k[xy, xy] = 1, all constraints homogeneous in (Y, t)).
- **0 ≤ e_ph ≤ 1/2** (Sec. II A) is applied to the result (min(bound, 1/2)); a bound ≥ 1/2 gives no key.
- ``statistics="matched"`` keeps only the pairs (a, b) of equal bases (Eqs. (2)-(4) restricted to
  i = j); ``"all"`` uses every pair, mismatched bases included (App. E 1).

Range and scaling (what is solved). G_AB = U Λ U†; eigenvalues below 1e-12 of the largest are
treated as exact zeros (floating-point images of exact linear dependences, e.g. four qubit states in
a 2-dimensional space; ``dropped_mass`` reports their sum). Every feasible Y_r lives in the range of
U, so we write Y_r = U D M_r D U† with D = diag(min(t̂ λ_i, 1))^{1/2}, t̂ = 1/Σ_key p_U: the M_r
are O(1) in every direction (qubit directions carry Y ~ 1, leakage directions at most t λ_i), the
G_F block reads Σ_r M_r ⪯ t Λ/D², and the problem has a strictly feasible point (the unreduced
problem has none, and interior-point solvers stall on it). Four more choices keep every number the
interior-point solver sees of order one (docs/solver-core.md): t = t̂ τ (τ ∈ [1, Σ_key p_U/Σ_key p_L]);
the G_F block is posed as the congruence E(t Λ/D² − Σ_r M_r)E ⪰ 0, E = (t̂ Λ/D²)^{-1/2}, i.e.
τ I − E(Σ_r M_r)E ⪰ 0 (a solver can scale a PSD cone only as a whole, and t̂ Λ/D² spans 1 … 4 t̂);
M_r = (A + C)/2 + i(B − Bᵀ)/2 from a free real PSD X_r = [[A, Bᵀ], [B, C]] (Hermitian M ⪰ 0 exactly
when some such X exists, and the solver's cone carries no equality constraints tying its blocks);
exact data (``lower == upper``) are equality constraints with t = t̂ fixed (zero-width intervals
lack an interior), whitened: W(A m − t̂ p) = 0 with W = K^{-1/2} on the independent rows of the map
A: M ↦ diag(U D M D U†), K = |U D² U†|² its row Gram matrix, so the equalities have orthonormal
rows (the same set: t̂ p lies in the range of A); their multipliers map back as η = Wᵀη'.

Certification. Solvers reach this complex SDP only to ~1e-9..1e-4, so the returned bound is not
the solver's value but a weak-duality bound evaluated from its dual solution after repair
(:meth:`GramPhaseErrorSDP.certify`). With Z ⪰ 0 (dual of the G_F block, projected onto the PSD
cone), μ, ν ≥ 0 (duals of the upper and lower bounds, clipped; an equality's multiplier is split
into both), λ (normalisation), W the objective matrix (e_ph = 1/2 + tr(W Y_k)), A_r = Diag(μ_r − ν_r)
+ δ_rk (λ Diag(key) − W) and the slacks S_r = Z + D U†A_r U D, every feasible point satisfies

    e_ph = L − (complementary terms ≥ 0) ≤ 1/2 + λ + t c_t − Σ_r tr(S_r M_r),
    c_t = tr(Z Λ/D²) + Σ μ p_U − Σ ν p_L,   t ∈ [t_min, t_max] = [1/Σ_key p_U, 1/Σ_key p_L].

If every S_r ⪰ 0 this is 1/2 + λ + max(t_min c_t, t_max c_t). Negative parts N_r of the S_r (the
solver's inaccuracy) are paid for in the cheapest of these valid ways: shift Z by Σ_r N_r (c_t grows
by Σ_r tr(N_r Λ/D²)); bound −tr(S_r M_r) ≤ tr(N_r M_r) ≤ t tr(N_r Λ/D²) per outcome (M_r ⪯ t Λ/D²); or,
in the coordinates of Y, ‖D⁻¹N_r D⁻¹‖ tr(Y_r) ≤ ‖D⁻¹N_r D⁻¹‖ t Σ_j p_U(j, r); or any mix of the last
two, with per-pair weights (N_r ⪯ V diag(a) V† + R₊, V = DU†, a ≥ 0; :func:`_negative_part_cost`). The bound holds whatever the solver's
accuracy (up to floating-point round-off in evaluating it). ``gap`` is the certified bound minus
the solver's primal value. The solver core (:func:`..solve.solve`) runs ``solvers`` in order; if a
solver raises, returns no usable dual, or leaves a gap above ``gap_tolerance``, the next one is tried
and the best certified bound is kept (bound and solver value are clipped at 1/2 first, so a point
without key ends the search at once); with none, e_ph = 1/2 is returned with ``conservative=True``
and the reason. A zero lower bound on the key-basis pass probability also gives the conservative 1/2.

Numerics: one problem per kind of data (exact or intervals) is built once with cvxpy Parameters
(the detection bounds, the scalings D and E, the whitened rows and the data derived from them, all of
which change with distance; the problem is DPP, so cvxpy compiles it once) and re-solved with new
values. Timing: benchmarks/bench_mdi_sdp.py and bench_mdi_curve.py.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import cvxpy as cp
import numpy as np
from numpy.typing import ArrayLike

from ...model import SolverReport
from ..solve import CertifiedValue, SolverSpec, solve
from .detection import bit_error_mask
from .types import DetectionBounds

__all__ = ["DEFAULT_SOLVERS", "PhaseErrorResult", "GramPhaseErrorSDP", "GramPhaseErrorBound"]

log = logging.getLogger(__name__)

#: Solvers tried in order (:mod:`..solve`): CLARABEL (default; then with shorter steps, against stalls, and a
#: 100× tighter duality gap, for tiny e_ph next to the constant 1/2; then without equilibration), then SCS.
#: The certificate makes any of their results safe.
DEFAULT_SOLVERS: tuple[SolverSpec, ...] = (
    SolverSpec("CLARABEL"),
    SolverSpec("CLARABEL", {"max_step_fraction": 0.9, "tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10}),
    SolverSpec("CLARABEL", {"equilibrate_enable": False}),
    SolverSpec("SCS", {"eps_abs": 1e-9, "eps_rel": 1e-9, "max_iters": 20_000}),
)
#: Largest certified-minus-primal gap accepted without trying the next solver.
DEFAULT_GAP_TOLERANCE = 1e-5
_KEY_LABELS = ("0Z", "1Z")
#: Eigenvalues of G_AB below this fraction of the largest are floating-point zeros (exact linear dependences).
_RANGE_TOLERANCE = 1e-12


@dataclass(frozen=True)
class PhaseErrorResult:
    """One phase-error bound: ``phase_error_upper`` is the certified (or conservative) value, ≤ 1/2.

    ``primal_value`` and ``gap`` are taken after clipping both numbers at 1/2 (a bound and a solver
    value both above 1/2 give gap 0: nothing better can be reported). ``report`` is the solver
    core's record (every run with its status and time).
    """

    phase_error_upper: float
    primal_value: float          # the solver's objective at its primal point, ≤ 1/2 (nan if none)
    gap: float                   # certified bound − primal value (nan if uncertified)
    solver: str
    status: str                  # the cvxpy status of the solve that gave the bound
    certified: bool              # True: the value comes from a repaired dual certificate
    conservative: bool           # True: e_ph = 1/2 returned because no certified bound was found
    message: str
    report: SolverReport


@dataclass
class _Program:
    """One built cvxpy problem and the handles to re-solve it and read its duals."""

    problem: cp.Problem
    objective: cp.Expression
    lower: cp.Parameter
    upper: cp.Parameter
    scaling: cp.Parameter
    congruence: cp.Parameter
    weights: cp.Parameter
    rows: cp.Parameter | None                 # exact data: the whitened diagonal map K^{-1/2} A (module docstring)
    fail: cp.Constraint
    below: list[cp.Constraint]
    above: list[cp.Constraint]
    normalisation: cp.Constraint | None       # None: exact data, t is a parameter
    whitener: np.ndarray | None = None        # exact data: W of the current parameters


def _basis(label: str) -> str:
    return label[1:]


def _key_indices(states: Sequence[str], who: str) -> tuple[int, int]:
    missing = [s for s in _KEY_LABELS if s not in states]
    if missing:
        raise ValueError(f"{who}'s states {tuple(states)} lack the key-basis states {missing}")
    return states.index(_KEY_LABELS[0]), states.index(_KEY_LABELS[1])


def _reference_state(gram: np.ndarray, key: tuple[int, int]) -> int | None:
    """The non-key state T maximising |⟨0Z|T⟩⟨1Z|T⟩| (None if every such product vanishes)."""
    weight = np.abs(gram[key[0]] * gram[key[1]])
    weight[list(key)] = -1.0
    best = int(np.argmax(weight))
    return best if weight[best] > 1e-12 else None


def _checked_gram(gram: ArrayLike, n: int, who: str) -> np.ndarray:
    g = np.asarray(gram, dtype=complex)
    if g.shape != (n, n):
        raise ValueError(f"{who}'s Gram matrix has shape {g.shape}, expected ({n}, {n}) for its {n} states")
    if not np.allclose(g, g.conj().T, atol=1e-12):
        raise ValueError(f"{who}'s Gram matrix is not Hermitian")
    if np.linalg.eigvalsh(g).min() < -1e-10 * max(1.0, float(np.abs(g).max())):
        raise ValueError(f"{who}'s Gram matrix is not positive semidefinite (no states have these overlaps)")
    return g


def _psd_part(matrix: np.ndarray) -> np.ndarray:
    herm = (matrix + matrix.conj().T) / 2.0
    values, vectors = np.linalg.eigh(herm)
    return (vectors * np.clip(values, 0.0, None)) @ vectors.conj().T


class GramPhaseErrorSDP:
    """The phase-error SDP of Sec. II A for fixed signal states, re-solvable for new detection bounds.

    ``gram_a``/``gram_b``: Gram matrices ``G[b, a] = ⟨Ψ_b|Ψ_a⟩`` of Alice's and Bob's signal states
    (e.g. :func:`.leakage_models.signal_gram`), labelled by ``states_a``/``states_b`` (both must hold
    0Z and 1Z, the key basis). ``outcomes``: the passing announcements of the bounds to be given,
    in order; ``key_outcome`` (default the first) is the one whose phase error is bounded, the
    others add constraints. See the module docstring for the conventions and the certificate.
    """

    def __init__(self, gram_a: ArrayLike, gram_b: ArrayLike, states_a: Sequence[str], states_b: Sequence[str],
                 outcomes: Sequence[str], key_outcome: str | None = None,
                 statistics: Literal["matched", "all"] = "all",
                 solvers: Sequence[SolverSpec] = DEFAULT_SOLVERS,
                 gap_tolerance: float = DEFAULT_GAP_TOLERANCE) -> None:
        self.states_a, self.states_b = tuple(states_a), tuple(states_b)
        self.outcomes = tuple(outcomes)
        self.key_outcome = self.outcomes[0] if key_outcome is None else key_outcome
        if self.key_outcome not in self.outcomes:
            raise ValueError(f"key outcome {self.key_outcome!r} is not one of the outcomes {self.outcomes}")
        if statistics not in ("matched", "all"):
            raise ValueError(f"statistics {statistics!r} must be 'matched' or 'all'")
        self.statistics = statistics
        self.solvers = tuple(solvers)
        self.gap_tolerance = gap_tolerance
        ga = _checked_gram(gram_a, len(self.states_a), "Alice")
        gb = _checked_gram(gram_b, len(self.states_b), "Bob")
        self.pairs = [(a, b) for a, sa in enumerate(self.states_a) for b, sb in enumerate(self.states_b)
                      if statistics == "all" or _basis(sa) == _basis(sb)]
        ia, ib = (np.array(x) for x in zip(*self.pairs))
        self.gram = ga[np.ix_(ia, ia)] * gb[np.ix_(ib, ib)]
        key_a, key_b = _key_indices(self.states_a, "Alice"), _key_indices(self.states_b, "Bob")
        self.key = np.array([self.pairs.index((key_a[x], key_b[y])) for x in (0, 1) for y in (0, 1)])
        self.objective_matrix = self._objective_matrix(ga, gb, key_a, key_b)
        self._range()
        self._programs: dict[bool, _Program] = {}

    # -- Eq. (7) ------------------------------------------------------------------------------
    def _objective_matrix(self, ga: np.ndarray, gb: np.ndarray, key_a: tuple[int, int], key_b: tuple[int, int]
                          ) -> np.ndarray | None:
        """W with e_ph = 1/2 + tr(W Y_k) (normalised Y_k), or None if no test state fixes the phase."""
        ref_a, ref_b = _reference_state(ga, key_a), _reference_state(gb, key_b)
        if ref_a is None or ref_b is None:
            return None
        label_a, label_b = self.states_a[ref_a], self.states_b[ref_b]
        if _basis(label_a) != _basis(label_b):
            raise ValueError(f"reference test states {label_a} (Alice) and {label_b} (Bob) are in different bases; "
                             "the expected X⊗X parity of the announcement is undefined")
        error = bit_error_mask((label_a,), (label_b,), (self.key_outcome,))[0, 0, 0]
        sign = -1.0 if error else 1.0
        gamma_a = np.angle(ga[key_a[1], ref_a]) - np.angle(ga[key_a[0], ref_a])
        gamma_b = np.angle(gb[key_b[1], ref_b]) - np.angle(gb[key_b[0], ref_b])
        k00, k01, k10, k11 = self.key
        coefficients = np.zeros((len(self.pairs), len(self.pairs)), dtype=complex)
        coefficients[k11, k00] = np.exp(1j * (gamma_a + gamma_b))     # multiplies ⟨e_00|e_11⟩ = Y[00, 11]
        coefficients[k10, k01] = np.exp(1j * (gamma_a - gamma_b))     # multiplies ⟨e_01|e_10⟩ = Y[01, 10]
        return -sign * (coefficients + coefficients.conj().T) / 2.0

    def _range(self) -> None:
        """U, Λ: the eigenvectors and eigenvalues of G_AB above the floating-point zeros (module docstring)."""
        values, vectors = np.linalg.eigh(self.gram)
        keep = values > _RANGE_TOLERANCE * values.max()
        self.range_basis, self.range_values = vectors[:, keep], values[keep]
        self.dropped_mass = float(np.clip(values[~keep], 0.0, None).sum())
        u = self.range_basis
        self._diag_map = np.einsum("ji,jl->jli", u, u.conj()).reshape(len(u), -1)
        row_gram = np.linalg.eigvalsh(np.abs(u @ u.conj().T) ** 2)
        self.rank = int((row_gram > 1e-10 * row_gram.max()).sum())       # independent diagonal constraints

    def _program(self, exact: bool) -> _Program:
        """The cvxpy problem, built once per kind of detection data (exact probabilities are equalities:
        intervals of width 0 leave no interior). Variables M_r (d×d) with Y_r = U D M_r D U†; the diagonal
        scaling D (``scaling`` = D_i D_l, chosen per solve) keeps every entry of M of order one; the G_F block
        is posed as E (t C − Σ_r M_r) E ⪰ 0 with C = Λ/D², t = t̂ τ and E = (t̂ C)^{-1/2} (``congruence`` =
        E_i E_l), i.e. τ I − E (Σ_r M_r) E ⪰ 0, so every eigenvalue of its slack is of order one too."""
        if exact in self._programs:
            return self._programs[exact]
        n, d, nr = len(self.pairs), len(self.range_values), len(self.outcomes)
        k = self.outcomes.index(self.key_outcome)
        lower, upper = cp.Parameter((nr, n), nonneg=True), cp.Parameter((nr, n), nonneg=True)
        scaling, congruence = cp.Parameter((d, d), nonneg=True), cp.Parameter((d, d), nonneg=True)
        weights = cp.Parameter((d, d), complex=True)
        # M_r ⪰ 0 from a free real PSD X_r = [[A, Bᵀ], [B, C]] (2d × 2d): M_r = (A + C)/2 + i (B − Bᵀ)/2
        xs = [cp.Variable((2 * d, 2 * d), PSD=True) for _ in range(nr)]
        m = [(x[:d, :d] + x[d:, d:]) / 2 + 1j * (x[d:, :d] - x[:d, d:]) / 2 for x in xs]
        # diag(U Y U†)_j = Σ_{i,l} U_ji conj(U_jl) Y_il, Y_il = D_i D_l M_il (column-major vec)
        diagonals = [cp.real(self._diag_map @ cp.vec(cp.multiply(scaling, m_r), order="F")) for m_r in m]
        rows = None
        if exact:          # t = t̂ = 1/Σ_key p is data (τ = 1): ``lower`` holds K^{-1/2} t̂ p (whitened rows)
            rows = cp.Parameter((self.rank, d * d), complex=True)
            targets = cp.Parameter((nr, self.rank))
            fail = np.eye(d) - cp.multiply(congruence, sum(m)) >> 0
            below = [cp.real(rows @ cp.vec(m_r, order="F")) == targets[r] for r, m_r in enumerate(m)]
            above, normalisation, lower = [], None, targets
        else:              # Charnes-Cooper in τ = t/t̂ = O(1): ``lower``/``upper`` hold t̂ p_L, t̂ p_U
            t = cp.Variable(nonneg=True)
            fail = t * np.eye(d) - cp.multiply(congruence, sum(m)) >> 0
            below = [diagonals[r] <= t * upper[r] for r in range(nr)]
            above = [diagonals[r] >= t * lower[r] for r in range(nr)]
            normalisation = cp.sum(diagonals[k][self.key]) == 1
        objective = 0.5 + cp.real(cp.sum(cp.multiply(weights, m[k])))       # tr(W Y_k) = Σ (U†WU)ᵀ ∘ DD ∘ M
        constraints = [fail, *below, *above]
        program = _Program(cp.Problem(cp.Maximize(objective), constraints + [normalisation] * (not exact)),
                           objective, lower, upper, scaling, congruence, weights, rows, fail, below, above,
                           normalisation)
        self._programs[exact] = program
        return program

    def _set(self, program: _Program, lower: np.ndarray, upper: np.ndarray, exact: bool) -> np.ndarray:
        """Put the data into the parameters; returns D (D_i² = min(t̂ λ_i, 1), t̂ = 1/Σ_key p_U)."""
        k = self.outcomes.index(self.key_outcome)
        t_hat = 1.0 / upper[k, self.key].sum()
        d = np.sqrt(np.minimum(t_hat * self.range_values, 1.0))
        program.scaling.value = np.outer(d, d)
        w_range = self.range_basis.conj().T @ self.objective_matrix @ self.range_basis
        program.weights.value = w_range.T * np.outer(d, d)
        e = 1.0 / np.sqrt(t_hat * self.range_values / d**2)
        program.congruence.value = np.outer(e, e)
        if exact:
            whitener = self._whitener(d)
            dd = np.outer(d, d).reshape(-1, order="F")
            program.rows.value = whitener @ (self._diag_map * dd)
            program.lower.value = (whitener @ (t_hat * upper).T).T
            program.whitener = whitener
        else:
            program.lower.value = t_hat * lower
        program.upper.value = t_hat * upper
        return d

    def _whitener(self, d: np.ndarray) -> np.ndarray:
        """W (rank × n) with W A orthonormal rows: A the map M ↦ diag(U D M D U†), whose row Gram matrix is
        K = |U D² U†|² (entrywise); W = Λ_K^{-1/2} V_Kᵀ on its ``rank`` largest eigenvalues. Exact equalities
        A m = b become W A m = W b: the same set (b is in the range of A) posed with orthonormal rows."""
        ud = self.range_basis * d**2 @ self.range_basis.conj().T
        values, vectors = np.linalg.eigh(np.abs(ud) ** 2)
        values, vectors = values[-self.rank:], vectors[:, -self.rank:]
        return (vectors / np.sqrt(values)).T

    # -- data ---------------------------------------------------------------------------------
    def _data(self, bounds: DetectionBounds) -> tuple[np.ndarray, np.ndarray]:
        if bounds.lower.shape[:2] != (len(self.states_a), len(self.states_b)):
            raise ValueError(f"bounds of shape {bounds.lower.shape} do not match {len(self.states_a)} x "
                             f"{len(self.states_b)} states")
        missing = [o for o in self.outcomes if o not in bounds.outcomes]
        if missing:
            raise ValueError(f"bounds for outcomes {bounds.outcomes} lack {missing}")
        columns = [bounds.outcomes.index(o) for o in self.outcomes]
        ia, ib = (np.array(x) for x in zip(*self.pairs))
        lower = np.clip(bounds.lower[ia, ib][:, columns].T, 0.0, 1.0)
        upper = np.clip(bounds.upper[ia, ib][:, columns].T, 0.0, 1.0)
        return lower, upper

    # -- certificate --------------------------------------------------------------------------
    def certify(self, lower: np.ndarray, upper: np.ndarray, z: np.ndarray, mu: np.ndarray, nu: np.ndarray,
                lam: float, scale: np.ndarray) -> float:
        """The weak-duality bound of the module docstring from any dual candidate (Z, μ, ν, λ), repaired.

        Coordinates: Y_r = U D M_r D U† on the range (U, Λ) of G_AB, D = diag(``scale``);
        Z is the dual of Σ_r M_r ⪯ t C, C = Λ/D² (its PSD part is taken). The slacks
        S_r = Z + D U†A_r U D (A_r = Diag(μ_r − ν_r) + δ_rk (λ Diag(key) − W)) should be ⪰ 0; their
        negative parts N_r are paid for in the cheaper of two valid ways: Z → Z + Σ_r N_r (c_t grows
        by Σ_r tr(N_r C)), or per outcome −tr(S_r M_r) ≤ tr(N_r M_r) ≤ t · :func:`_negative_part_cost`
        (M_r ⪯ t C, tr(D² M_r) ≤ t Σ_j p_U(j, r), and their mixes).
        """
        k = self.outcomes.index(self.key_outcome)
        d = np.asarray(scale, dtype=float)
        capacity = self.range_values / d**2
        ud = self.range_basis * d
        z = _psd_part(np.asarray(z, dtype=complex))
        mu, nu = np.clip(np.real(mu), 0.0, None), np.clip(np.real(nu), 0.0, None)
        t_min, t_max = 1.0 / upper[k, self.key].sum(), 1.0 / lower[k, self.key].sum()
        c_t = float(np.real(np.diag(z)) @ capacity) + float(np.sum(mu * upper)) - float(np.sum(nu * lower))
        key_diagonal = np.zeros(len(self.pairs))
        key_diagonal[self.key] = 1.0
        shift, per_outcome = np.zeros_like(z), 0.0
        for r in range(len(self.outcomes)):
            a_r = np.diag(mu[r] - nu[r])
            if r == k:
                a_r = a_r + lam * np.diag(key_diagonal) - self.objective_matrix
            values, vectors = np.linalg.eigh(z + ud.conj().T @ a_r @ ud)
            negative = (vectors * np.clip(-values, 0.0, None)) @ vectors.conj().T
            shift += negative
            per_outcome += t_max * _negative_part_cost(negative, ud, capacity, upper[r])
        c_shifted = c_t + float(np.real(np.diag(shift)) @ capacity)
        by_shift = max(t_min * c_shifted, t_max * c_shifted)
        by_trace = max(t_min * c_t, t_max * c_t) + per_outcome
        return float(0.5 + lam + min(by_shift, by_trace))

    def _certificate(self, program: _Program, scale: np.ndarray, lower: np.ndarray, upper: np.ndarray
                     ) -> CertifiedValue | None:
        """The solver core's certificate: the repaired dual bound of :meth:`certify`, both numbers clipped at 1/2."""
        fail = program.fail.dual_value
        if program.rows is not None and all(c.dual_value is not None for c in program.below):
            # the multiplier of W(A m − b) = 0 is η' ⇒ that of A m − b = 0 is Wᵀ η'
            below = [program.whitener.T @ np.real(c.dual_value) for c in program.below]
        else:
            below = [c.dual_value for c in program.below]
        if fail is not None:
            fail = program.congruence.value * fail     # the dual of E(tC − ΣM)E ⪰ 0 is Z' ⇒ Z = E Z' E
        norm = 0.0 if program.normalisation is None else program.normalisation.dual_value
        above = [c.dual_value for c in program.above]
        if fail is None or norm is None or any(x is None for x in below + above):
            return None
        below = np.real(np.array(below))
        # an equality's multiplier η splits into μ = max(η, 0) on p ≤ p_U and ν = max(−η, 0) on p ≥ p_L = p_U
        above = np.real(np.array(above)) if above else np.clip(-below, 0.0, None)
        bound = self.certify(lower, upper, fail, below, above, float(np.real(norm)), scale)
        return CertifiedValue(min(bound, 0.5), min(float(program.objective.value), 0.5))

    def solve(self, bounds: DetectionBounds) -> PhaseErrorResult:
        """Certified upper bound on e_ph of the key outcome for these detection bounds (see the module docstring)."""
        lower, upper = self._data(bounds)
        k = self.outcomes.index(self.key_outcome)
        if self.objective_matrix is None:
            return _conservative("no non-key state overlaps both key states, so the phase error is unconstrained")
        if lower[k, self.key].sum() <= 0.0:
            return _conservative(f"the key-basis pass probability of {self.key_outcome} has lower bound 0")
        exact = bool(np.array_equal(lower, upper))
        program = self._program(exact)
        scale = self._set(program, lower, upper, exact)
        solution = solve(program.problem, self.solvers, lambda _: self._certificate(program, scale, lower, upper),
                         conservative=0.5, bound="upper", gap_tolerance=self.gap_tolerance)
        report = solution.report
        if solution.certificate is None:
            return _conservative("every solver failed; " + report.message, report)
        return PhaseErrorResult(solution.value, solution.certificate.primal, report.gap, report.solver, report.status,
                                True, False, report.message, report)


def _negative_part_cost(negative: np.ndarray, ud: np.ndarray, capacity: np.ndarray, pass_upper: np.ndarray) -> float:
    """A valid bound on tr(N M_r)/t for the negative part N ⪰ 0 of a slack (module docstring).

    Two budgets bound M_r: M_r ⪯ t C (the G_F block, C = ``capacity``), and per pair j
    (V†M_r V)_jj = diag(U Y_r U†)_j ≤ t p_U(j, r) with V = D U† (``ud`` = U D, so V V† = D²).
    Any N ⪯ V diag(a) V† + R₊ (a ≥ 0) then costs Σ_j a_j p_U(j, r) + tr(R₊ C). Tried: a = β·1
    (N ⪯ (N − βD²)₊ + βD², β on a log grid: β = 0 is the shift of Z, β = ‖D⁻¹ND⁻¹‖ the trace bound
    in the coordinates of Y), and a per eigenvector ν n of N from its preimage y (V y = n, least
    p-weighted norm): diag(a) ⪰ ν y y† at a_j = ν S |y_j|/√p_j, S = Σ_j |y_j| √p_j, cost ν S²; what
    that misses in floating point (R = N − V diag(a) V†) is charged by the β grid. The cheapest wins.
    """
    if not negative.any():
        return 0.0
    v = ud.conj().T
    d2 = np.real(np.diag(v @ ud))

    def by_beta(part: np.ndarray) -> float:
        top = float(np.linalg.eigvalsh(part / np.sqrt(np.outer(d2, d2))).max())
        costs = [max(top, 0.0) * float(pass_upper.sum())]
        for beta in [0.0, *(top * 10.0 ** -np.arange(1, 15))]:
            values, vectors = np.linalg.eigh(part - beta * np.diag(d2))
            positive = (vectors * np.clip(values, 0.0, None)) @ vectors.conj().T
            costs.append(float(np.real(np.diag(positive)) @ capacity) + beta * float(pass_upper.sum()))
        return min(costs)

    root = np.sqrt(np.maximum(pass_upper, 1e-30 * max(float(pass_upper.max()), 1e-300)))
    preimage = np.linalg.pinv(v / root) / root[:, None]          # y = P^{-1/2} (V P^{-1/2})⁺ n
    weights = np.zeros(len(pass_upper))
    values, vectors = np.linalg.eigh(negative)
    for nu, n in zip(values, vectors.T):
        if nu > 0:
            y = np.abs(preimage @ n)
            weights += nu * float(y @ root) * y / root
    residual = negative - (v * weights) @ v.conj().T
    values, vectors = np.linalg.eigh((residual + residual.conj().T) / 2)
    residual = (vectors * np.clip(values, 0.0, None)) @ vectors.conj().T
    per_pair = float(weights @ pass_upper) + (by_beta(residual) if residual.any() else 0.0)
    return min(by_beta(negative), per_pair)


def _conservative(reason: str, report: SolverReport | None = None) -> PhaseErrorResult:
    log.warning("phase-error SDP: returning the conservative e_ph = 1/2: %s", reason)
    report = (report or SolverReport(solver="none", status="conservative", conservative=True)
              ).model_copy(update={"message": reason})
    return PhaseErrorResult(0.5, math.nan, math.nan, "", "conservative", False, True, reason, report)


class GramPhaseErrorBound:
    """A :data:`.keyrate.PhaseErrorBound` from the SDP: ``bound(bounds) -> e_ph`` for one announcement.

    Builds one :class:`GramPhaseErrorSDP` per tuple of announcements it is called with (the key
    rate calls it per outcome with single-outcome bounds) and keeps the last full
    :class:`PhaseErrorResult` per key announcement in ``results``.
    """

    def __init__(self, gram_a: ArrayLike, gram_b: ArrayLike, states_a: Sequence[str],
                 states_b: Sequence[str] | None = None, statistics: Literal["matched", "all"] = "all",
                 solvers: Sequence[SolverSpec] = DEFAULT_SOLVERS,
                 gap_tolerance: float = DEFAULT_GAP_TOLERANCE) -> None:
        self._args = (gram_a, gram_b, tuple(states_a), tuple(states_a if states_b is None else states_b))
        self._options = {"statistics": statistics, "solvers": solvers, "gap_tolerance": gap_tolerance}
        self._problems: dict[tuple[str, ...], GramPhaseErrorSDP] = {}
        self.results: dict[str, PhaseErrorResult] = {}

    def __call__(self, bounds: DetectionBounds) -> float:
        if bounds.outcomes not in self._problems:
            self._problems[bounds.outcomes] = GramPhaseErrorSDP(*self._args, outcomes=bounds.outcomes,
                                                                **self._options)
        result = self._problems[bounds.outcomes].solve(bounds)
        self.results[bounds.outcomes[0]] = result
        return result.phase_error_upper
