"""Tail bounds from counts to sums of conditional probabilities and back (finite keys, coherent attacks).

For an event of round k with indicator ξ_k and conditional probability p_k = P(ξ_k = 1 | past),
the martingale Σ_k (ξ_k − p_k) concentrates whatever the adversary does, so an observed count n
gives an interval for Σ_k p_k, and an upper bound on Σ_k p_k gives one on the count. Three
inequalities are available (``kind``), each failing with the probability it is given:

* ``"chernoff"`` (default): for 0/1 outcomes, exp(λ Σ_k ξ_k − (e^λ − 1) Σ_k p_k) and
  exp(−λ Σ_k ξ_k + (1 − e^{−λ}) Σ_k p_k) are supermartingales (E_k[e^{±λξ}] ≤ exp(p_k(e^{±λ} − 1))),
  so by Markov's inequality at the end, except with probability ε each: Σp ≥ (λn − ln(1/ε))/(e^λ − 1),
  Σp ≤ (λn + ln(1/ε))/(1 − e^{−λ}), n ≤ ((e^λ − 1) Σp + ln(1/ε))/λ and n ≥ ((1 − e^{−λ}) Σp −
  ln(1/ε))/λ. We take the best of a fixed grid of λ values (union bound over the grid). The deviation
  scales as √(n ln(1/ε)), so rare events (vacuum decoys, errors) get useful intervals.
* ``"azuma"``: Azuma-Hoeffding, |Σ_k (ξ_k − p_k)| ≤ √(N ln(1/ε)/2) (increments in an interval of
  width 1; Pereira et al. 2020, Eq. 56). Simple, but the deviation scales with the number of rounds
  N, not of events, so it is loose at low detection rates.
* ``"kato"``: Kato's inequality (G. Kato, arXiv:2002.04357; the framework paper's Ref. 41, in the
  form of Currás-Lorenzo et al., npj Quantum Inf. 7, 22 (2021), Methods): for ξ_k ∈ [0, 1],
  Λ = Σ_k ξ_k, any b ≥ |a|,
  Pr[Σp ≥ Λ + (b + a(2Λ/N − 1))√N] ≤ exp(−2(b² − a²)/(1 + 4a/(3√N))²)
  and Pr[Λ ≥ Σp + (b + a(2Λ/N − 1))√N] ≤ exp(−2(b² − a²)/(1 − 4a/(3√N))²). The slope a lets the
  deviation follow Λ(N − Λ)/N instead of N; we take the best a of a fixed grid (union bound over
  it, as for Chernoff) so the choice may depend on the data (:func:`kato_deviation`; derivation in
  docs/finite-key-proof.md §8).

Independent trials are a special case (constant p_k), which the virtual sampling of the coin
methods uses (docs/finite-key-proof.md §7): :func:`thinned_interval` and
:func:`extended_count_upper` for a count thinned by independent coins, :func:`flag_sum_upper` for
the sampled flags.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["CONCENTRATIONS", "sum_interval", "count_upper", "count_lower", "kato_deviation", "thinned_interval",
           "extended_count_upper", "flag_sum_upper"]

CONCENTRATIONS = ("kato", "chernoff", "azuma")
#: λ grid of the Chernoff bounds (the union bound over it costs ln(len) in the exponent).
_LAMBDAS = np.geomspace(1e-7, 20.0, 160)
#: Grid of s = 4a/(3√N) for Kato's inequality, |s| < 1 (union bound over it, like the λ grid). The best
#: a is about √(ln(1/ε)/(2p)) for events of frequency p, so s spans many decades near 0; s → 1 serves
#: the rarest events, s < 0 frequencies above 1/2.
_KATO_S = np.concatenate([-(1.0 - np.geomspace(1e-4, 0.5, 10)), -np.geomspace(1e-10, 0.5, 30)[::-1],
                          np.geomspace(1e-10, 0.5, 90), 1.0 - np.geomspace(0.5, 1e-4, 30)])


def kato_deviation(observed: np.ndarray, rounds: np.ndarray, failure: float, side: str) -> np.ndarray:
    """Smallest Kato deviation (b + a(2Λ/N − 1))√N over the s grid, each grid point failing w.p. ε/len.

    ``side`` "upper": Σp ≤ Λ + dev (first inequality, tail factor (1 + s)²); "lower": Σp ≥ Λ − dev
    and Λ ≤ Σp + dev (second inequality, (1 − s)²). With a = 3s√N/4 and the tail set to ε/len,
    b² = a² + c(1 ± s)², c = ln(len/ε)/2, and b − a = c(1 ± s)²/(b + a) avoids cancellation.
    Returns the deviation for each grid point (last axis), so callers can solve for Λ first.
    """
    n = np.asarray(rounds, float)[..., None]
    lam = np.asarray(observed, float)[..., None]
    root = np.sqrt(n)
    c = math.log(len(_KATO_S) / failure) / 2.0
    tail = c * (1.0 + _KATO_S) ** 2 if side == "upper" else c * (1.0 - _KATO_S) ** 2
    a = 0.75 * _KATO_S * root
    b = np.sqrt(a**2 + tail)
    with np.errstate(divide="ignore", invalid="ignore"):
        b_minus_a = np.where(a >= 0, tail / (b + a), b - a)
    return (b_minus_a + 2.0 * a * lam / n) * root


def sum_interval(counts: np.ndarray, rounds: np.ndarray, failure: float, kind: str = "chernoff"
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Interval for Σ_k p_k from an observed count n (each side fails with probability ``failure``)."""
    n = np.asarray(counts, float)
    if kind == "azuma":
        d = np.sqrt(np.asarray(rounds, float) * math.log(1.0 / failure) / 2.0)
        return np.maximum(n - d, 0.0), n + d
    if kind == "kato":
        low = n - kato_deviation(n, rounds, failure, "lower").min(axis=-1)
        up = n + kato_deviation(n, rounds, failure, "upper").min(axis=-1)
        return np.maximum(low, 0.0), np.minimum(up, np.asarray(rounds, float))
    log_term = math.log(len(_LAMBDAS) / failure)
    lam = _LAMBDAS.reshape((1,) * n.ndim + (-1,))
    low = ((lam * n[..., None] - log_term) / np.expm1(lam)).max(axis=-1)
    up = ((lam * n[..., None] + log_term) / -np.expm1(-lam)).min(axis=-1)
    return np.maximum(low, 0.0), np.minimum(up, np.asarray(rounds, float))


def count_upper(expected_upper: np.ndarray, rounds: np.ndarray, failure: float, kind: str = "chernoff"
                ) -> np.ndarray:
    """Upper bound on a count whose sum of conditional probabilities is at most ``expected_upper``."""
    u = np.asarray(expected_upper, float)
    if kind == "azuma":
        return u + np.sqrt(np.asarray(rounds, float) * math.log(1.0 / failure) / 2.0)
    if kind == "kato":
        # Λ < Σp + (b − a)√N + 2aΛ/√N; solve for Λ where 1 − 2a/√N = 1 − 3s/2 > 0 (s < 2/3).
        n = np.asarray(rounds, float)
        offset = kato_deviation(np.zeros_like(u), n, failure, "lower")        # (b − a)√N per s
        slope = 1.5 * _KATO_S
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = np.where(slope < 1.0, (u[..., None] + offset) / (1.0 - slope), np.inf)
        return np.minimum(bound.min(axis=-1), n)
    log_term = math.log(len(_LAMBDAS) / failure)
    lam = _LAMBDAS.reshape((1,) * u.ndim + (-1,))
    return ((np.expm1(lam) * u[..., None] + log_term) / lam).min(axis=-1)


def count_lower(expected_lower: np.ndarray, rounds: np.ndarray, failure: float, kind: str = "chernoff"
                ) -> np.ndarray:
    """Lower bound on a count whose sum of conditional probabilities is at least ``expected_lower``.

    Chernoff: exp(−λΛ + (1 − e^{−λ})Σp) is a supermartingale, so Λ ≥ ((1 − e^{−λ})Σp − ln(1/ε))/λ
    for every λ of the grid at once (union bound). Azuma: Λ ≥ Σp − √(N ln(1/ε)/2). Kato (first
    inequality): Λ(1 + 3s/2) ≥ Σp − (b − a)√N.
    """
    u = np.asarray(expected_lower, float)
    if kind == "azuma":
        return np.maximum(u - np.sqrt(np.asarray(rounds, float) * math.log(1.0 / failure) / 2.0), 0.0)
    if kind == "kato":
        offset = kato_deviation(np.zeros_like(u), rounds, failure, "upper")      # (b − a)√N per s
        bound = (u[..., None] - offset) / (1.0 + 1.5 * _KATO_S)
        return np.maximum(np.where(1.0 + 1.5 * _KATO_S > 0, bound, 0.0).max(axis=-1), 0.0)
    log_term = math.log(len(_LAMBDAS) / failure)
    lam = _LAMBDAS.reshape((1,) * u.ndim + (-1,))
    return np.maximum(((-np.expm1(-lam) * u[..., None] - log_term) / lam).max(axis=-1), 0.0)


def thinned_interval(counts: np.ndarray, sampling: float, failure: float) -> tuple[np.ndarray, np.ndarray]:
    """Interval for the part of a count left after independent thinning: each event is removed with probability s.

    Given the count n, the removed part is Binomial(n, s) (independent trials, so the Chernoff bounds
    of :func:`count_upper` / :func:`count_lower` apply with Σp = s n); each side fails with
    probability ``failure``. Used for the virtual sampling of docs/finite-key-proof.md §7.
    """
    n = np.asarray(counts, float)
    removed_up = np.minimum(count_upper(sampling * n, n, failure), n)
    removed_low = np.minimum(count_lower(sampling * n, n, failure), n)
    return np.maximum(n - removed_up, 0.0), n - removed_low


def extended_count_upper(kept_upper: np.ndarray, sampling: float | np.ndarray, failure: float) -> np.ndarray:
    """Upper bound on a count m of which a Binomial(m, 1 − s) part (independent thinning) is at most ``kept_upper``.

    The removed part is Binomial(m, s) ≤ ((e^λ − 1)s m + ln(L/ε))/λ for every λ of the grid except
    with probability ε, so m ≤ U + that, i.e. m ≤ (U + ln(L/ε)/λ)/(1 − (e^λ − 1)s/λ) where the
    denominator is positive; the smallest over λ.
    """
    u = np.asarray(kept_upper, float)
    s = np.asarray(sampling, float)
    if not np.any(s > 0):
        return u
    log_term = math.log(len(_LAMBDAS) / failure)
    u, s = np.broadcast_arrays(u, s)
    lam = _LAMBDAS.reshape((1,) * u.ndim + (-1,))
    denominator = 1.0 - np.expm1(lam) * s[..., None] / lam
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.where(denominator > 0, (u[..., None] + log_term / lam) / denominator, np.inf)
    return np.where(s > 0, bound.min(axis=-1), u)


def flag_sum_upper(flag_mean: np.ndarray, rounds: np.ndarray, failure: float) -> np.ndarray:
    """Upper bound on Σ_k P(flag_k ∧ detected_k | past), when the flags are independent with Σ P(flag) ≤ ``flag_mean``.

    Two steps (docs/finite-key-proof.md §7), each failing with probability ``failure``: the number of
    flags, a sum of independent Bernoulli variables (Alice's own registers, untouched by Eve), is at
    most :func:`count_upper` of its mean; the detected flags are fewer; and the sum of their
    conditional probabilities, which Eve may correlate with earlier outcomes, is at most the
    Chernoff upper end of :func:`sum_interval` of that count (a martingale bound, coherent attacks).
    """
    flags = count_upper(flag_mean, rounds, failure)
    return sum_interval(flags, np.broadcast_to(rounds, np.shape(flags)), failure)[1]
