"""From counts to the single-photon quantities a phase-error bound needs (asymptotic or finite).

Per round k, with Alice's setting j, intensity μ and Bob's basis b chosen independently of the
past with probabilities p_j, p_μ, p_b, the conditional probability of the event (j, μ, b, o) is
p_j p_μ p_b Q_k(j, μ, b, o). The estimators work with *sums over rounds* of conditional yields,
Σ_k Q_k, because the phase-error bounds are concave and homogeneous and so can be summed over
rounds (Jensen) — the step that makes them hold against coherent attacks (framework paper,
Sec. 2.2 and Supplement; Pereira et al. 2020, Eq. 56). The whole chain, lemma by lemma, is in
docs/finite-key-proof.md; for the coin methods its §7 sums the per-round coin distances through a
virtual sampling of the emissions (``sampling``, :meth:`Estimates.coin_distance`).

- Asymptotic: the sums per round are the observed frequencies, exactly.
- Finite key: a concentration inequality (:mod:`.concentration`: Chernoff by default, Kato or
  Azuma) turns each observed count into an interval for the sum of conditional probabilities, and
  an upper bound on that sum into one on the count (for the phase errors). Each of the
  ``inequalities`` gets an equal share of ε_PE.

Decoy states (weak-coherent sources): the intervals on Σ_k Q_k at each intensity go through
:mod:`qkdlab.analysis.decoy` (the decoy relations are linear with photon-number weights that do
not depend on k, so they hold for the sums). All quantities below are divided by the number of
rounds N: "per-round averages".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from .concentration import (CONCENTRATIONS, count_lower, count_upper, extended_count_upper, flag_sum_upper,
                            sum_interval, thinned_interval)
from .decoy import decoy_roles, vacuum_weak_bounds

__all__ = ["Estimates", "estimate", "stack_estimates"]


@dataclass(frozen=True)
class Estimates:
    """Per-round averages of the single-photon quantities (leading axis: data sets, e.g. distances).

    ``x_low``/``x_up`` (D, j, 2): single-photon yields of setting j with Bob's X outcome o.
    ``key_detections``/``key_errors`` (D,): key-round (Alice Z, Bob Z, signal intensity)
    detections and bit errors per round (all photon numbers). ``single_key_low`` (D,): lower
    bound on the single-photon part of ``key_detections`` (for a finite key, on the count).
    ``phase_scale``: expected single-photon key-round phase errors per round = phase_scale ×
    (phase-error probability of Ψ_Z).

    ``sampling``: the probability s of the virtual emission sampling that bounds the coin's X_C
    fluctuation for a finite key (docs/finite-key-proof.md §7; 0: no sampling, asymptotic or
    methods without a coin). With s > 0 the yields are those of the unsampled rounds (the counts
    thinned by 1 − s), and :meth:`coin_distance` bounds Σ_k Δ_k from the sampled ones.
    ``design`` (D, j, k): Alice's setting and intensity probabilities; ``single_photon`` (k,): the
    probability of one photon at each intensity (1 for a single-photon source).
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
    sampling: float | np.ndarray = 0.0
    design: np.ndarray | None = None
    single_photon: np.ndarray | None = None

    def phase_errors_upper(self, probability_upper: np.ndarray) -> np.ndarray:
        """Upper bound on single-photon key-round phase errors per round, from P(ph)^U per round.

        With sampling s the bound of the concentration step is on the unsampled key rounds, whose
        conditional probabilities are (1 − s) × those of a round; :func:`extended_count_upper`
        extends it to every key round (§7, step S5).
        """
        expected = self.phase_scale * np.asarray(probability_upper, float)
        if self.failure_each is None:
            return expected
        kept = count_upper((1.0 - np.asarray(self.sampling)) * expected * self.rounds, self.rounds, self.failure_each,
                           self.concentration)
        return extended_count_upper(kept, self.sampling, self.failure_each) / self.rounds

    @property
    def exact(self) -> bool:
        return bool(np.array_equal(self.x_low, self.x_up))

    def coin_gain(self, difference: np.ndarray) -> np.ndarray:
        """g per row: the largest eigenvalue of P^{-1/2} L^H L P^{-1/2} (P: Alice's setting probabilities).

        The flag operator L^H L weighted by Alice's probabilities, divided by g, is an effect on her
        setting register (§7, step S1); with several intensities the largest g over them is used.
        Infinite when the coin needs a setting Alice never sends.
        """
        design = np.asarray(self.design, float)
        single = np.asarray(self.single_photon, float)
        return _gains(np.ascontiguousarray(difference, complex).tobytes(), difference.shape, design.tobytes(), design.shape,
                      single.tobytes()).copy()

    def coin_distance(self, distance: np.ndarray | float, gain: np.ndarray | float) -> np.ndarray:
        """Upper bound on (1/N) Σ_k Δ_k, the per-round coin distances under a coherent attack (§7).

        Asymptotically Δ itself. For a finite key the sampled rounds carry a flag with conditional
        probability s P_1 Δ_k / g per round (P_1 = Σ_μ p_μ P_1(μ)), and at most s P_1 Δ / g a priori,
        independently per round; :func:`flag_sum_upper` bounds the sum of the conditional ones.
        Non-decreasing in ``distance`` and in ``gain`` (what coin_q's lower bounds rely on).
        """
        distance = np.asarray(distance, float)
        if self.failure_each is None:
            return distance
        if np.any(np.asarray(self.sampling) <= 0.0):
            raise ValueError("a finite-key coin bound needs the virtual sampling of docs/finite-key-proof.md §7 "
                             "(estimate(..., sampling=s) with 0 < s < 1)")
        design = np.asarray(self.design, float)
        rate = np.asarray(self.sampling) * (design.sum(axis=1) * np.asarray(self.single_photon)[None, :]).sum(axis=1)
        gain = np.asarray(gain, float)
        usable = np.isfinite(gain) & (gain > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = np.where(usable, self.rounds * rate * distance / np.where(usable, gain, 1.0), 0.0)
            total = flag_sum_upper(mean, self.rounds, self.failure_each)
            value = gain * total / (rate * self.rounds)
        # g → 0 is the deterministic limit Δ, below every g > 0 (what a lower bound of g may give)
        return np.where(np.isinf(gain), np.inf, np.where(usable, value, distance))


def stack_estimates(parts: list[Estimates]) -> Estimates:
    """One Estimates with the rows of every part, in order (e.g. one block of rows per sampling probability).

    Everything per row is concatenated (``sampling`` becomes per row); the per-analysis constants
    (phase scale, failure per inequality, their number, the concentration, the photon numbers) must agree.
    """
    first = parts[0]
    for part in parts[1:]:
        if (part.phase_scale, part.failure_each, part.inequalities, part.concentration) != (
                first.phase_scale, first.failure_each, first.inequalities, first.concentration):
            raise ValueError("estimates of different analyses cannot be stacked")
    per_row = {name: np.concatenate([getattr(p, name) for p in parts])
               for name in ("x_low", "x_up", "key_detections", "key_errors", "single_key_low", "rounds", "design")}
    sampling = np.concatenate([np.broadcast_to(np.asarray(p.sampling, float), p.rounds.shape) for p in parts])
    return replace(first, sampling=sampling, **per_row)


@lru_cache(maxsize=1024)
def _gains(difference: bytes, difference_shape: tuple[int, ...], design: bytes, design_shape: tuple[int, ...],
           single: bytes) -> np.ndarray:
    """Estimates.coin_gain, cached on the bytes of its inputs (a live estimator asks for the same ones each block)."""
    metric = np.frombuffer(difference, complex).reshape(difference_shape)
    metric = metric.conj().T @ metric
    design_array = np.frombuffer(design, float).reshape(design_shape)                 # (D, j, k)
    totals = design_array.sum(axis=1, keepdims=True)
    given = design_array / np.where(totals > 0, totals, 1.0)
    support = np.abs(metric).sum(axis=0) > 0
    gains = np.zeros(design_shape[0])
    for k in np.flatnonzero(np.frombuffer(single, float) > 0):
        p = given[:, :, k]
        used = totals[:, 0, k] > 0                      # an intensity never sent has no flag
        missing = np.any((p <= 0) & support[None, :], axis=1)
        scale = 1.0 / np.sqrt(np.where(p > 0, p, 1.0))
        weighted = scale[:, :, None] * metric[None] * scale[:, None, :]
        value = np.where(missing, np.inf, np.linalg.eigvalsh(weighted)[:, -1])
        gains = np.maximum(gains, np.where(used, value, 0.0))
    return gains * (1.0 + 1e-12)


def estimate(counts: np.ndarray, emissions: np.ndarray, settings: tuple[str, ...], bob_probabilities: tuple[float, ...],
             source: str, intensities: tuple[float, ...], *, failure: float | None = None,
             probabilities: np.ndarray | None = None, concentration: str = "chernoff",
             sampling: float = 0.0) -> Estimates:
    """Single-photon estimates from counts (D, j, k, b, o) and emissions (j, k) or (D, j, k).

    ``failure`` None: asymptotic (frequencies are exact). Otherwise ε_PE, shared equally by
    every concentration inequality used. ``probabilities`` (j, k) or (D, j, k): Alice's design
    choice probabilities (default: the emitted fractions, exact for expected values).
    ``sampling``: s of the coin methods' virtual sampling (finite key only; docs/finite-key-proof.md
    §7): every count is thinned to its unsampled part before its interval is taken.
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
    weak = source == "weak-coherent"
    if concentration not in CONCENTRATIONS:
        raise ValueError(f"concentration {concentration!r}: use one of {', '.join(CONCENTRATIONS)}")
    if not 0.0 <= sampling < 1.0:
        raise ValueError(f"sampling probability {sampling} must lie in [0, 1)")
    sampling = 0.0 if failure is None else sampling
    n_settings, n_intensities = counts.shape[1], counts.shape[2]
    # every inequality whose failure matters, each side counted: the X counts (2 outcomes, both ends),
    # with decoys the Z detections of the key settings (both ends) and the single-photon key count;
    # the phase errors; with sampling the thinning of each of those counts, the extension of the
    # phase errors and the two steps of the flag bound.
    used = n_settings * n_intensities * 4 + (len(z_settings) * n_intensities * 2 if weak else 0)
    inequalities = used + (1 if weak else 0) + 1 + ((used + 1 + 2 + (1 if weak else 0)) if sampling > 0 else 0)
    eps_each = None if failure is None else failure / inequalities

    def yield_interval(event_counts: np.ndarray, prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = rounds.reshape((-1,) + (1,) * (event_counts.ndim - 1))
        if eps_each is None:
            low = up = event_counts
        else:
            kept_low, kept_up = (event_counts, event_counts) if sampling == 0 else \
                thinned_interval(event_counts, sampling, eps_each)
            total = np.broadcast_to(n, event_counts.shape)
            low = sum_interval(kept_low, total, eps_each, concentration)[0]
            up = sum_interval(kept_up, total, eps_each, concentration)[1]
            prob = prob * (1.0 - sampling)
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
        single_photon = np.array([m * math.exp(-m) for m in intensities])
    else:
        signal = 0
        x_low, x_up = x_q[0][:, :, 0, :], x_q[1][:, :, 0, :]
        z1_low = z_q[0][:, :, 0]
        single_fraction = 1.0
        single_photon = np.ones(n_intensities)
    p_signal = p_setting_intensity[:, :, signal]                          # (D, j)
    key_counts = counts[:, z_settings, signal, zb, :]                    # (D, zj, o)
    key_detections = key_counts.sum(axis=(1, 2)) / rounds
    correct = np.array([int(settings[j][1]) for j in z_settings])
    key_errors = np.stack([key_counts[:, i, 1 - c] for i, c in enumerate(correct)], axis=1).sum(axis=1) / rounds
    single_key_low = (p_signal[:, z_settings] * p_bob[zb] * single_fraction * z1_low[:, z_settings]).sum(axis=1)
    if weak and eps_each is not None:
        # the count, not its expectation: unsampled single-photon key detections ≥ count_lower((1 − s) Σp), and
        # all of them ≥ that over 1 − s less the thinning's deviation (sum_interval's lower end, §7 step S5)
        kept = count_lower((1.0 - sampling) * single_key_low * rounds, rounds, eps_each, concentration)
        total = kept if sampling == 0 else sum_interval(kept, rounds, eps_each)[0] / (1.0 - sampling)
        single_key_low = np.minimum(total / rounds, key_detections)
    p_z_signal = p_signal[0, z_settings].sum()
    phase_scale = float(p_z_signal * p_bob[zb] * single_fraction)
    z_probs = p_signal[0, z_settings]
    if probabilities is not None and not np.allclose(z_probs, z_probs[0], rtol=1e-6):
        raise ValueError(f"Alice's key-basis settings have unequal probabilities {z_probs}: the phase-error analysis "
                         "needs equiprobable key bits")
    return Estimates(x_low=x_low, x_up=x_up, key_detections=key_detections, key_errors=key_errors,
                     single_key_low=single_key_low, phase_scale=phase_scale, rounds=rounds,
                     inequalities=inequalities, failure_each=eps_each, concentration=concentration,
                     sampling=sampling, design=np.array(p_setting_intensity), single_photon=single_photon)
