"""The parameters of one sweep point, and how they become the analysis's inputs.

A point is a flat mapping ``name -> value`` in the vocabulary of ``qkdlab keyrate`` (snake_case
of its options): the source (``delta``, ``epsilon``, ``correlations`` or a SourceModel), the
link (``distance``, ``fiber_loss``, ``detector_efficiency``, ...), the protocol's free
parameters (``signal``, ``decoy``, ``p_signal``, ``p_decoy``, ``basis_prob``) and the finite-key
block (``finite``, ``eps_sec``, ``eps_cor``, ``concentration``). Keeping one vocabulary means
any of them can be fixed, swept (an axis) or optimised, and a study reads like the commands
that reproduce one of its curves.

Any further keyword argument that :func:`qkdlab.analysis.key_rate` accepts (for instance the
options of a numerical engine) is passed through unchanged: the set is read from its signature
at run time, so new analysis options need no change here.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = ["DEFAULTS", "PROTOCOLS", "OPTIMISABLE", "known_parameters", "known_methods", "PointInputs",
           "point_inputs"]

#: Prepare-and-measure protocols the sweep evaluates with :func:`qkdlab.analysis.key_rate`.
PROTOCOLS = ("bb84", "three-state")

#: Defaults: the framework paper's link (as ``qkdlab keyrate``), single photons unless ``signal`` is given.
DEFAULTS: dict[str, Any] = {
    "method": "ltqc", "delta": 0.0, "epsilon": 0.0, "correlations": (), "distance": 0.0, "finite": None,
    "eps_sec": 1e-10, "eps_cor": 1e-10, "concentration": "chernoff", "fiber_loss": 0.2,
    "detector_efficiency": 0.73, "dark_count_prob": 1e-8, "ec_efficiency": 1.16, "rep_rate": 2.5e9,
    "basis_prob": 0.5, "misalignment": 0.0, "signal": None, "decoy": 0.1, "p_signal": 0.8, "p_decoy": 0.1,
}

#: Parameters that only choose how the protocol is run (never what the data or the source are):
#: choosing them per point keeps every reported rate a secure lower bound.
OPTIMISABLE = ("signal", "decoy", "p_signal", "p_decoy", "basis_prob")

#: Parameters describing the source; they cannot be given together with a SourceModel.
SOURCE_PARAMETERS = ("delta", "epsilon", "correlations")

#: key_rate's own arguments, set from the parameters above rather than passed through.
_CONSUMED = {"source", "data", "method", "finite", "distance_km", "ec_efficiency"}


@lru_cache(maxsize=1)
def _key_rate_options() -> frozenset[str]:
    """Read once per process: ``inspect.signature`` costs about a tenth of a cheap point."""
    from ..analysis.keyrate import key_rate

    return frozenset(name for name in inspect.signature(key_rate).parameters if name not in _CONSUMED)


def known_parameters() -> set[str]:
    """Every parameter name a spec may fix, sweep or optimise (read from the analysis at run time)."""
    return set(DEFAULTS) | _key_rate_options()


def known_methods() -> tuple[str, ...]:
    """The key-rate methods the installed analysis offers."""
    from ..analysis.keyrate import METHODS

    return tuple(METHODS)


@dataclass(frozen=True)
class PointInputs:
    """What :func:`qkdlab.analysis.key_rate` needs for one point."""

    source: Any
    channel: Any
    method: str
    finite: Any
    distance_km: float
    options: dict[str, Any]


@lru_cache(maxsize=64)
def _flawed_source(protocol: str, delta: float, epsilon: float, correlations: tuple[float, ...]) -> Any:
    """Sources are shared by many points (the overlap SDP of a source is cached inside it)."""
    from ..analysis import AnalysisSource

    return AnalysisSource.flawed(protocol, delta, epsilon, correlation_epsilons=correlations)


@lru_cache(maxsize=8)
def _model_source(model_json: str) -> Any:
    from ..analysis import AnalysisSource
    from ..model import SourceModel

    return AnalysisSource.from_model(SourceModel.from_json(model_json, "<sweep spec model>"))


def point_inputs(protocol: str, values: dict[str, Any], model_json: str | None = None) -> PointInputs:
    """Build the analysis inputs of one point; a ``ValueError`` names the offending parameter value."""
    from ..analysis import Channel, FiniteKey

    p = {**DEFAULTS, **values}
    if model_json is not None:
        source = _model_source(model_json)
    else:
        source = _flawed_source(protocol, float(p["delta"]), float(p["epsilon"]),
                                tuple(float(e) for e in p["correlations"]))
    signal = p["signal"]
    if signal is not None:
        intensities = (float(signal), float(p["decoy"]), 0.0)
        vacuum = 1.0 - float(p["p_signal"]) - float(p["p_decoy"])
        if not (p["p_signal"] > 0 and p["p_decoy"] > 0 and vacuum > 0):
            raise ValueError(f"p_signal = {p['p_signal']} and p_decoy = {p['p_decoy']} must be positive with a sum "
                             "below 1 (the vacuum decoy takes the rest)")
        probabilities = (float(p["p_signal"]), float(p["p_decoy"]), vacuum)
        if not 0.0 < intensities[1] < intensities[0]:
            raise ValueError(f"decoy = {intensities[1]} must lie between 0 and signal = {intensities[0]}")
    else:
        intensities, probabilities = (1.0,), (1.0,)
    channel = Channel(fiber_loss_db_per_km=float(p["fiber_loss"]), detector_efficiency=float(p["detector_efficiency"]),
                      dark_count_probability=float(p["dark_count_prob"]), ec_efficiency=float(p["ec_efficiency"]),
                      repetition_rate_hz=float(p["rep_rate"]), alice_z_probability=float(p["basis_prob"]),
                      bob_z_probability=float(p["basis_prob"]), misalignment=float(p["misalignment"]),
                      source="single-photon" if signal is None else "weak-coherent", intensities=intensities,
                      intensity_probabilities=probabilities)
    finite = None if p["finite"] is None else FiniteKey(float(p["finite"]), float(p["eps_sec"]), float(p["eps_cor"]),
                                                       str(p["concentration"]))
    distance = float(p["distance"])
    if not (math.isfinite(distance) and distance >= 0):
        raise ValueError(f"distance = {distance} km must be a non-negative number")
    method = str(p["method"])
    if method not in known_methods():
        raise ValueError(f"method {method!r} is not one the analysis offers ({', '.join(known_methods())})")
    options = {name: values[name] for name in _key_rate_options() if name in values}
    return PointInputs(source, channel, method, finite, distance, options)
