"""Example sources for the docs, the tests and design studies (not calibrated from any bench).

``flawed_source_model`` is the papers' qubit-flaw family with one ε part: the source of
[F]'s figures (Currás-Lorenzo et al., the imperfect-sources framework) and of the README's
examples. A model calibrated from a bench comes from :mod:`qkdlab.calibration` instead.
"""

from __future__ import annotations

import math

from .model import Bound, Correlations, EpsilonBudget, EpsilonPart, QubitState, SourceModel
from .transmitter import NOMINAL_PHASES, PROTOCOL_SETTINGS

__all__ = ["flawed_source_model"]


def flawed_source_model(protocol: str = "bb84", delta: float = 0.063, epsilon: float = 1e-6, *,
                        phase_halfwidth: float = 0.0, correlation_length: int = 0) -> SourceModel:
    """A ``SourceModel`` of the papers' flaw family θ_j = (1 + δ/π) φ_j/2 with one ε part (for tests and examples).

    ``phase_halfwidth``: the interval half-width of every phase but the reference setting's;
    ``correlation_length``: l_c of a pulse-correlation record (its ε is in ``epsilon``).
    """
    states = []
    for label in PROTOCOL_SETTINGS[protocol]:
        phase = (1 + delta / math.pi) * NOMINAL_PHASES[label]
        width = phase_halfwidth if label != "Z0" else 0.0
        states.append(QubitState(label=label, nominal_phase=NOMINAL_PHASES[label],
                                 phase=Bound(value=phase, lower=phase - width, upper=phase + width, unit="rad")))
    part = EpsilonPart(name="trojan_horse", upper=epsilon, degree_of_freedom="own-mode", inventory="measured")
    correlations = None
    if correlation_length:
        correlations = Correlations(length=correlation_length, epsilon_per_lag=(0.0,) * correlation_length,
                                    phase_deviation_per_lag=(), intensity_deviation=(), resolution=1e-4)
    return SourceModel(protocol=protocol, states=tuple(states), epsilon=EpsilonBudget.combine([part]),  # type: ignore
                       correlations=correlations, confidence=0.99, total_failure_probability=0.01)
