"""From counts to the single-photon quantities a phase-error bound needs (asymptotic or finite).

Per round k, with Alice's setting j, intensity μ and Bob's basis b chosen independently of the
past with probabilities p_j, p_μ, p_b, the conditional probability of the event (j, μ, b, o) is
p_j p_μ p_b Q_k(j, μ, b, o). The estimators work with *sums over rounds* of conditional yields,
Σ_k Q_k, because the phase-error bounds are concave and homogeneous and so can be summed over
rounds (Jensen) — the step that makes them hold against coherent attacks (framework paper,
Sec. 2.2 and Supplement; Pereira et al. 2020, Eq. 56). The whole chain, lemma by lemma, and the
step it leaves open for the coin methods, are in docs/finite-key-proof.md.

- Asymptotic: the sums per round are the observed frequencies, exactly.
- Finite key: a concentration inequality for the martingale Σ_k (1[event_k] − E_k[1[event_k]])
  turns each observed count into an interval for the sum of conditional probabilities, and an
  upper bound on that sum into one on the count (for the phase errors). Two are available:

  * ``"chernoff"`` (default): for 0/1 outcomes with conditional probabilities p_k,
    exp(λ Σ_k ξ_k − (e^λ − 1) Σ_k p_k) and exp(−λ Σ_k ξ_k + (1 − e^{−λ}) Σ_k p_k) are
    supermartingales (E_k[e^{±λξ}] ≤ exp(p_k(e^{±λ} − 1))), so by Markov's inequality at the
    end, except with probability ε each: Σp ≥ (λn − ln(1/ε))/(e^λ − 1) and
    Σp ≤ (λn + ln(1/ε))/(1 − e^{−λ}), and n ≤ ((e^λ − 1) Σp + ln(1/ε))/λ. We take the best of
    a fixed grid of λ values (union bound over the grid). The deviation scales as √(n ln(1/ε)),
    so rare events (vacuum decoys, errors) get useful intervals.
  * ``"azuma"``: Azuma-Hoeffding, |Σ_k (ξ_k − p_k)| ≤ √(N ln(1/ε)/2) (increments in an
    interval of width 1; Pereira et al. 2020, Eq. 56). Simple, but the deviation scales with
    the number of rounds N, not of events, so it is loose at low detection rates.
  * ``"kato"``: Kato's inequality (G. Kato, arXiv:2002.04357; the framework paper's Ref. 41, in
    the form of Currás-Lorenzo et al., npj Quantum Inf. 7, 22 (2021), Methods): for ξ_k ∈ [0, 1],
    Λ = Σ_k ξ_k, any b ≥ |a|,
    Pr[Σp ≥ Λ + (b + a(2Λ/N − 1))√N] ≤ exp(−2(b² − a²)/(1 + 4a/(3√N))²)
    and Pr[Λ ≥ Σp + (b + a(2Λ/N − 1))√N] ≤ exp(−2(b² − a²)/(1 − 4a/(3√N))²). The slope a lets
    the deviation follow Λ(N − Λ)/N instead of N; we take the best a of a fixed grid (union
    bound over it, as for Chernoff) so the choice may depend on the data
    (:func:`kato_deviation`; derivation in docs/finite-key-proof.md).

  Each of the ``inequalities`` gets an equal share of ε_PE.

Decoy states (weak-coherent sources): the intervals on Σ_k Q_k at each intensity go through
:mod:`qkdlab.analysis.decoy` (the decoy relations are linear with photon-number weights that do
not depend on k, so they hold for the sums). All quantities below are divided by the number of
rounds N: "per-round averages".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .decoy import decoy_roles, vacuum_weak_bounds

__all__ = ["Estimates", "estimate", "CONCENTRATIONS", "sum_interval", "count_upper", "kato_deviation"]

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


@dataclass(frozen=True)
class Estimates:
    """Per-round averages of the single-photon quantities (leading axis: data sets, e.g. distances).

    ``x_low``/``x_up`` (D, j, 2): single-photon yields of setting j with Bob's X outcome o.
    ``key_detections``/``key_errors`` (D,): key-round (Alice Z, Bob Z, signal intensity)
    detections and bit errors per round (all photon numbers). ``single_key_low`` (D,): lower
    bound on the single-photon part of ``key_detections``. ``phase_scale``: expected single-
    photon key-round phase errors per round = phase_scale × (phase-error probability of Ψ_Z);
    """

    x_low: np.ndarray
    x_up: np.ndarray
    key_detections: np.ndarray
    key_errors: np.ndarray
    single_key_low: np.ndarray
    phase_scale: float
    rounds: np.ndarray
    inequalities: int
    failure_each: float | None = None
    concentration: str = "chernoff"

    def phase_errors_upper(self, probability_upper: np.ndarray) -> np.ndarray:
        """Upper bound on single-photon key-round phase errors per round, from P(ph)^U per round."""
        expected = self.phase_scale * np.asarray(probability_upper, float)
        if self.failure_each is None:
            return expected
        return count_upper(expected * self.rounds, self.rounds, self.failure_each, self.concentration) / self.rounds

    @property
    def exact(self) -> bool:
        return bool(np.array_equal(self.x_low, self.x_up))


def estimate(counts: np.ndarray, emissions: np.ndarray, settings: tuple[str, ...], bob_probabilities: tuple[float, ...],
             source: str, intensities: tuple[float, ...], *, failure: float | None = None,
             probabilities: np.ndarray | None = None, concentration: str = "chernoff") -> Estimates:
    """Single-photon estimates from counts (D, j, k, b, o) and emissions (j, k) or (D, j, k).

    ``failure`` None: asymptotic (frequencies are exact). Otherwise ε_PE, shared equally by
    every concentration inequality used. ``probabilities`` (j, k) or (D, j, k): Alice's design
    choice probabilities (default: the emitted fractions, exact for expected values).
    """
    counts = np.asarray(counts, float)
    emissions = np.broadcast_to(np.asarray(emissions, float), counts.shape[:3])
    rounds = emissions.sum(axis=(1, 2))                                    # (D,)
    if probabilities is None:
        p_setting_intensity = emissions / rounds[:, None, None]
    else:
        p_setting_intensity = np.broadcast_to(np.asarray(probabilities, float), counts.shape[:3])
    p_bob = np.asarray(bob_probabilities)
    z_settings = [i for i, s in enumerate(settings) if s.startswith("Z")]
    zb, xb = 0, 1
    inequalities = counts.shape[1] * counts.shape[2] * 2 * 2 + 1     # X events, Z detections per setting, ph
    weak = source == "weak-coherent"
    if concentration not in CONCENTRATIONS:
        raise ValueError(f"concentration {concentration!r}: use one of {', '.join(CONCENTRATIONS)}")
    eps_each = None if failure is None else failure / inequalities

    def yield_interval(event_counts: np.ndarray, prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = rounds.reshape((-1,) + (1,) * (event_counts.ndim - 1))
        if eps_each is None:
            low = up = event_counts
        else:
            low, up = sum_interval(event_counts, np.broadcast_to(n, event_counts.shape), eps_each, concentration)
        with np.errstate(divide="ignore", invalid="ignore"):
            low = np.where(prob > 0, low / (n * prob), 0.0)
            up = np.where(prob > 0, up / (n * prob), 1.0)
        return np.clip(low, 0.0, 1.0), np.clip(up, 0.0, 1.0)

    x_counts = counts[:, :, :, xb, :]                                     # (D, j, k, o)
    x_q = yield_interval(x_counts, p_setting_intensity[..., None] * p_bob[xb])
    z_det = counts[:, :, :, zb, :].sum(axis=-1)                           # (D, j, k)
    z_q = yield_interval(z_det, p_setting_intensity * p_bob[zb])
    if weak:
        signal = decoy_roles(intensities)[0]
        mu = intensities[signal]
        x_low, x_up = vacuum_weak_bounds(np.moveaxis(x_q[0], 2, -1), np.moveaxis(x_q[1], 2, -1), intensities)
        z1_low, _ = vacuum_weak_bounds(z_q[0], z_q[1], intensities)
        single_fraction = mu * math.exp(-mu)
    else:
        signal = 0
        x_low, x_up = x_q[0][:, :, 0, :], x_q[1][:, :, 0, :]
        z1_low = z_q[0][:, :, 0]
        single_fraction = 1.0
    p_signal = p_setting_intensity[:, :, signal]                          # (D, j)
    key_counts = counts[:, z_settings, signal, zb, :]                    # (D, zj, o)
    key_detections = key_counts.sum(axis=(1, 2)) / rounds
    correct = np.array([int(settings[j][1]) for j in z_settings])
    key_errors = np.stack([key_counts[:, i, 1 - c] for i, c in enumerate(correct)], axis=1).sum(axis=1) / rounds
    single_key_low = (p_signal[:, z_settings] * p_bob[zb] * single_fraction * z1_low[:, z_settings]).sum(axis=1)
    p_z_signal = p_signal[0, z_settings].sum()
    phase_scale = float(p_z_signal * p_bob[zb] * single_fraction)
    z_probs = p_signal[0, z_settings]
    if probabilities is not None and not np.allclose(z_probs, z_probs[0], rtol=1e-6):
        raise ValueError(f"Alice's key-basis settings have unequal probabilities {z_probs}: the phase-error analysis "
                         "needs equiprobable key bits")
    return Estimates(x_low=x_low, x_up=x_up, key_detections=key_detections, key_errors=key_errors,
                     single_key_low=single_key_low, phase_scale=phase_scale, rounds=rounds,
                     inequalities=inequalities, failure_each=eps_each, concentration=concentration)
