"""Key-rate solvers and the channel simulation that feeds them.

``key_rate(source, observations_or_channel, method, finite)`` is the entry point; see
:mod:`qkdlab.analysis.keyrate` and docs/keyrate-derivation.md for the equations. Names are
imported lazily, so light submodules (e.g. ``analysis.mdi.phase_profile``, used by the simulator)
do not pull in the solvers.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {"Channel": "channel", "METHODS": "keyrate", "FiniteKey": "keyrate", "KeyRateCurve": "keyrate",
            "binary_entropy": "keyrate", "key_rate": "keyrate", "plob_bound": "keyrate", "AnalysisSource": "source",
            "StateSet": "states"}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
