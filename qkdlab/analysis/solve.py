"""The solver core: run one cvxpy problem through an ordered list of solvers and certify the result.

Every conic problem of qkdlab whose value becomes a security bound (the state-overlap SDP,
:mod:`.overlap_sdp`; the MDI Gram-matrix SDP, :mod:`.mdi.gram_sdp`; the numerical key-rate engine's
dual SDP) is solved here, so that the order of solvers, the retries, the record of what happened
and the fallback are the same everywhere. The core knows no physics:

    solution = solve(problem, solvers, certify, conservative=0.5, bound="upper", gap_tolerance=1e-5)

- ``problem``: a built :class:`cvxpy.Problem` (build it once, with ``Parameter``s for the data, and
  call ``solve`` per data point: cvxpy then compiles it once and only re-applies the parameters).
- ``solvers``: an ordered tuple of :class:`SolverSpec` (a cvxpy solver name and its options). A
  *retry* is another entry: the same solver with other settings, or another solver.
- ``certify(problem) -> CertifiedValue | None``: the caller's certificate, called after each run
  that ended ``optimal`` or ``optimal_inaccurate``. It must build a *rigorous* bound from the
  solver's output whatever its accuracy (typically: read the dual variables, repair them into an
  exactly dual-feasible point, evaluate weak duality), and return it with the solver's own
  objective value (for the gap), or None when the output admits no certificate. It may raise
  one of the solver-failure exceptions (:data:`FAILURES`) with the reason.
- ``bound``: "upper" if the certified value is an upper bound on the optimum (smaller is better),
  "lower" for a lower bound (larger is better).
- ``gap_tolerance``: the next entry is tried while the best certificate is farther than this from
  the solver's value (``None``: the first certificate is accepted). The best certified value of all
  runs is kept, so a later, worse run never costs anything.
- ``conservative``: the value returned, flagged, when no run certifies (e.g. e_ph = 1/2, the
  trivial overlap bound); the reasons of every run are in the report's message.

The :class:`Solution` carries the value and a :class:`qkdlab.model.SolverReport` with the chosen
solver, its status, the gap, the attempts in order and per run the status, time and bound. A
caller that clips its value (e.g. e_ph ≤ 1/2) should clip both numbers of its CertifiedValue: a run
whose bound and solver value both lie beyond the clip then has gap 0 and ends the search, since no
other solver can give a smaller reported value. See docs/solver-core.md.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import cvxpy as cp
import numpy as np

from ..model import SolverAttempt, SolverReport

__all__ = ["FAILURES", "CertifiedValue", "Solution", "SolverSpec", "solve"]

log = logging.getLogger(__name__)

#: What a solver run or a certificate may raise when the numbers are unusable: the next entry is tried.
#: (Modelling errors, e.g. cvxpy's DCPError, are programming errors and propagate.)
FAILURES = (cp.error.SolverError, RuntimeError, ValueError, ArithmeticError, np.linalg.LinAlgError)
#: Statuses whose output is handed to the certificate (an inaccurate point can still certify).
USABLE = (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)


@dataclass(frozen=True)
class SolverSpec:
    """One entry of a solver list: a cvxpy solver name and the keyword options of ``Problem.solve``."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """E.g. ``CLARABEL`` or ``CLARABEL(equilibrate_enable=False)``, as recorded in reports."""
        if not self.options:
            return self.name
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self.options.items())})"


@dataclass(frozen=True)
class CertifiedValue:
    """A rigorous bound built by the caller's certificate, and the solver's own objective value."""

    bound: float
    primal: float = math.nan


@dataclass(frozen=True)
class Solution:
    """``value``: the best certified bound, or the conservative value (``report.conservative``)."""

    value: float
    report: SolverReport
    certificate: CertifiedValue | None

    @property
    def conservative(self) -> bool:
        return self.report.conservative


def _gap(value: CertifiedValue, bound: str) -> float:
    """How much the certificate gives away against the solver's value (nan if it has none)."""
    if not math.isfinite(value.primal):
        return math.nan
    return value.bound - value.primal if bound == "upper" else value.primal - value.bound


def _describe(run: SolverAttempt) -> str:
    if run.error:
        return f"{run.solver}: {run.error}"
    return f"{run.solver}: bound {run.bound:.6g}, gap {math.nan if run.gap is None else run.gap:.1e}"


def _run(problem: cp.Problem, spec: SolverSpec, certify: Callable[[cp.Problem], CertifiedValue | None]
         ) -> CertifiedValue:
    """One solve and its certificate; raises one of FAILURES when nothing usable came out."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Solution may be inaccurate", category=UserWarning)
        problem.solve(solver=spec.name, **spec.options)
    if problem.status not in USABLE:
        raise RuntimeError(f"status {problem.status}")
    value = certify(problem)
    if value is None:
        raise RuntimeError(f"no certificate ({problem.status})")
    if not math.isfinite(value.bound):
        raise RuntimeError(f"certificate is {value.bound} ({problem.status})")
    return value


def solve(problem: cp.Problem, solvers: Sequence[SolverSpec],
          certify: Callable[[cp.Problem], CertifiedValue | None], conservative: float, *,
          bound: Literal["upper", "lower"] = "upper", gap_tolerance: float | None = None) -> Solution:
    """Solve ``problem`` with each of ``solvers`` in order until one certifies (module docstring)."""
    if bound not in ("upper", "lower"):
        raise ValueError(f"bound {bound!r} must be 'upper' or 'lower'")
    if not solvers:
        raise ValueError("the solver list is empty: give at least one SolverSpec")
    better = (lambda a, b: a < b) if bound == "upper" else (lambda a, b: a > b)
    runs: list[SolverAttempt] = []
    best: tuple[CertifiedValue, SolverSpec, str] | None = None
    for spec in solvers:
        start = time.perf_counter()
        try:
            value = _run(problem, spec, certify)
        except FAILURES as exc:
            runs.append(SolverAttempt(solver=spec.label, status="failed", seconds=time.perf_counter() - start,
                                      error=str(exc) or type(exc).__name__))
            log.info("%s failed (%s); trying the next solver", spec.label, exc)
            continue
        gap = _gap(value, bound)
        runs.append(SolverAttempt(solver=spec.label, status=problem.status, seconds=time.perf_counter() - start,
                                  bound=value.bound, gap=None if math.isnan(gap) else gap))
        if best is None or better(value.bound, best[0].bound):
            best = (value, spec, problem.status)
        if gap_tolerance is None or gap <= gap_tolerance:
            break
    attempts = tuple(r.solver for r in runs)
    seconds = sum(r.seconds for r in runs)
    failures = "; ".join(f"{r.solver}: {r.error}" for r in runs if r.error)
    if best is None:
        log.warning("no solver certified the bound; using the conservative value %g: %s", conservative, failures)
        report = SolverReport(solver="none", status="failed", certified=True, conservative=True,
                              attempts=attempts, runs=tuple(runs), seconds=seconds,
                              message=f"no solver certified a bound, used the conservative value {conservative:g}: "
                                      + failures)
        return Solution(conservative, report, None)
    value, spec, status = best
    gap = _gap(value, bound)
    message = f"certified by {spec.label} ({status}), gap {gap:.1e}"
    if len(runs) > 1:
        message += "; attempts: " + "; ".join(_describe(r) for r in runs)
    report = SolverReport(solver=spec.name, status=status, certified=True, gap=gap, attempts=attempts,
                          runs=tuple(runs), seconds=seconds, message=message)
    return Solution(value.bound, report, value)
