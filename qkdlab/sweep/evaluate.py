"""One sweep point: the secure key rate, or the best one over the protocol's free parameters.

Optimisation (``optimise:`` in the spec) chooses only how the protocol is run — intensities of
the signal and the weak decoy, their probabilities, the basis probability — before the
experiment, as a designer does. Every candidate is evaluated with the full security analysis of
:func:`qkdlab.analysis.key_rate`, and the reported value is that analysis at the chosen
parameters, so it stays a secure lower bound whatever the optimiser does; a poor optimum only
costs key, never security.

The search maximises log R (the rate spans orders of magnitude over a sweep) on the unit cube of
the bounds: the start values (the spec's defaults) and ``starts`` points of a scrambled Halton
sequence seeded by ``seed`` (the same for every point, so a point's optimum does not depend on
which worker or chunk computed it), then Powell's derivative-free method (the rate is only
piecewise smooth: the decoy bounds and the clipping at 0 have kinks) from the best of them.
Where a candidate has no key its score is a constant plus its phase- and bit-error bounds, which
still fall towards the region with key (near the cut-off no start may have any). Candidates
outside the protocol's domain (decoy ≥ signal, probabilities summing past 1) score worst.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.stats import qmc

from ..errors import QkdlabError
from .parameters import DEFAULTS, point_inputs
from .spec import Optimise, SweepSpec

__all__ = ["QUANTITIES", "PointResult", "evaluate_point", "evaluate_chunk", "evaluate_timed"]

#: Numeric results per point: (name, units, long name).
QUANTITIES = (
    ("key_rate_per_pulse", "bit/pulse", "secure key rate per emitted pulse (lower bound)"),
    ("key_rate_bps", "bit/s", "secure key rate per second (lower bound)"),
    ("phase_error", "", "upper bound on the phase-error rate of the key rounds"),
    ("bit_error", "", "key-basis bit-error rate"),
    ("key_detection_rate", "1/pulse", "key-round detections per pulse"),
    ("epsilon_used", "", "side-channel bound ε used by the method"),
    ("solver_gap", "", "gap between the certified bound and the best primal value"),
)

#: The name under which the optimiser is recorded in the study file.
OPTIMISER = "halton starts + Powell (scipy.optimize.minimize), maximising log R"

_NO_KEY = 1e3  # -log R stand-in for candidates without key (R = 0 or outside the domain)


@dataclass
class PointResult:
    """Everything the study file keeps about one point."""

    index: int
    ok: bool
    reason: str = ""
    values: dict[str, float] = field(default_factory=dict)
    solver: str = ""
    method_used: str = ""
    certified: bool = False
    conservative: bool = False
    optimum: dict[str, float] = field(default_factory=dict)
    start_rate: float = math.nan
    iterations: int = 0
    evaluations: int = 0
    converged: bool = False


def _record(index: int, result: Any) -> PointResult:
    report = result.solver
    return PointResult(index, True, values={
        "key_rate_per_pulse": result.key_rate_per_pulse, "key_rate_bps": result.key_rate_bps,
        "phase_error": result.phase_error, "bit_error": result.bit_error,
        "key_detection_rate": result.key_detection_rate, "epsilon_used": result.epsilon, "solver_gap": report.gap},
        solver=f"{report.solver}: {report.status}" + (f" ({report.message})" if report.message else ""),
        method_used=str(result.parameters.get("winner", result.method)),
        certified=bool(report.certified and not report.conservative), conservative=bool(report.conservative))


def _rate(protocol: str, values: dict[str, Any], model_json: str | None) -> Any:
    from ..analysis.keyrate import key_rate

    inputs = point_inputs(protocol, values, model_json)
    return key_rate(inputs.source, inputs.channel, inputs.method, inputs.finite, distance_km=inputs.distance_km,
                    ec_efficiency=inputs.channel.ec_efficiency, **inputs.options)


def _start(name: str, bounds: tuple[float, float], values: dict[str, Any]) -> float:
    low, high = bounds
    given = values.get(name, DEFAULTS[name])
    if given is None:
        return math.sqrt(low * high) if low > 0 else (low + high) / 2
    return float(min(max(given, low), high))


def _optimise(spec: SweepSpec, index: int, values: dict[str, Any], optimise: Optimise) -> PointResult:
    names = list(optimise.parameters)
    low = np.array([optimise.parameters[n][0] for n in names])
    span = np.array([optimise.parameters[n][1] for n in names]) - low
    seen: dict[tuple[float, ...], tuple[float, Any]] = {}

    def objective(x: np.ndarray) -> float:
        x = np.clip(np.asarray(x, float), 0.0, 1.0)
        key = tuple(x.tolist())
        if key not in seen:
            candidate = {**values, **{n: float(v) for n, v in zip(names, low + span * x)}}
            try:
                result = _rate(spec.protocol, candidate, spec.model_json)
            except (ValueError, QkdlabError):   # outside the protocol's domain, or no bound at all: no key
                result = None
            if result is None:
                score = 2 * _NO_KEY
            elif result.key_rate_per_pulse > 0:
                score = -math.log(result.key_rate_per_pulse)
            else:   # no key yet: lower error-rate bounds lead towards the region with key
                score = _NO_KEY + result.phase_error + result.bit_error
            seen[key] = (score, result)
        return seen[key][0]

    x0 = np.array([(_start(n, optimise.parameters[n], values) - lo) / s for n, lo, s in zip(names, low, span)])
    candidates = [x0]
    if optimise.starts:
        candidates += list(qmc.Halton(len(names), seed=optimise.seed).random(optimise.starts))
    best = int(np.argmin([objective(x) for x in candidates]))
    start_result = seen[tuple(np.clip(x0, 0, 1).tolist())][1]
    found = minimize(objective, candidates[best], method="Powell", bounds=[(0.0, 1.0)] * len(names),
                     options={"maxiter": optimise.max_iterations, "xtol": 1e-4, "ftol": 1e-6})
    x_best = min(seen, key=lambda k: seen[k][0])
    result = seen[x_best][1]
    if result is None:
        raise ValueError("no candidate parameters within the optimisation bounds are valid for this protocol")
    point = _record(index, result)
    point.optimum = {n: float(v) for n, v in zip(names, low + span * np.array(x_best))}
    point.start_rate = start_result.key_rate_per_pulse if start_result is not None else math.nan
    point.iterations, point.evaluations, point.converged = int(found.nit), len(seen), bool(found.success)
    return point


def evaluate_point(spec: SweepSpec, index: int) -> PointResult:
    """The point at flat grid ``index``; any failure is recorded with its reason instead of raised."""
    values = spec.flat_point(index)
    try:
        if spec.optimise is not None:
            return _optimise(spec, index, values, spec.optimise)
        return _record(index, _rate(spec.protocol, values, spec.model_json))
    except Exception as exc:  # one bad point must not stop a sweep: keep the reason, go on
        return PointResult(index, False, reason=f"{type(exc).__name__}: {exc}")


def evaluate_chunk(spec_json: str, indices: list[int]) -> list[PointResult]:
    """The points ``indices`` in order (the spec travels as its canonical JSON)."""
    return evaluate_timed(spec_json, indices)[0]


def evaluate_timed(spec_json: str, indices: list[int]) -> tuple[list[PointResult], list[float]]:
    """The points ``indices`` in order and the seconds each took (the runner sizes chunks from them)."""
    spec = _spec(spec_json)
    results, seconds = [], []
    for i in indices:
        start = time.perf_counter()
        results.append(evaluate_point(spec, i))
        seconds.append(time.perf_counter() - start)
    return results, seconds


_SPECS: dict[str, SweepSpec] = {}


def _spec(spec_json: str) -> SweepSpec:
    """Parse each spec once per worker process (validation builds inputs for every axis value)."""
    if spec_json not in _SPECS:
        from .spec import parse_spec

        _SPECS.clear()
        _SPECS[spec_json] = parse_spec(json.loads(spec_json), "<study spec>")
    return _SPECS[spec_json]
