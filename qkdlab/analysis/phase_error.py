"""Upper bounds on the phase-error probability of the key emission |Ψ_Z>, one estimator each.

Input: per-round averages of single-photon yields Y_j^{X,o} (setting j, Bob's X outcome o) as
intervals [low, up], shape (D, j, 2) (:class:`~qkdlab.analysis.statistics.Estimates`).
Output: an upper bound on P(ph), the probability that |Ψ_Z> = Σ_β |β>_D v_β is detected with
X_B = 1 − β, per round, shape (D,). Worst cases over the intervals are taken exactly (each
bound is monotone in each interval's end it uses, or the monotone relaxation is used).

- :func:`loss_tolerant` — Tamaki et al., PRA 90, 052314 (2014): ε = 0, P(ph) = Σ_jo w_jo Y_j^{X,o}
  with the LT decomposition's signed weights (states.py); exact for qubit states.
- :func:`quantum_coin` — GLLP (Gottesman et al. 2004; Lo & Preskill 2007; Koashi 2009) and the
  loss-tolerant quantum coin (Currás-Lorenzo et al. 2025, Eqs. 10-12): P(ph) ≤ t_e − observed
  negative-term errors, t_e from the coin inequality (coin.py) with Δ = max ‖T̃ − R̃‖² from the
  overlap SDP.
- :func:`reference_technique` — Pereira et al., Sci. Adv. 6, eaaz4487 (2020), RT based on the
  original LT: the LT identity holds for the reference (qubit) states φ_j; the deviation of
  each observed probability from its reference counterpart is bounded by Eq. (20),
  g^L(x, y) ≤ P ≤ g^U(x, y) with y = |<A|R>|² ≥ 1 − ε, applied to the positive-weight mixture
  A_+, the negative-weight mixture A_− and finally to |Ψ_Z> itself:
  P(ph|Act) ≤ g^U(S_+ g^U(P_+, 1 − ε) − S_− g^L(P_−, 1 − ε), 1 − ε). Valid under the RT's
  sequential assumption (Alice's round-k choice independent of Bob's earlier outcomes).
"""

from __future__ import annotations

import numpy as np

from .coin import CoinPair, max_target_error, max_target_error_box
from .states import LTDecomposition
from .statistics import Estimates

__all__ = ["loss_tolerant", "quantum_coin", "reference_technique", "g_upper", "g_lower"]


def _signed_worst(weights: np.ndarray, low: np.ndarray, up: np.ndarray) -> np.ndarray:
    """max over the box of Σ w Y: upper ends for positive weights, lower for negative."""
    return (np.where(weights > 0, weights * up, weights * low)).sum(axis=(-1, -2))


def loss_tolerant(decomposition: LTDecomposition, data: Estimates) -> np.ndarray:
    return np.clip(_signed_worst(decomposition.phase_error_weights(), data.x_low, data.x_up), 0.0, None)


def quantum_coin(pair: CoinPair, distance: float, data: Estimates) -> np.ndarray:
    """Coin bound; ``distance`` = certified max ‖T̃ − R̃‖² over the allowed states.

    For a finite key the per-round distances are summed under a coherent attack by
    :meth:`Estimates.coin_distance` (docs/finite-key-proof.md §7), not taken as N times ``distance``.
    """
    if data.failure_each is not None:
        distance = data.coin_distance(distance, data.coin_gain(pair.difference))
    observed_low = (pair.target_observed_errors * data.x_low).sum(axis=(-1, -2))
    if data.exact:
        y = data.x_low
        t_e = max_target_error((pair.target_detection * y).sum(axis=(-1, -2)),
                               (pair.reference_errors * y).sum(axis=(-1, -2)),
                               (pair.reference_correct * y).sum(axis=(-1, -2)), distance)
    else:
        def box(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return (weights * data.x_low).sum(axis=(-1, -2)), (weights * data.x_up).sum(axis=(-1, -2))
        t_e = max_target_error_box(box(pair.target_detection), box(pair.reference_errors),
                                   box(pair.reference_correct), distance)
    return np.clip(t_e - observed_low, 0.0, None)


def g_upper(x: np.ndarray, y: float) -> np.ndarray:
    """Pereira et al. 2020, Eq. (20): the largest probability of an event for a state of fidelity y
    with one where it has probability x: sin²(θ_x + arccos √y), 1 beyond π/2."""
    x = np.clip(np.asarray(x, float), 0.0, 1.0)
    value = x + (1 - y) * (1 - 2 * x) + 2 * np.sqrt(y * (1 - y) * x * (1 - x))
    return np.where(x < y, np.minimum(value, 1.0), 1.0)


def g_lower(x: np.ndarray, y: float) -> np.ndarray:
    """Pereira et al. 2020, Eq. (20): the smallest such probability, sin²(θ_x − arccos √y), 0 below."""
    x = np.clip(np.asarray(x, float), 0.0, 1.0)
    value = x + (1 - y) * (1 - 2 * x) - 2 * np.sqrt(y * (1 - y) * x * (1 - x))
    return np.where(x > 1 - y, np.maximum(value, 0.0), 0.0)


def reference_technique(decomposition: LTDecomposition, epsilon: float, data: Estimates) -> np.ndarray:
    w = decomposition.phase_error_weights()
    positive, negative = np.where(w > 0, w, 0.0), np.where(w < 0, -w, 0.0)
    s_pos, s_neg = positive.sum(), negative.sum()
    fidelity = 1.0 - epsilon
    p_pos = (positive * data.x_up).sum(axis=(-1, -2)) / s_pos
    reference = s_pos * g_upper(p_pos, fidelity)
    if s_neg > 0:
        p_neg = (negative * data.x_low).sum(axis=(-1, -2)) / s_neg
        reference = reference - s_neg * g_lower(p_neg, fidelity)
    return g_upper(np.clip(reference, 0.0, 1.0), fidelity)
