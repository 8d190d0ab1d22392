"""Alarms: the observed data leave the envelope the source model was calibrated for.

Three checks per accepted block, each with its reason in words:

- **QBER** of the key rounds above a threshold.
- **States**: for every setting j and Bob basis b (signal intensity), the fraction of outcome 1
  must match |<b_1|φ_j>|² of the *characterized* states within an allowance (dark counts,
  misalignment) plus ``sigmas`` binomial standard deviations. A drifting phase modulator breaks
  this first; the security analysis would then rest on states Alice no longer sends.
- **Intensity**: the detection rate per pulse at each intensity, relative to the first accepted
  block, must stay within ``rate_change`` plus ``sigmas`` standard deviations. A drifting
  intensity-modulator bias (or new channel loss) shows here; decoy-state bounds assume the
  calibrated intensities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..analysis.states import StateSet
from ..model import Observations

__all__ = ["AlarmPolicy", "Alarm", "check_block", "basis_counts", "key_counts", "key_qber", "detection_rates"]


@dataclass(frozen=True)
class AlarmPolicy:
    qber_threshold: float = 0.05
    sigmas: float = 5.0
    state_allowance: float = 0.01
    rate_change: float = 0.10


@dataclass(frozen=True)
class Alarm:
    kind: str          # "qber", "states" or "intensity"
    message: str


def basis_counts(block: Observations, basis: str) -> tuple[float, float]:
    """(detections, bit errors) when Alice sent a ``basis`` setting at the signal intensity and Bob measured in it.

    ``(0, 0)`` when Bob has no such basis or Alice no such setting (three-state: X has only X0).
    """
    chosen = [j for j, s in enumerate(block.settings) if s.startswith(basis)]
    if basis not in block.bob_bases or not chosen:
        return 0.0, 0.0
    counts = block.count_array[chosen, 0, block.basis_index(basis), :]
    wrong = sum(counts[i, 1 - int(block.settings[j][1])] for i, j in enumerate(chosen))
    return float(counts.sum()), float(wrong)


def key_counts(block: Observations) -> tuple[float, float]:
    """(detections, bit errors) of the key rounds: Alice's Z settings at the signal intensity, Bob in Z."""
    return basis_counts(block, "Z")


def key_qber(block: Observations) -> float:
    detections, errors = key_counts(block)
    return errors / detections if detections > 0 else 0.0


def check_block(block: Observations, states: StateSet, reference_rates: np.ndarray | None,
                policy: AlarmPolicy) -> list[Alarm]:
    """The alarms raised by one block (module docstring); ``reference_rates``: detections per pulse per intensity."""
    alarms = []
    qber = key_qber(block)
    if qber > policy.qber_threshold:
        alarms.append(Alarm("qber", f"QBER {qber:.2%} is above the alarm threshold {policy.qber_threshold:.2%}"))
    counts = block.count_array[:, 0]                                   # (j, b, o) at the signal intensity
    for b, basis in enumerate(block.bob_bases):
        predicted = states.probabilities(basis)[:, 1]
        for j, label in enumerate(block.settings):
            n = counts[j, b].sum()
            if n < 100:
                continue
            observed = counts[j, b, 1] / n
            tolerance = policy.state_allowance + policy.sigmas * np.sqrt(max(predicted[j] * (1 - predicted[j]),
                                                                             1.0 / n) / n)
            if abs(observed - predicted[j]) > tolerance:
                alarms.append(Alarm("states", f"setting {label}, Bob's {basis} basis: outcome-1 fraction "
                                              f"{observed:.4f}, the calibrated states predict {predicted[j]:.4f} "
                                              f"(± {tolerance:.4f}): the encoded states have left the source model "
                                              "(phase-modulator drift?)"))
    if reference_rates is not None:
        rates, emissions = detection_rates(block)
        for k, mu in enumerate(block.intensities):
            if reference_rates[k] <= 0 or emissions[k] == 0:
                continue
            change = rates[k] / reference_rates[k] - 1.0
            noise = policy.sigmas * np.sqrt(max(rates[k], 1e-300) / emissions[k]) / reference_rates[k]
            if abs(change) > policy.rate_change + noise:
                alarms.append(Alarm("intensity", f"detection rate at intensity {mu:g} changed by {change:+.1%} since "
                                                 "the start: intensity-modulator bias drift or new channel loss; the "
                                                 "decoy analysis assumes the calibrated intensities"))
                break
    return alarms


def detection_rates(block: Observations) -> tuple[np.ndarray, np.ndarray]:
    """Detections per pulse at each intensity, and the pulses sent at each."""
    emissions = block.emission_array.sum(axis=0)
    detections = block.count_array.sum(axis=(0, 2, 3))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(emissions > 0, detections / emissions, 0.0), emissions
