"""Key-rate solvers and the channel simulation that feeds them.

``key_rate(source, observations_or_channel, method, finite)`` is the entry point; see
:mod:`qkdlab.analysis.keyrate` and docs/keyrate-derivation.md for the equations. The analysis
imports only the contracts (:mod:`qkdlab.model`), the transmitter facts and the ground floor.
"""

from .channel import Channel
from .keyrate import METHODS, FiniteKey, KeyRateCurve, binary_entropy, key_rate, plob_bound
from .source import AnalysisSource
from .states import StateSet

__all__ = ["Channel", "METHODS", "FiniteKey", "KeyRateCurve", "binary_entropy", "key_rate", "plob_bound",
           "AnalysisSource", "StateSet"]
