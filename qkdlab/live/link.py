"""A simulated QKD link: the simulated bench's transmitter, a fiber and Bob's detectors, block by block.

The link emits what a real link's counting electronics would: per post-processing group (pulse k
in group k mod (l_c + 1)), the number of pulses Alice sent per setting and intensity, and Bob's
detections per basis and outcome. Counts are *sampled* (multinomial), not expected values.

- Alice's qubit states are the source model's characterized states (what the calibration found
  on the simulated bench); a phase-modulator drift scales the encoded phases as a Vπ change would
  (φ_j → φ_j · Vπ₀/Vπ(t)).
- Alice's intensities (decoy states by default) pass the intensity modulator of the simulated
  bench (:class:`qkdlab.sim.physics.TransmitterModel`), locked at its peak at the start; a bias
  drift moves the transfer curve under the lock, scaling every intensity by T(V₀ + drift)/T(V₀).
- The fiber, Bob's basis choice and threshold detectors are :class:`qkdlab.analysis.Channel`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from ..analysis import AnalysisSource, Channel, StateSet
from ..model import Observations, SourceModel, nested_tuples
from ..sim.physics import SimParameters, TransmitterModel

__all__ = ["LinkDrift", "SimulatedLink", "Block"]

#: A block of counts: one Observations per post-processing group.
Block = tuple[Observations, ...]


@dataclass(frozen=True)
class LinkDrift:
    """Drifts applied between blocks: the IM bias (V per block) and the PM's Vπ (fraction per block)."""

    im_bias_v_per_block: float = 0.0
    pm_vpi_fraction_per_block: float = 0.0


class SimulatedLink:
    """Blocks of sampled counts from the simulated transmitter over a fiber (module docstring)."""

    def __init__(self, source_model: SourceModel | AnalysisSource, *, distance_km: float = 20.0,
                 block_emissions: float = 1e9, seed: int = 0, drift: LinkDrift = LinkDrift(),
                 channel: Channel | None = None, sim_params: SimParameters | None = None) -> None:
        source = source_model if isinstance(source_model, AnalysisSource) else AnalysisSource.from_model(source_model)
        if block_emissions < 1:
            raise ValueError(f"block_emissions {block_emissions} must be at least 1")
        self.source = source
        self.distance_km = float(distance_km)
        self.block_emissions = int(block_emissions)
        self.drift = drift
        self.groups = source.correlation_length + 1
        self.channel = channel or Channel(detector_efficiency=0.1, dark_count_probability=2.5e-5,
                                          source="weak-coherent", intensities=(0.5, 0.1, 0.0),
                                          intensity_probabilities=(0.8, 0.1, 0.1), repetition_rate_hz=1e9)
        self.rng = np.random.default_rng(seed)
        self.transmitter = TransmitterModel(sim_params, seed=seed)
        self.locked_bias_v = self.transmitter.im_peak_bias()
        self.blocks_sent = 0
        self._phases = np.array([2.0 * math.atan2(k[1].real, k[0].real) for k in source.states.kets])

    # -- the drifting transmitter ------------------------------------------------------------
    def current_states(self) -> StateSet:
        scale = 1.0 / (1.0 + self.drift.pm_vpi_fraction_per_block * self.blocks_sent)
        return StateSet.from_phases(self.source.protocol, tuple(self._phases * scale))

    def intensity_scale(self) -> float:
        """T(V₀ + drift)/T(V₀): the IM transmission at the locked bias after the drift, relative to the start."""
        shift = self.drift.im_bias_v_per_block * self.blocks_sent
        t = self.transmitter
        return float(t.im_transmission(self.locked_bias_v - shift) / t.im_transmission(self.locked_bias_v))

    def current_channel(self) -> Channel:
        if self.channel.source == "single-photon":
            return self.channel
        scaled = tuple(mu * self.intensity_scale() for mu in self.channel.intensities)
        return replace(self.channel, intensities=scaled)

    # -- blocks --------------------------------------------------------------------------------
    def next_block(self) -> Block:
        """Sample one block (``block_emissions`` pulses split over the post-processing groups)."""
        states, channel = self.current_states(), self.current_channel()
        outcome = channel.outcome_probabilities(states, self.distance_km)            # (j, k, b, o)
        bases = np.array([channel.bob_z_probability, 1 - channel.bob_z_probability])
        cells = (outcome * bases[None, None, :, None]).reshape(outcome.shape[0], outcome.shape[1], -1)
        cells = np.concatenate([cells, 1.0 - cells.sum(axis=-1, keepdims=True)], axis=-1)   # + no click
        p_setting = np.outer(channel.setting_probabilities(states.protocol), channel.intensity_probabilities)
        block = []
        per_group = np.full(self.groups, self.block_emissions // self.groups)
        per_group[: self.block_emissions % self.groups] += 1
        for pulses in per_group:
            emissions = self.rng.multinomial(pulses, p_setting.ravel()).reshape(p_setting.shape)
            sampled = self.rng.multinomial(emissions, np.clip(cells, 0.0, None) / cells.sum(axis=-1, keepdims=True))
            counts = sampled[..., :-1].reshape(outcome.shape)
            block.append(Observations(
                protocol=states.protocol, settings=states.labels, source=self.channel.source,  # type: ignore[arg-type]
                intensities=self.channel.intensities, bob_basis_probabilities=tuple(bases.tolist()),
                emissions=nested_tuples(emissions.astype(float)), counts=nested_tuples(counts.astype(float)),
                setting_probabilities=nested_tuples(p_setting),
                repetition_rate_hz=self.channel.repetition_rate_hz, distance_km=self.distance_km,
                origin="qkdlab.live.SimulatedLink"))
        self.blocks_sent += 1
        self.transmitter.advance(self.block_emissions / self.channel.repetition_rate_hz)
        return tuple(block)

    def blocks(self, count: int | None = None) -> Iterator[Block]:
        sent = 0
        while count is None or sent < count:
            yield self.next_block()
            sent += 1
