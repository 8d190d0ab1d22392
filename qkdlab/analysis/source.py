"""What the key-rate analysis needs from a SourceModel: states with intervals, ε, correlation length.

Interval inputs (issue 5, made rigorous in issue 15): calibration gives each setting's encoded
phase as an interval. The analysis never uses the centre value alone, and never samples the box:
the loss-tolerant method (ε = 0, real qubit states) maximises its bound over the whole box
(phase_box.py: interval arithmetic with branch and bound, rigorous); every other method uses the
centre states φ_j and absorbs the whole box into ε. If the true qubit
state is within Bloch angle w_j of φ_j (state angle w_j/2) and the emitted state has fidelity
≥ 1 − ε with the true one, the Fubini-Study triangle inequality gives fidelity
≥ cos²(arcsin √ε + max_j w_j/2) with φ_j (framework paper, App. A.5, "the simplest way"). That
holds for every point of the box at once, so the bounds built on it (the coin methods, the
reference technique, and LT for complex states, which then becomes the loss-tolerant quantum
coin) hold over the whole box; docs/keyrate-derivation.md, Sec. 7.
(A sample of the box, such as its corners, is not a bound: interior points can be worse.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..model import SourceModel
from .states import NOMINAL_PHASES, PROTOCOL_SETTINGS, StateSet, flawed_phases

__all__ = ["AnalysisSource"]


@dataclass(frozen=True)
class AnalysisSource:
    """Characterized states (centre), per-setting phase half-widths (rad), ε, correlation length."""

    states: StateSet
    phase_halfwidths: tuple[float, ...]
    epsilon: float
    correlation_length: int = 0
    description: str = ""

    def __post_init__(self) -> None:
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"ε = {self.epsilon} must lie in [0, 1]")
        if len(self.phase_halfwidths) != len(self.states.labels):
            raise ValueError("one phase half-width per setting")

    @property
    def protocol(self) -> str:
        return self.states.protocol

    @classmethod
    def flawed(cls, protocol: str, delta: float = 0.0, epsilon: float = 0.0, *, delta_halfwidth: float = 0.0,
               correlation_length: int = 0, correlation_epsilons: tuple[float, ...] = ()) -> AnalysisSource:
        """The papers' qubit-flaw family θ_j = (1 + δ/π) φ_j/2 with a side-channel bound ε.

        ``correlation_epsilons``: ε_l of pulse correlations at lags l = 1..l_c (framework paper,
        App. A.3): ε_correl = 1 − Π_l (1 − ε_l) (Eq. A8) and the total is
        1 − (1 − ε)(1 − ε_correl) (Eq. A7), with l_c = len(correlation_epsilons).
        """
        if not -math.pi < delta < math.pi:  # calibration reports signed δ (the PM's Vπ may be over- or under-driven)
            raise ValueError(f"δ = {delta} must lie in (-π, π)")
        if any(not 0.0 <= e <= 1.0 for e in correlation_epsilons):
            raise ValueError(f"correlation ε_l {correlation_epsilons} must lie in [0, 1]")
        states = StateSet.from_phases(protocol, flawed_phases(protocol, delta))
        widths = tuple(delta_halfwidth * NOMINAL_PHASES[label] / math.pi for label in states.labels)
        correl = 1.0 - float(np.prod([1.0 - e for e in correlation_epsilons]))
        total = 1.0 - (1.0 - epsilon) * (1.0 - correl)
        length = max(correlation_length, len(correlation_epsilons))
        text = f"δ = {delta:g}, ε = {total:.3g}" + (f" (l_c = {length})" if length else "")
        return cls(states, widths, total, length, text)

    @classmethod
    def from_model(cls, model: SourceModel) -> AnalysisSource:
        labels = PROTOCOL_SETTINGS[model.protocol]
        by_label = {state.label: state for state in model.states}
        missing = [label for label in labels if label not in by_label]
        if missing:
            raise ValueError(f"the source model lacks the states {missing} of the {model.protocol} protocol")
        phases, widths = [], []
        for label in labels:
            bound = by_label[label].phase
            phases.append(bound.value)
            lower = bound.lower if bound.lower is not None else bound.value
            upper = bound.upper if bound.upper is not None else bound.value
            widths.append(max(bound.value - lower, upper - bound.value, 0.0))
        length = model.correlations.length if model.correlations is not None else 0
        return cls(StateSet.from_phases(model.protocol, tuple(phases)), tuple(widths), model.epsilon.total, length,
                   f"{model.protocol} source model, ε = {model.epsilon.total:.3g}")

    def effective_epsilon(self) -> float:
        """ε with the state uncertainty absorbed (module docstring)."""
        angle = math.asin(math.sqrt(self.epsilon)) + max(self.phase_halfwidths, default=0.0) / 2.0
        return math.sin(min(angle, math.pi / 2)) ** 2

    def ket_phases(self) -> dict[str, float] | None:
        """Phase p of each characterized ket cos(p/2)|0> + sin(p/2)|1> (None for states off the x-z circle)."""
        if any(abs(k[0].imag) > 1e-12 or abs(k[1].imag) > 1e-12 for k in self.states.kets):
            return None
        return {label: 2.0 * math.atan2(k[1].real, k[0].real) for label, k in zip(self.states.labels, self.states.kets)}

    @property
    def has_intervals(self) -> bool:
        """True when some characterized phase is an interval of non-zero width."""
        return any(w > 0 for w in self.phase_halfwidths)
