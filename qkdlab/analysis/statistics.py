"""From counts to the single-photon quantities a phase-error bound needs (asymptotic or finite).

Per round k, with Alice's setting j, intensity μ and Bob's basis b chosen independently of the
past with probabilities p_j, p_μ, p_b, the conditional probability of the event (j, μ, b, o) is
p_j p_μ p_b Q_k(j, μ, b, o). The estimators work with *sums over rounds* of conditional yields,
Σ_k Q_k, because the phase-error bounds are concave and homogeneous and so can be summed over
rounds (Jensen) — the step that makes them hold against coherent attacks (framework paper,
Sec. 2.2 and Supplement; Pereira et al. 2020, Eq. 56).

- Asymptotic: the sums per round are the observed frequencies, exactly.
- Finite key: Azuma-Hoeffding for the martingale Σ_k (1[event_k] − E_k[1[event_k]]), whose
  increments lie in an interval of width 1: |Σ_k (1 − E_k)| ≤ √(N ln(1/ε)/2) except with
  probability ε per side (Azuma 1967; used as in Pereira et al. 2020, Eq. 56). Each event's
  count gives an interval for Σ_k Q_k(event), each of the ``failure_budget`` inequalities
  gets an equal share of ε_PE.

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

__all__ = ["Estimates", "estimate", "azuma_deviation"]


def azuma_deviation(rounds: float, failure: float) -> float:
    """√(N ln(1/ε)/2): one side of Azuma-Hoeffding for increments in an interval of width 1."""
    return math.sqrt(rounds * math.log(1.0 / failure) / 2.0)


@dataclass(frozen=True)
class Estimates:
    """Per-round averages of the single-photon quantities (leading axis: data sets, e.g. distances).

    ``x_low``/``x_up`` (D, j, 2): single-photon yields of setting j with Bob's X outcome o.
    ``key_detections``/``key_errors`` (D,): key-round (Alice Z, Bob Z, signal intensity)
    detections and bit errors per round (all photon numbers). ``single_key_low`` (D,): lower
    bound on the single-photon part of ``key_detections``. ``phase_scale``: expected single-
    photon key-round phase errors per round = phase_scale × (phase-error probability of Ψ_Z);
    ``phase_deviation`` (D,): the concentration term added to their number, per round.
    """

    x_low: np.ndarray
    x_up: np.ndarray
    key_detections: np.ndarray
    key_errors: np.ndarray
    single_key_low: np.ndarray
    phase_scale: float
    phase_deviation: np.ndarray
    rounds: np.ndarray
    inequalities: int

    @property
    def exact(self) -> bool:
        return bool(np.array_equal(self.x_low, self.x_up))


def estimate(counts: np.ndarray, emissions: np.ndarray, settings: tuple[str, ...], bob_probabilities: tuple[float, ...],
             source: str, intensities: tuple[float, ...], *, failure: float | None = None) -> Estimates:
    """Single-photon estimates from counts (D, j, k, b, o) and emissions (j, k) or (D, j, k).

    ``failure`` None: asymptotic (frequencies are exact). Otherwise ε_PE, shared equally by
    every concentration inequality used.
    """
    counts = np.asarray(counts, float)
    emissions = np.broadcast_to(np.asarray(emissions, float), counts.shape[:3])
    rounds = emissions.sum(axis=(1, 2))                                    # (D,)
    p_setting_intensity = emissions / rounds[:, None, None]
    p_bob = np.asarray(bob_probabilities)
    z_settings = [i for i, s in enumerate(settings) if s.startswith("Z")]
    zb, xb = 0, 1
    inequalities = counts.shape[1] * counts.shape[2] * 2 * 2 + 1     # X events, Z detections per setting, ph
    weak = source == "weak-coherent"
    if failure is None:
        deviation = np.zeros_like(rounds)
        eps_each = None
    else:
        eps_each = failure / inequalities
        deviation = np.array([azuma_deviation(n, eps_each) for n in rounds])

    def yield_interval(event_counts: np.ndarray, prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dev = deviation.reshape((-1,) + (1,) * (event_counts.ndim - 1))
        n = rounds.reshape(dev.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            low = np.where(prob > 0, (event_counts - dev) / (n * prob), 0.0)
            up = np.where(prob > 0, (event_counts + dev) / (n * prob), 1.0)
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
    phase_dev = deviation / rounds
    z_probs = p_signal[0, z_settings]
    if not np.allclose(z_probs, z_probs[0], rtol=1e-6):
        raise ValueError(f"Alice's key-basis settings have unequal probabilities {z_probs}: the phase-error analysis "
                         "needs equiprobable key bits")
    return Estimates(x_low=x_low, x_up=x_up, key_detections=key_detections, key_errors=key_errors,
                     single_key_low=single_key_low, phase_scale=phase_scale, phase_deviation=phase_dev,
                     rounds=rounds, inequalities=inequalities)
