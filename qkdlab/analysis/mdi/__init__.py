"""MDI-QKD with source side channels (Bourassa et al., PRA 106, 062618 (2022)).

``mdi_key_rate(MdiSource(...), MdiSetup(...), distance_km, decoys=...)`` is the entry point; the
parts (detection simulation, decoy LPs, leakage models, the certified Gram-matrix SDP, Eq. (A6))
are in the submodules. Names are imported lazily (the simulator uses ``phase_profile`` alone).
"""

from importlib import import_module
from typing import Any

_EXPORTS = {"BB84_STATES": "detection", "THREE_STATES": "detection", "OUTCOMES": "detection",
            "MdiSetup": "detection", "GramPhaseErrorBound": "gram_sdp", "GramPhaseErrorSDP": "gram_sdp",
            "PhaseErrorResult": "gram_sdp", "CoherentLeakage": "leakage_models",
            "FullInformationLeakage": "leakage_models", "TimeDependentLeakage": "leakage_models",
            "signal_gram": "leakage_models", "PhaseProfile": "phase_profile",
            "leakage_phase_fraction": "phase_profile", "MDI_PROTOCOLS": "rates", "MdiSource": "rates",
            "mdi_key_rate": "rates", "DetectionBounds": "types"}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
