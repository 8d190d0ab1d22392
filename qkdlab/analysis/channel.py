"""The channel model of the papers' simulations: what an honest link would show.

Currás-Lorenzo et al. 2025 (Sec. 3) and Pereira et al. 2020 simulate a lossy fiber with
threshold detectors: transmittance η = 10^(−α L / 10) η_det, dark-count probability p_d per
detector and pulse, Bob's passive or active basis choice, double clicks assigned to a random
bit. Alice's qubit states are her characterized states (the side channels ε do not change an
honest channel's statistics; they only enter the security analysis).

Detection probabilities for a setting j measured in basis b, with T_o = |<b_o|φ_j>|² (mixed
with the optical misalignment e_m: T_o → (1 − e_m) T_o + e_m T_{1−o}):

- single photon: P(only o clicks) = η T_o (1 − p_d) + (1 − η) p_d (1 − p_d),
  P(both) = η p_d + (1 − η) p_d²;
- phase-randomised coherent pulse of mean μ: the detectors see independent Poisson light of means
  μ η T_o, so P(o clicks) = 1 − (1 − p_d) e^{−μ η T_o}, independently;

and the recorded outcome o has probability P(only o) + P(both)/2. The model emits the same
:class:`~qkdlab.model.Observations` an experiment does, with expected counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..model import Observations, nested_tuples
from .states import PROTOCOL_SETTINGS, StateSet

__all__ = ["Channel", "SPEED_IN_FIBER_M_PER_S", "transmittance"]

#: Group velocity in standard fiber, about 2/3 c (Agrawal, Fiber-Optic Communication Systems).
SPEED_IN_FIBER_M_PER_S = 2.0e8


def transmittance(distance_km: np.ndarray | float, fiber_loss_db_per_km: float, detector_efficiency: float
                  ) -> np.ndarray:
    """η = 10^(−α L/10) η_det."""
    return np.asarray(10.0 ** (-fiber_loss_db_per_km * np.asarray(distance_km, float) / 10.0) * detector_efficiency)


@dataclass(frozen=True)
class Channel:
    """Fiber, detectors and protocol parameters of a simulated link.

    ``intensities`` (weak-coherent source only): mean photon numbers, signal first, then decoys
    (a 0 is the vacuum decoy), chosen with ``intensity_probabilities``. Basis probabilities are
    Alice's (per basis; within a basis each bit has half) and Bob's probability of measuring Z.
    """

    fiber_loss_db_per_km: float = 0.2
    detector_efficiency: float = 0.73
    dark_count_probability: float = 1e-8
    ec_efficiency: float = 1.16
    repetition_rate_hz: float = 2.5e9
    alice_z_probability: float = 0.5
    bob_z_probability: float = 0.5
    misalignment: float = 0.0
    source: str = "single-photon"
    intensities: tuple[float, ...] = (1.0,)
    intensity_probabilities: tuple[float, ...] = (1.0,)
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        checks = {
            "fiber_loss_db_per_km": 0.0 <= self.fiber_loss_db_per_km < 10.0,
            "detector_efficiency": 0.0 < self.detector_efficiency <= 1.0,
            "dark_count_probability": 0.0 <= self.dark_count_probability < 0.5,
            "ec_efficiency": self.ec_efficiency >= 1.0,
            "repetition_rate_hz": self.repetition_rate_hz > 0.0,
            "alice_z_probability": 0.0 < self.alice_z_probability < 1.0,
            "bob_z_probability": 0.0 < self.bob_z_probability < 1.0,
            "misalignment": 0.0 <= self.misalignment < 0.5,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError("channel parameter out of range: " + ", ".join(f"{name} = {getattr(self, name)}"
                                                                            for name in bad))
        if self.source not in ("single-photon", "weak-coherent"):
            raise ValueError(f"source {self.source!r}: use 'single-photon' or 'weak-coherent'")
        if len(self.intensities) != len(self.intensity_probabilities) or not np.isclose(
                sum(self.intensity_probabilities), 1.0):
            raise ValueError("give one probability per intensity, summing to 1")
        if self.source == "single-photon" and self.intensities != (1.0,):
            raise ValueError("a single-photon source has no intensities; use source='weak-coherent' for decoys")

    def setting_probabilities(self, protocol: str) -> np.ndarray:
        """Alice's probability of each setting (bits equiprobable within a basis)."""
        labels = PROTOCOL_SETTINGS[protocol]
        z = self.alice_z_probability
        x_states = [label for label in labels if label.startswith("X")]
        return np.array([z / 2 if label.startswith("Z") else (1 - z) / len(x_states) for label in labels])

    def outcome_probabilities(self, states: StateSet, distance_km: np.ndarray | float) -> np.ndarray:
        """P(recorded outcome o | setting j, intensity k, basis b): shape (*distance, j, k, b, o)."""
        eta = transmittance(distance_km, self.fiber_loss_db_per_km, self.detector_efficiency)[..., None, None, None,
                                                                                               None]
        arrive = np.stack([states.probabilities("Z"), states.probabilities("X")], axis=1)       # (j, b, o)
        arrive = (1 - self.misalignment) * arrive + self.misalignment * arrive[..., ::-1]
        arrive = arrive[:, None, :, :]                                                          # (j, 1, b, o)
        pd = self.dark_count_probability
        if self.source == "single-photon":
            only = eta * arrive * (1 - pd) + (1 - eta) * pd * (1 - pd)
            both = eta * pd + (1 - eta) * pd ** 2
        else:
            mu = np.asarray(self.intensities)[None, :, None, None]
            click = 1.0 - (1.0 - pd) * np.exp(-mu * eta * arrive)
            only = click * (1.0 - click[..., ::-1])
            both = click[..., :1] * click[..., 1:]
        return only + both / 2.0

    def observations(self, states: StateSet, distance_km: float, block_size: float | None = None) -> Observations:
        """Expected observations at one distance: per emitted pulse, or for ``block_size`` pulses."""
        return self.observation_series(states, [distance_km], block_size)[0]

    def expected_counts(self, states: StateSet, distance_km: Sequence[float] | np.ndarray,
                        block_size: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(emissions (j, k), counts (distance, j, k, b, o)), expected values for ``block_size`` pulses (1 if None)."""
        total = 1.0 if block_size is None else float(block_size)
        emissions = total * np.outer(self.setting_probabilities(states.protocol), self.intensity_probabilities)
        bases = np.array([self.bob_z_probability, 1 - self.bob_z_probability])
        outcome = self.outcome_probabilities(states, np.asarray(distance_km, float))
        return emissions, emissions[None, :, :, None, None] * bases[None, None, None, :, None] * outcome

    def observation_series(self, states: StateSet, distances_km: Sequence[float] | np.ndarray,
                           block_size: float | None = None) -> list[Observations]:
        emissions, counts = self.expected_counts(states, distances_km, block_size)
        return [Observations(protocol=states.protocol, settings=states.labels, source=self.source,  # type: ignore[arg-type]
                             intensities=self.intensities, bob_basis_probabilities=(self.bob_z_probability,
                                                                                    1 - self.bob_z_probability),
                             emissions=nested_tuples(emissions), counts=nested_tuples(c), expected=True,
                             repetition_rate_hz=self.repetition_rate_hz, distance_km=float(d),
                             origin="qkdlab.analysis.Channel")
                for d, c in zip(np.asarray(distances_km, float), counts)]

