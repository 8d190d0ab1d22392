"""MDI-QKD with source side channels (Bourassa et al., PRA 106, 062618 (2022)).

``mdi_key_rate(MdiSource(...), MdiSetup(...), distance_km, decoys=...)`` is the entry point; the
parts (detection simulation, decoy LPs, leakage models, the certified Gram-matrix SDP, Eq. (A6))
are in the submodules. The leakage-light phase profile of the PM geometry is a transmitter fact
(:mod:`qkdlab.transmitter.leakage_light`), re-exported here.
"""

from ...transmitter import PhaseProfile, leakage_phase_fraction
from .detection import BB84_STATES, OUTCOMES, THREE_STATES, MdiSetup
from .gram_sdp import GramPhaseErrorBound, GramPhaseErrorSDP, PhaseErrorResult
from .leakage_models import CoherentLeakage, FullInformationLeakage, TimeDependentLeakage, signal_gram
from .rates import MDI_PROTOCOLS, MdiSource, mdi_key_rate
from .types import DetectionBounds

__all__ = ["BB84_STATES", "THREE_STATES", "OUTCOMES", "MdiSetup", "GramPhaseErrorBound", "GramPhaseErrorSDP",
           "PhaseErrorResult", "CoherentLeakage", "FullInformationLeakage", "TimeDependentLeakage", "signal_gram",
           "PhaseProfile", "leakage_phase_fraction", "MDI_PROTOCOLS", "MdiSource", "mdi_key_rate",
           "DetectionBounds"]
