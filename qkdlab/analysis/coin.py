"""Quantum-coin bounds: the target/reference pairs of GLLP and of the loss-tolerant quantum coin.

Both methods bound the error statistics of a *target* state (whose errors are the phase errors,
up to observed terms) through those of a *reference* state (whose statistics are all observed),
using the a-priori distance between the two: with the coin state
(|0>_C|Tar> + |1>_C|Ref>)/√2 the probability of X_C = 1 is (1 − Re<Tar|Ref>)/2 (framework
paper, Currás-Lorenzo et al., Optica Quantum 2025, Eqs. 6 and 10-12).

Construction (written out in docs/keyrate-derivation.md). Alice's registers are D (the virtual
bit β), A (labels of the components) and B (the emitted pulse). For each β the target holds
the virtual state v_β plus the loss-tolerant terms of negative weight, the reference holds the
terms of positive weight (LTDecomposition: |v_β><v_β| + Σ_neg |a_βj| φ_j = Σ_pos a_βj φ_j):

    |T̃> = Σ_β |β>_D ( |0>_A v_β + Σ_{j: a_βj<0} √|a_βj| |j>_A ψ_j ),
    |R̃> = Σ_β |β>_D U_β ( Σ_{j: a_βj>0} √a_βj |j>_A ψ_j ),

with v_0 = (ψ_0Z + ψ_1Z)/2, v_1 = (ψ_0Z − ψ_1Z)/2 built from the *emitted* states, and U_β the
unitary on A (polar decomposition, Uhlmann) that makes |T̃> = |R̃> when ψ_j = φ_j. This is the
paper's Eqs. (10)-(11) at q = q0: the √(1 − q_ε), √q_ε of Eq. (10) are absorbed into v_β (so
condition (2) of App. A.8 holds exactly for every ε), and condition (1), Tar(0) = Ref(0), holds
by construction. Other values of the paper's q scale the decomposition terms (CoinFamily); every
one is a valid pair, and coin_q.py searches them with a certificate. Both have the ε-independent norm² N = 1 + Σ_neg |a|,
and T̃ − R̃ is a fixed linear map of the emitted states, so Re<Tar|Ref> is linear in their Gram
matrix (the overlap SDP, :mod:`qkdlab.analysis.overlap_sdp`). GLLP is the same with target
|Ψ_Z> and reference |Ψ_X> = Σ_β |β>_D ψ_βX/√2 (N = 1), whose phase is again aligned by U_β.

Per coin round, with t_e, t_c (r_e, r_c) the probabilities that the target (reference) is
detected with an error / without, error meaning (D = β, X_B = 1 − β): after any attack,
(√t_e − √r_e)² + (√t_c − √r_c)² ≤ ‖T̃ − R̃‖² =: Δ (triangle inequality on the projected
vectors; see the derivation note). The target's total detection t_e + t_c is observed
(parallelogram law for v_0, v_1 plus the observed negative terms), so t_e is at most
T sin²(θ_r + γ) with T = t_e + t_c, sin²θ_r = r_e/(r_e + r_c) and
cos γ = (T + R − Δ)/(2√(TR)) — the Bloch-sphere bound of Koashi / Lo-Preskill, to which it
reduces when T = R. The phase-error probability is t_e minus the observed errors of the
negative terms. The feasible set is convex in (t_e, t_c, r_e, r_c, Δ), so the bound is jointly
concave and homogeneous, which lets the finite-key analysis sum it over rounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from .states import LTDecomposition, StateSet, lt_decomposition, lt_decompositions

__all__ = ["CoinPair", "CoinFamily", "ltqc_family", "ltqc_families", "ltqc_pair", "ltqc_pairs", "gllp_pair", "max_target_error", "max_target_error_interval",
           "max_target_error_box"]


@dataclass(frozen=True)
class CoinPair:
    """A target/reference pair as linear maps of the emitted states.

    ``difference[a, j]``: T̃ − R̃ = Σ_a |a>_DA ⊗ Σ_j difference[a, j] ψ_j. Weight arrays w[j, o]
    give observed quantities as Σ_jo w[j, o] Y_j^{X, o} (Y: detection with X outcome o for
    setting j): the target's total detection, the observed error terms inside the target, and
    the reference's error / no-error detections. ``offset``: ‖T̃ − R̃‖² at ψ = φ when known in closed
    form (0 for [F]'s Tar(0) = Ref(0) pairs; the overlap SDP then knows the exact structure), else None.
    """

    kind: Literal["ltqc", "gllp"]
    states: StateSet
    difference: np.ndarray
    norm: float
    target_detection: np.ndarray
    target_observed_errors: np.ndarray
    reference_errors: np.ndarray
    reference_correct: np.ndarray
    choice: str = ""
    offset: float | None = None

    @property
    def metric(self) -> np.ndarray:
        """M with ‖T̃ − R̃‖² = Σ_jk M_jk <ψ_j|ψ_k> (M = L^H L, L = ``difference``)."""
        return self.difference.conj().T @ self.difference

    def distance_at_characterized_states(self) -> float:
        """‖T̃ − R̃‖² when the emitted states are exactly the characterized φ_j (0 for LTQC)."""
        return float(np.real(np.sum(self.metric * self.states.gram)))


def _aligned_parts(target: np.ndarray, reference: np.ndarray, gram: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, U R) over padded component labels, U the unitary maximising Re<T|U R> at the φ_j (T − U R: the difference)."""
    size = max(len(target), len(reference))
    t = np.zeros((size, target.shape[1]), complex)
    r = np.zeros((size, target.shape[1]), complex)
    t[: len(target)], r[: len(reference)] = target, reference
    cross = t.conj() @ gram @ r.T                  # cross[k, m] = <t_k|r_m>
    w, _, vh = np.linalg.svd(cross.T)              # maximise Re Tr(U cross^T): U = V W^H
    unitary = vh.conj().T @ w.conj().T
    return t, unitary @ r


def _aligned_difference(target: np.ndarray, reference: np.ndarray, gram: np.ndarray) -> np.ndarray:
    """T − U R over padded component labels, U the unitary maximising Re<T|U R> at the φ_j."""
    t, ur = _aligned_parts(target, reference, gram)
    return t - ur


def _detection_weights(n: int, states: StateSet) -> np.ndarray:
    w = np.zeros((n, 2))
    w[[states.index("Z0"), states.index("Z1")], :] = 0.5      # ‖v_0‖²_M + ‖v_1‖²_M = (Y_0Z + Y_1Z)/2
    return w


@dataclass(frozen=True, eq=False)
class CoinFamily:
    """The loss-tolerant coin pairs of one decomposition, with the free parameter q of [F] Eqs. (10)-(11).

    [F] weighs the β = 1 terms of the decomposition by q and the β = 0 terms by 1 − q. Our v_β are
    exact, so at q0 = (1 − Re<φ_0Z|φ_1Z>)/2 the pair is Tar(0) = Ref(0) (:func:`ltqc_pair`). For
    another q = q0 + dq the decomposition terms of block β are scaled by s_β (s_1 = q/q0,
    s_0 = (1 − q)/(1 − q0)), amplitudes by x_β = √s_β, while v_β and the unitary U_β (fixed at q0,
    as [F]'s {|0'>, |1'>}) stay:

        T̃_β − R̃_β = |0>_A v_β + x_β (negative terms − U_β · positive terms) = (1 − x_β) |0>_A v_β + x_β L_β ψ,

    L_β the block of the q0 pair. Every member is a valid pair (the coin inequality holds for any two
    states, and T̃ still holds v_β exactly), so the bound of any q is a bound; q ≠ q0 only moves the
    observed weights (by s_β) and the distance, which gains ‖T̃ − R̃‖² = Σ_β (1 − x_β)² ‖v_β‖² at
    ψ = φ. coin_q.py finds the best q with a certificate (docs/keyrate-derivation.md, Sec. 3).

    ``parts[β]``: (T rows, U R rows) at q0, row 0 of T being |0>_A v_β; ``weights[name][β]``: the
    observed weights of block β's decomposition terms at q0 (target detection of the negative
    terms, their observed errors, the reference's errors and correct detections). Compared and
    hashed by identity (ltqc_families caches them per states), so solved nodes can be cached.
    """

    states: StateSet
    parts: tuple[tuple[np.ndarray, np.ndarray], ...]
    weights: dict[str, np.ndarray]
    negative_weight: np.ndarray
    q0: float
    choice: str

    @property
    def virtual_detection(self) -> np.ndarray:
        """Weights of ‖v_0‖²_M + ‖v_1‖²_M = (Y_0Z + Y_1Z)/2, the target's detection without decomposition terms."""
        return _detection_weights(len(self.states.labels), self.states)

    @property
    def virtual_norms(self) -> np.ndarray:
        """‖v_β‖² at ψ = φ: 1 − q0 and q0."""
        return np.array([1.0 - self.q0, self.q0])

    def scales(self, dq: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(s_0, s_1) at q = q0 + dq, computed from dq so that they stay exact near q0."""
        dq = np.asarray(dq, float)
        return 1.0 - dq / (1.0 - self.q0), 1.0 + dq / self.q0

    def one_minus_amplitudes(self, dq: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(1 − x_0, 1 − x_1) without cancellation: 1 − √s = (1 − s)/(1 + √s)."""
        s0, s1 = self.scales(dq)
        return (1.0 - s0) / (1.0 + np.sqrt(s0)), (1.0 - s1) / (1.0 + np.sqrt(s1))

    def pair(self, dq: float = 0.0) -> CoinPair:
        """The pair at q = q0 + dq (dq = 0: [F]'s Tar(0) = Ref(0) pair)."""
        if not -self.q0 <= dq <= 1.0 - self.q0:
            raise ValueError(f"q = q0 + {dq} lies outside [0, 1]")
        scale = np.array(self.scales(dq), float)
        amplitude = np.sqrt(scale)
        blocks = []
        for (t, ur), x in zip(self.parts, amplitude):
            t = t.copy()
            t[1:] *= x
            blocks.append(t - x * ur)
        w = {name: np.tensordot(scale, value, axes=1) for name, value in self.weights.items()}
        choice = self.choice if dq == 0 else f"{self.choice} (q = {self.q0 + dq:.6g}, q0 = {self.q0:.6g})"
        offset = 0.0 if dq == 0 else float(np.sum(np.array(self.one_minus_amplitudes(dq)) ** 2 * self.virtual_norms))
        return CoinPair("ltqc", self.states, np.vstack(blocks), 1.0 + float(scale @ self.negative_weight),
                        self.virtual_detection + w["detection"], w["observed"], w["errors"],
                        w["correct"], choice, offset)


def ltqc_family(states: StateSet, decomposition: LTDecomposition | None = None) -> CoinFamily:
    """The q family of one decomposition (least weight by default); its q0 member is :func:`ltqc_pair`."""
    lt = decomposition or lt_decomposition(states)
    n = len(states.labels)
    parts = []
    weights = {name: np.zeros((2, n, 2)) for name in ("detection", "observed", "errors", "correct")}
    negative_weight = np.zeros(2)
    for beta in range(2):
        a = lt.coefficients[beta]
        negative, positive = np.flatnonzero(a < 0), np.flatnonzero(a > 0)
        target = [lt.virtual[beta].astype(complex)] + [np.sqrt(-a[j]) * np.eye(n)[j] for j in negative]
        reference = [np.sqrt(a[j]) * np.eye(n)[j] for j in positive]
        parts.append(_aligned_parts(np.array(target), np.array(reference), states.gram))
        weights["detection"][beta, negative, :] = -a[negative, None]
        weights["observed"][beta, negative, 1 - beta] = -a[negative]
        weights["errors"][beta, positive, 1 - beta] = a[positive]
        weights["correct"][beta, positive, beta] = a[positive]
        negative_weight[beta] = float(-a[negative].sum())
    return CoinFamily(states, tuple(parts), weights, negative_weight, lt.q, lt.name)


def ltqc_pair(states: StateSet, decomposition: LTDecomposition | None = None) -> CoinPair:
    """The loss-tolerant quantum coin's target and reference (module docstring): [F]'s pair at q = q0."""
    return ltqc_family(states, decomposition).pair()


@lru_cache(maxsize=256)
def ltqc_families(states: StateSet) -> tuple[CoinFamily, ...]:
    """One q family per candidate decomposition (states.lt_decompositions), least weight first (cached per states)."""
    return tuple(ltqc_family(states, d) for d in lt_decompositions(states))


@lru_cache(maxsize=256)
def ltqc_pairs(states: StateSet) -> tuple[CoinPair, ...]:
    """One loss-tolerant coin pair per candidate decomposition (states.lt_decompositions), least weight first.

    Every pair is a valid target/reference pair (the coin inequality holds for any two states;
    the decomposition only decides how close they are), so the smallest of their bounds is a
    bound too (docs/keyrate-derivation.md, Sec. 3). Cached per states, like the SDPs built on them.
    """
    return tuple(family.pair() for family in ltqc_families(states))


@lru_cache(maxsize=256)
def gllp_pair(states: StateSet) -> CoinPair:
    """GLLP's coin: target |Ψ_Z>, reference |Ψ_X> (needs both X states, i.e. BB84)."""
    if "X1" not in states.labels:
        raise ValueError("the GLLP quantum coin needs both X-basis states (BB84); the three-state protocol has "
                         "no |Ψ_X> and GLLP gives no key for it — use --method ltqc, lt or rt")
    lt = lt_decomposition(states)
    n = len(states.labels)
    differences = []
    ref_errors, ref_correct = np.zeros((n, 2)), np.zeros((n, 2))
    for beta, label in enumerate(("X0", "X1")):
        j = states.index(label)
        reference = (np.eye(n)[j] / np.sqrt(2.0))[None, :]
        differences.append(_aligned_difference(lt.virtual[beta][None, :].astype(complex), reference, states.gram))
        ref_errors[j, 1 - beta] = 0.5
        ref_correct[j, beta] = 0.5
    return CoinPair("gllp", states, np.vstack(differences), 1.0, _detection_weights(n, states), np.zeros((n, 2)),
                    ref_errors, ref_correct, "target Ψ_Z, reference Ψ_X")


def max_target_error(target_detection: np.ndarray, ref_errors: np.ndarray, ref_correct: np.ndarray,
                     distance: float | np.ndarray) -> np.ndarray:
    """Largest t_e allowed by (√t_e − √r_e)² + (√t_c − √r_c)² ≤ Δ with t_e + t_c = T (vectorised).

    Exact maximiser: T sin²(min(π/2, θ_r + γ)) (module docstring). Where the data are
    inconsistent with Δ (cos γ > 1: no attack reproduces them) the nearest consistent value,
    γ = 0, is used; with T·R = 0 the bound is the trivial T.
    """
    t = np.asarray(target_detection, float)
    re, rc = np.asarray(ref_errors, float), np.asarray(ref_correct, float)
    r = re + rc
    with np.errstate(divide="ignore", invalid="ignore"):
        cos_gamma = (t + r - distance) / (2.0 * np.sqrt(t * r))
        theta_r = np.arctan2(np.sqrt(re), np.sqrt(rc))
        theta = np.minimum(np.pi / 2, theta_r + np.arccos(np.clip(cos_gamma, -1.0, 1.0)))
        bound = t * np.sin(theta) ** 2
    return np.where(t * r > 0, bound, t)


def max_target_error_interval(ref_errors_upper: np.ndarray, distance: float | np.ndarray) -> np.ndarray:
    """t_e ≤ (√r_e^U + √Δ)²: the bound without the target-detection constraint.

    Monotone in r_e and Δ, so it holds over any box of data (finite key, decoy intervals), and it
    is never below :func:`max_target_error` at any point of the box.
    """
    return (np.sqrt(np.maximum(ref_errors_upper, 0.0)) + np.sqrt(distance)) ** 2


def max_target_error_box(target_detection: tuple[np.ndarray, np.ndarray], ref_errors: tuple[np.ndarray, np.ndarray],
                         ref_correct: tuple[np.ndarray, np.ndarray], distance: float | np.ndarray) -> np.ndarray:
    """An upper bound on :func:`max_target_error` over a box of data, each argument a (lower, upper) pair.

    T sin²(min(π/2, θ_r + γ)) is bounded factor by factor: T ≤ T^U; θ_r ≤ arctan √(r_e^U / r_c^L);
    cos γ = (x + 1/x)/2 − Δ/(2√(TR)) with x = √(T/R) is at least its first term at the x of the box
    nearest 1 minus Δ/(2√(T^L R^L)). Every factor is monotone in the angle or the size, so the product
    holds over the whole box; as the box shrinks to a point it becomes the exact maximiser, which is
    what makes the finite-key rate converge to the asymptotic one (docs/finite-key-proof.md, step 5).
    The detection-free bound (√r_e^U + √Δ)² also holds, and the smaller of the two is returned.
    """
    (t_low, t_up), (re_low, re_up), (rc_low, rc_up) = (tuple(np.asarray(v, float) for v in pair)
                                                       for pair in (target_detection, ref_errors, ref_correct))
    r_low, r_up = re_low + rc_low, re_up + rc_up
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.clip(1.0, np.sqrt(t_low / r_up), np.sqrt(t_up / r_low))
        cos_gamma = (x + 1.0 / x) / 2.0 - distance / (2.0 * np.sqrt(t_low * r_low))
        theta_r = np.arctan2(np.sqrt(np.maximum(re_up, 0.0)), np.sqrt(np.maximum(rc_low, 0.0)))
        theta = np.minimum(np.pi / 2, theta_r + np.arccos(np.clip(cos_gamma, -1.0, 1.0)))
        bound = np.where(t_low * r_low > 0, t_up * np.sin(theta) ** 2, t_up)
    return np.minimum(np.nan_to_num(bound, nan=np.inf), max_target_error_interval(re_up, distance))
