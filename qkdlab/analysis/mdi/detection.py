"""Honest-relay detection statistics for polarization MDI-QKD (Lo, Curty, Qi, PRL 108, 130503 (2012)).

Charlie's Bell-state measurement (LCQ Fig. 1): Alice's and Bob's pulses interfere on a 50:50
beam splitter (outputs 1 = (a + b)/√2, 2 = (a − b)/√2); each output goes to a polarizing beam
splitter and two threshold detectors, in the order ``DETECTORS = (D1H, D1V, D2H, D2V)``. Charlie
announces (LCQ) Ψ+ for clicks in exactly {D1H, D1V} or {D2H, D2V}, and Ψ− for clicks in exactly
{D1H, D2V} or {D1V, D2H}; every other pattern fails. This is the simulation behind Sec. IV A of
Bourassa et al., PRA 106, 062618 (2022): detector efficiency 50 %, dark counts 10⁻⁶ per pulse,
0.2 dB/km, no misalignment, the leakage light not seen by the (gated) detectors.

Assumptions: the four detectors have the same efficiency η_d, so it acts as a common loss
before the beam splitter and joins the fiber transmittances t_A, t_B (loss commutes with the
passive linear optics); dark counts are independent, probability p_d per detector and pulse;
the pulses are mode-matched apart from their polarization (ideal HOM interference).

Method (exact, no truncation or quadrature). Detector k sees the mode b_k = Σ_i L_ki a_i of the
two input modes i ∈ {A, B}. The probability that no detector of a set S clicks is
(1 − p_d)^|S| ⟨:exp(−a†M_S a):⟩ with M_S = L_S† L_S; the probability of an exact click pattern
follows by inclusion–exclusion over the 16 subsets. For the inputs:

- phase-randomised coherent pulses of means μ, ν (the relative phase averaged exactly):
  ⟨:exp(−a†Ma):⟩ = exp(−μ M_AA − ν M_BB) I₀(2√(μν) |M_AB|) — the closed form behind
  Ma & Razavi, PRA 86, 062319 (2012) and Xu, Curty, Qi, Lo, NJP 15, 113007 (2013), App. B;
- Fock states |m⟩_A|n⟩_B: :exp(−a†Ma): = Γ(1 − M) (second quantisation of the contraction
  T = 1 − M), so ⟨m, n|Γ(T)|m, n⟩ = Σ_j C(m, j) C(n, j) T_AA^{m−j} |T_AB|^{2j} T_BB^{n−j}. These
  are the true yields p_{m,n} of Bourassa et al. Eq. (A2) for an honest relay; m = n = 1 gives the
  single-photon p_pass.

Polarizations are Jones vectors (H, V); :func:`polarization` gives the ideal ones of the state
labels (Z = H/V is the key basis, X = D/A, Y = R/L), :func:`jones_from_bloch` any pure qubit
(so flawed states work), Bloch z along H and x along D, as in :mod:`qkdlab.model`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import comb, i0e

from ..channel import transmittance

__all__ = ["BB84_STATES", "DETECTORS", "OUTCOMES", "THREE_STATES", "MdiSetup", "bit_error_mask", "coherent_gains",
           "jones_from_bloch", "photon_number_yields", "polarization", "single_photon_probabilities"]

DETECTORS = ("D1H", "D1V", "D2H", "D2V")
#: Charlie's successful announcements and the click patterns (detector-index pairs) behind each.
OUTCOMES = ("psi+", "psi-")
_PATTERNS = {"psi+": ((0, 1), (2, 3)), "psi-": ((0, 3), (1, 2))}
BB84_STATES = ("0Z", "1Z", "0X", "1X")
THREE_STATES = ("0Z", "1Z", "0X")

_POLARIZATION = np.array([0, 1, 0, 1])           # H or V component seen by each detector
_BS_SIGN_B = np.array([1.0, 1.0, -1.0, -1.0])    # Bob's beam-splitter sign towards each detector
_SUBSETS = (np.arange(16)[:, None] >> np.arange(4)[None, :]) & 1 == 1   # (16, 4): detector k in subset s
_SUBSET_SIZE = _SUBSETS.sum(axis=1)

_R = 1 / np.sqrt(2)
_IDEAL_JONES = {"0Z": (1, 0), "1Z": (0, 1), "0X": (_R, _R), "1X": (_R, -_R), "0Y": (_R, 1j * _R),
                "1Y": (_R, -1j * _R)}


@dataclass(frozen=True)
class MdiSetup:
    """The untrusted relay of the simulation and its two fiber links (Bourassa et al., Sec. IV A)."""

    fiber_loss_db_per_km: float = 0.2
    detector_efficiency: float = 0.5
    dark_count_probability: float = 1e-6

    def __post_init__(self) -> None:
        if not 0.0 < self.detector_efficiency <= 1.0:
            raise ValueError(f"detector_efficiency {self.detector_efficiency} must lie in (0, 1]")
        if not 0.0 <= self.dark_count_probability < 1.0:
            raise ValueError(f"dark_count_probability {self.dark_count_probability} must lie in [0, 1)")
        if self.fiber_loss_db_per_km < 0.0:
            raise ValueError(f"fiber_loss_db_per_km {self.fiber_loss_db_per_km} must not be negative")

    def transmittances(self, distance_a_km: float, distance_b_km: float | None = None) -> tuple[float, float]:
        """(t_A, t_B): fiber to Charlie times detector efficiency; ``distance_b_km=None`` is a symmetric link."""
        distance_b_km = distance_a_km if distance_b_km is None else distance_b_km
        return (float(transmittance(distance_a_km, self.fiber_loss_db_per_km, self.detector_efficiency)),
                float(transmittance(distance_b_km, self.fiber_loss_db_per_km, self.detector_efficiency)))


def polarization(states: Sequence[str]) -> np.ndarray:
    """Ideal Jones vectors, shape (n, 2), of labels "<bit><basis>": 0Z = H, 1Z = V, 0X = D, 1X = A, 0Y = R, 1Y = L."""
    unknown = [s for s in states if s not in _IDEAL_JONES]
    if unknown:
        raise ValueError(f"unknown state labels {unknown}; use {sorted(_IDEAL_JONES)}")
    return np.array([_IDEAL_JONES[s] for s in states], dtype=complex)


def jones_from_bloch(bloch: ArrayLike) -> np.ndarray:
    """Jones vectors (n, 2) of pure polarization states with Bloch vectors (n, 3) (z: H, x: D, y: R)."""
    r = np.atleast_2d(np.asarray(bloch, float))
    norm = np.linalg.norm(r, axis=1)
    if r.shape[1] != 3 or not np.allclose(norm, 1.0, atol=1e-9):
        raise ValueError(f"Bloch vectors {r.tolist()} must be unit 3-vectors (pure states)")
    theta = np.arccos(np.clip(r[:, 2], -1.0, 1.0))
    phi = np.arctan2(r[:, 1], r[:, 0])
    return np.stack([np.cos(theta / 2), np.exp(1j * phi) * np.sin(theta / 2)], axis=1)


def _basis_and_bit(label: str) -> tuple[str, int]:
    return label[1:], int(label[0])


def bit_error_mask(states_a: Sequence[str], states_b: Sequence[str], outcomes: Sequence[str] = OUTCOMES
                   ) -> np.ndarray:
    """Which (a, b, r) of matching bases is a bit error after Bob's flip rule, shape (nA, nB, nR).

    LCQ's rule for the ideal singlet-like correlations: Ψ− anticorrelates the bits in every basis;
    Ψ+ anticorrelates them in Z (H/V) and correlates them in X and Y. Bob flips his bit wherever
    anticorrelation is expected, so an error is x = y there and x ≠ y elsewhere. Pairs of
    different bases are never errors (they are sifted out).
    """
    mask = np.zeros((len(states_a), len(states_b), len(outcomes)), dtype=bool)
    for i, sa in enumerate(states_a):
        basis_a, x = _basis_and_bit(sa)
        for j, sb in enumerate(states_b):
            basis_b, y = _basis_and_bit(sb)
            if basis_a != basis_b:
                continue
            for r, outcome in enumerate(outcomes):
                correlated = outcome == "psi+" and basis_a != "Z"
                mask[i, j, r] = (x == y) != correlated
    return mask


def _normalized(jones: ArrayLike) -> np.ndarray:
    j = np.atleast_2d(np.asarray(jones, complex))
    norm = np.linalg.norm(j, axis=1, keepdims=True)
    if j.shape[1] != 2 or np.any(norm == 0):
        raise ValueError(f"Jones vectors must have shape (n, 2) and be non-zero, got {j.shape}")
    return j / norm


def _subset_matrices(jones_a: ArrayLike, jones_b: ArrayLike, t_a: float, t_b: float
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entries of M_S = L_S† L_S for every detector subset S: M_AA (nA, 16), M_BB (nB, 16), |M_AB|² (nA, nB, 16)."""
    ja, jb = _normalized(jones_a), _normalized(jones_b)
    amp_a = np.sqrt(t_a / 2) * ja[:, _POLARIZATION]                  # L_kA, (nA, 4)
    amp_b = np.sqrt(t_b / 2) * _BS_SIGN_B * jb[:, _POLARIZATION]     # L_kB, (nB, 4)
    m_aa = np.abs(amp_a) ** 2 @ _SUBSETS.T
    m_bb = np.abs(amp_b) ** 2 @ _SUBSETS.T
    m_ab = np.einsum("ak,bk,sk->abs", amp_a.conj(), amp_b, _SUBSETS.astype(float))
    return m_aa, m_bb, np.abs(m_ab) ** 2


@cache
def _outcome_weights(outcomes: tuple[str, ...]) -> np.ndarray:
    """(nR, 16) map from no-click probabilities of subsets to outcome probabilities (inclusion–exclusion).

    P(exactly the set C clicks) = Σ_{T ⊆ C} (−1)^|T| P(no click in T ∪ Cᶜ).
    """
    unknown = [o for o in outcomes if o not in _PATTERNS]
    if unknown:
        raise ValueError(f"unknown outcomes {unknown}; Charlie announces {OUTCOMES}")
    weights = np.zeros((len(outcomes), 16))
    for r, outcome in enumerate(outcomes):
        for pattern in _PATTERNS[outcome]:
            clicks = np.zeros(4, dtype=bool)
            clicks[list(pattern)] = True
            contains_complement = np.all(_SUBSETS | clicks, axis=1)
            weights[r] += np.where(contains_complement, (-1.0) ** (_SUBSETS & clicks).sum(axis=1), 0.0)
    return weights


def _outcome_probabilities(no_click: np.ndarray, dark_count_probability: float, outcomes: tuple[str, ...]
                           ) -> np.ndarray:
    """Outcome probabilities (..., nR) from the dark-count-free no-click probabilities (..., 16)."""
    with_darks = no_click * (1.0 - dark_count_probability) ** _SUBSET_SIZE
    return np.clip(with_darks @ _outcome_weights(outcomes).T, 0.0, 1.0)


def coherent_gains(jones_a: ArrayLike, jones_b: ArrayLike, intensities_a: Sequence[float],
                   intensities_b: Sequence[float], setup: MdiSetup, distance_a_km: float,
                   distance_b_km: float | None = None, outcomes: Sequence[str] = OUTCOMES) -> np.ndarray:
    """Gains Q^r_{k,l}(a, b) of phase-randomised coherent pulses, shape (nA, nB, nR, nK, nL).

    The probability that Charlie announces r when Alice sends polarization a with mean photon
    number μ_k and Bob b with ν_l (Bourassa et al. Eq. (A2), for an honest relay).
    """
    t_a, t_b = setup.transmittances(distance_a_km, distance_b_km)
    m_aa, m_bb, m_ab2 = _subset_matrices(jones_a, jones_b, t_a, t_b)
    mu = np.asarray(intensities_a, float)[:, None, None]       # (K, 1, 1)
    nu = np.asarray(intensities_b, float)[None, :, None]       # (1, L, 1)
    a = m_aa[:, None, None, None, :]                           # (nA, 1, 1, 1, 16)
    b = m_bb[None, :, None, None, :]
    exponent = mu * a + nu * b                                 # (nA, nB, K, L, 16)
    bessel = 2.0 * np.sqrt(mu * nu * m_ab2[:, :, None, None, :])
    # e^{−x} I0(z) = i0e(z) e^{z − x}; z ≤ x by Cauchy–Schwarz, so this never overflows
    no_click = i0e(bessel) * np.exp(bessel - exponent)
    gains = _outcome_probabilities(no_click, setup.dark_count_probability, tuple(outcomes))
    return np.moveaxis(gains, -1, 2)


def photon_number_yields(jones_a: ArrayLike, jones_b: ArrayLike, setup: MdiSetup, distance_a_km: float,
                         distance_b_km: float | None = None, cutoff: int = 10, outcomes: Sequence[str] = OUTCOMES
                         ) -> np.ndarray:
    """True yields p^r_{m,n}(a, b) of Fock inputs |m⟩|n⟩, m, n ≤ cutoff; shape (nA, nB, nR, N+1, N+1)."""
    t_a, t_b = setup.transmittances(distance_a_km, distance_b_km)
    m_aa, m_bb, m_ab2 = _subset_matrices(jones_a, jones_b, t_a, t_b)
    n = np.arange(cutoff + 1)
    pow_a = (1.0 - m_aa)[:, None, None, :] ** n[None, :, None, None]        # T_AA^m: (nA, N+1, 1, 16)
    pow_b = (1.0 - m_bb)[:, None, None, :] ** n[None, None, :, None]        # T_BB^n: (nB, 1, N+1, 16)
    no_click = np.zeros((len(m_aa), len(m_bb), cutoff + 1, cutoff + 1, 16))
    for j in range(cutoff + 1):
        binomials = (comb(n, j)[:, None] * comb(n, j)[None, :])[None, None, j:, j:, None]
        no_click[:, :, j:, j:, :] += (binomials * (m_ab2[:, :, None, None, :] ** j)
                                      * pow_a[:, None, : cutoff + 1 - j] * pow_b[None, :, :, : cutoff + 1 - j])
    yields = _outcome_probabilities(no_click, setup.dark_count_probability, tuple(outcomes))
    return np.moveaxis(yields, -1, 2)


def single_photon_probabilities(jones_a: ArrayLike, jones_b: ArrayLike, setup: MdiSetup, distance_a_km: float,
                                distance_b_km: float | None = None, outcomes: Sequence[str] = OUTCOMES
                                ) -> np.ndarray:
    """p(r | a, b) for single photons of polarizations a and b, shape (nA, nB, nR) (the m = n = 1 yields)."""
    return photon_number_yields(jones_a, jones_b, setup, distance_a_km, distance_b_km, 1, outcomes)[..., 1, 1]
