"""Asymptotic MDI-QKD key rate: Bourassa et al., PRA 106, 062618 (2022), Eq. (A6).

Per announced outcome r (Ψ+ and Ψ− are separate keys, each with its own Bob flip rule and its own
phase error; the paper's simulations use a single Bell state, LCQ both):

    R_r = Q11_r^L [1 − h(e_ph,r^U)] − f Q_r h(E_r),     R = Σ_r max(R_r, 0),

in the limit of infinitely long keys with sifting → 1 (both choose the key basis Z, and the key
intensities, with probability → 1), as in the paper (Sec. IV A). The conventions, pinned down:

- **p_pass are conditional yields.** ``DetectionBounds`` holds p_pass(a, b, r), the probability of
  announcement r *given* Alice's state a and Bob's state b (Eq. (3), (A2)); no choice probabilities
  are folded in.
- **Normalisation: the mean over bit pairs, not the sum.** Eq. (A6)-(A9) sum over the four key
  bit pairs (x, y); with equiprobable bits the per-pulse probabilities are a quarter of those sums:
  Q_r = ¼ Σ_{x,y} Q^r_{N,N}(x, y) and Q11_r = w₁₁ ¼ Σ_{x,y} p^{r,L}_pass,1,1(x, y). The paper's
  sums give 4 R. Ratios (E_bit Eq. (A8), e_ph Eq. (7)) do not depend on it. This per-pulse Q_r
  summed over Ψ± is the Q_rect of Ma-Razavi / Xu-Curty-Qi-Lo (NJP 15, 113007 (2013), App. B).
- **Photon-number weight.** Eq. (A6) as printed has p_pass,1,1 without the probability that both
  signal pulses hold one photon; the single-photon part of the key-intensity gain is
  w₁₁ = μ e^{−μ} ν e^{−ν} times the yield (Ma, Fung, Razavi, PRA 86, 052305 (2012), Eq. (1);
  LCQ Eq. (1)), which we use (``photon_weight``; 1 for a single-photon source, whose gains are the
  yields themselves).
- **Error correction.** Eq. (A6) has no inefficiency factor, so f = 1 by default (Shannon limit).
- **Phase error.** ``phase_error`` (e.g. the Gram-matrix SDP of Sec. II A) is called once per
  outcome r with the single-outcome slice of the bounds (``outcomes == (r,)``), and must return an
  upper bound on e_ph,1,1 for that announcement; values ≥ ½ give no key (h = 1).

:func:`ideal_phase_error` is the closed form for ideal BB84 states (e_ph = single-photon bit error
rate in X, bounded by U_err / (U_err + L_ok)), the reference the SDP must reproduce.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ...errors import SolverError
from ..keyrate import binary_entropy
from .decoy import DEFAULT_CUTOFF, DEFAULT_INTENSITIES, single_photon_bounds
from .detection import OUTCOMES, MdiSetup, bit_error_mask, coherent_gains, polarization, single_photon_probabilities
from .types import DetectionBounds

__all__ = ["KEY_BASIS", "MdiKeyRate", "OutcomeKeyRate", "PhaseErrorBound", "decoy_key_rate", "ideal_phase_error",
           "key_rate", "single_photon_key_rate"]

#: The key basis of the state labels ("0Z", "1Z", ...).
KEY_BASIS = "Z"

#: ``phase_error(bounds) -> e_ph upper bound`` for one announced outcome (``bounds.outcomes == (r,)``).
PhaseErrorBound = Callable[[DetectionBounds], float]


@dataclass(frozen=True)
class OutcomeKeyRate:
    """One announcement's part of Eq. (A6), all per pulse (means over bit pairs)."""

    outcome: str
    gain: float                 # Q_r: probability of announcement r in the key basis
    qber: float                 # E_r: its bit error rate (after Bob's flip)
    single_photon_gain: float   # lower bound on w11 · mean p_pass,1,1 over key bit pairs
    phase_error: float          # upper bound e_ph,r from the phase-error callable
    key_rate: float             # max(R_r, 0)


@dataclass(frozen=True)
class MdiKeyRate:
    """Eq. (A6) summed over the used announcements; ``phase_error`` is the worst outcome's bound."""

    key_rate_per_pulse: float
    gain: float
    qber: float
    single_photon_gain: float
    phase_error: float
    ec_efficiency: float
    per_outcome: tuple[OutcomeKeyRate, ...]
    bounds: DetectionBounds


def _basis_indices(states: Sequence[str], basis: str) -> np.ndarray:
    return np.array([i for i, s in enumerate(states) if s[1:] == basis], dtype=int)


def _outcome_slice(bounds: DetectionBounds, r: int) -> DetectionBounds:
    return DetectionBounds(lower=bounds.lower[..., r : r + 1], upper=bounds.upper[..., r : r + 1],
                           outcomes=(bounds.outcomes[r],))


def ideal_phase_error(states: Sequence[str], test_basis: str = "X") -> PhaseErrorBound:
    """Phase-error bound for ideal BB84 states: the single-photon bit error rate of the test basis.

    For ideal states e_ph,1,1 = e_11^X (LCQ; Ma-Fung-Razavi 2012), bounded by U_err / (U_err + L_ok)
    with U_err the summed upper bounds of the error events and L_ok the summed lower bounds of the
    correct ones (e/(e + c) grows with e and falls with c). Needs both bits of ``test_basis``.
    """
    test = _basis_indices(states, test_basis)
    if len(test) != 2:
        raise ValueError(f"states {tuple(states)}: the ideal phase error needs both bits of basis {test_basis}; "
                         "use the Gram-matrix SDP for other state sets")

    def bound(bounds: DetectionBounds) -> float:
        errors = bit_error_mask(states, states, bounds.outcomes)[np.ix_(test, test)]
        upper_errors = bounds.upper[np.ix_(test, test)][errors].sum()
        lower_correct = bounds.lower[np.ix_(test, test)][~errors].sum()
        total = upper_errors + lower_correct
        return float(upper_errors / total) if total > 0 else 0.5

    return bound


def key_rate(bounds: DetectionBounds, key_gains: ArrayLike, states: Sequence[str], phase_error: PhaseErrorBound,
             *, photon_weight: float = 1.0, ec_efficiency: float = 1.0, outcomes: Sequence[str] | None = None
             ) -> MdiKeyRate:
    """Eq. (A6) per pulse from single-photon bounds and the key-intensity gains (see the module docstring).

    ``bounds``: p_pass,1,1 bounds, shape (nA, nB, nR), for Alice's and Bob's ``states`` (the same
    labels for both). ``key_gains``: Q^r(a, b) at the key intensities, same shape (the yields
    themselves for a single-photon source). ``photon_weight``: w₁₁ = μ e^{−μ} ν e^{−ν} for
    decoys, 1 for single photons. ``outcomes``: the announcements that make key (default all).
    """
    gains = np.asarray(key_gains, float)
    if gains.shape != bounds.lower.shape or bounds.lower.shape[:2] != (len(states), len(states)):
        raise ValueError(f"key gains {gains.shape} and bounds {bounds.lower.shape} must both have shape "
                         f"({len(states)}, {len(states)}, nR) for states {tuple(states)}")
    key = np.ix_(_basis_indices(states, KEY_BASIS), _basis_indices(states, KEY_BASIS))
    if len(key[0]) != 2:
        raise ValueError(f"states {tuple(states)} need both bits of the key basis {KEY_BASIS}")
    errors = bit_error_mask(states, states, bounds.outcomes)[key]
    used = bounds.outcomes if outcomes is None else tuple(outcomes)
    parts = []
    for outcome in used:
        r = bounds.outcomes.index(outcome)
        gain = float(gains[key][..., r].mean())
        qber = float(gains[key][..., r][errors[..., r]].sum() / gains[key][..., r].sum()) if gain > 0 else 0.0
        single = photon_weight * float(bounds.lower[key][..., r].mean())
        e_ph = float(phase_error(_outcome_slice(bounds, r)))
        if not math.isfinite(e_ph):
            raise SolverError(f"the phase-error bound for outcome {outcome} is {e_ph}; check the phase-error solver")
        rate = single * (1.0 - float(binary_entropy(e_ph))) - ec_efficiency * gain * float(binary_entropy(qber))
        parts.append(OutcomeKeyRate(outcome, gain, qber, single, e_ph, max(rate, 0.0)))
    gain = sum(p.gain for p in parts)
    return MdiKeyRate(key_rate_per_pulse=sum(p.key_rate for p in parts), gain=gain,
                      qber=sum(p.gain * p.qber for p in parts) / gain if gain > 0 else 0.0,
                      single_photon_gain=sum(p.single_photon_gain for p in parts),
                      phase_error=max((p.phase_error for p in parts), default=0.0), ec_efficiency=ec_efficiency,
                      per_outcome=tuple(parts), bounds=bounds)


def _jones(states: Sequence[str], jones: ArrayLike | None) -> np.ndarray:
    return polarization(states) if jones is None else np.asarray(jones, complex)


def single_photon_key_rate(states: Sequence[str], setup: MdiSetup, distance_a_km: float,
                           phase_error: PhaseErrorBound, *, distance_b_km: float | None = None,
                           jones_a: ArrayLike | None = None, jones_b: ArrayLike | None = None,
                           outcomes: Sequence[str] = OUTCOMES, ec_efficiency: float = 1.0) -> MdiKeyRate:
    """Eq. (A6) without decoys for perfect single-photon sources on a simulated honest link (Fig. 3(b)).

    The signal states are the emitted states, so p_pass is observed exactly (``bounds.exact``).
    ``jones_a``/``jones_b`` override the ideal polarizations of ``states`` (flawed states).
    """
    p = single_photon_probabilities(_jones(states, jones_a), _jones(states, jones_b), setup, distance_a_km,
                                    distance_b_km, outcomes)
    return key_rate(DetectionBounds(lower=p, upper=p, outcomes=tuple(outcomes)), p, states, phase_error,
                    ec_efficiency=ec_efficiency)


def decoy_key_rate(states: Sequence[str], setup: MdiSetup, distance_a_km: float, phase_error: PhaseErrorBound,
                   *, distance_b_km: float | None = None, jones_a: ArrayLike | None = None,
                   jones_b: ArrayLike | None = None, intensities: Sequence[float] = DEFAULT_INTENSITIES,
                   key_intensity: float | None = None, outcomes: Sequence[str] = OUTCOMES,
                   cutoff: int = DEFAULT_CUTOFF, ec_efficiency: float = 1.0) -> MdiKeyRate:
    """Eq. (A6) with decoys (App. A) on a simulated honest link (Fig. 3(a)); both use ``intensities``.

    The key is made from the ``key_intensity`` pulses of both (default the largest intensity, the
    paper's (k, l) = (N, N)); every (a, b, r) gets its p_pass,1,1 bounds from the decoy LPs.
    """
    mu = max(intensities) if key_intensity is None else float(key_intensity)
    if mu not in intensities:
        raise ValueError(f"key intensity {mu} is not one of the intensities {tuple(intensities)}")
    k = list(intensities).index(mu)
    gains = coherent_gains(_jones(states, jones_a), _jones(states, jones_b), intensities, intensities, setup,
                           distance_a_km, distance_b_km, outcomes)
    bounds = single_photon_bounds(gains, intensities, outcomes=outcomes, cutoff=cutoff)
    return key_rate(bounds, gains[..., k, k], states, phase_error, photon_weight=(mu * math.exp(-mu)) ** 2,
                    ec_efficiency=ec_efficiency)
