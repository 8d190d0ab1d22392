"""Certified numerical key rates: a protocol as data, solved in two steps.

``NumericalProblem`` (blocks with the post-selection Kraus operators and key-map projectors,
constraints as equalities or intervals, the error-correction leakage) is built by a protocol
module; :func:`solve` returns a :class:`NumericalResult` with the step-1 value, the certified
bound, the gap and the key rate. See docs/numerical-derivation.md.
"""

from .engine import NumericalResult, solve
from .problem import Block, Constraint, NumericalProblem, ProblemError
from .reductions import (
           InconsistentStatisticsError,
           facial_reduction,
           merge_blocks,
           orthonormalise,
)

__all__ = ["Block", "Constraint", "InconsistentStatisticsError", "NumericalProblem", "NumericalResult",
           "ProblemError", "facial_reduction", "merge_blocks", "orthonormalise", "solve"]
