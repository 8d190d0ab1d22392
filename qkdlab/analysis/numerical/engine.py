"""The two-step engine: reductions → step 1 (QICS primal) → step 2 (certified dual bound).

:func:`solve` returns a :class:`NumericalResult` with the step-1 value f(ρ₁) at QICS's point, the
certified bound β ≤ α, their gap, the certificate's status and the key rate built only from the
certified bound: K = max(β, 0) − leak, clipped at 0 (``key_rate_unclipped`` keeps the sign). A
certificate that could not be built leaves β = 0 (D ≥ 0 always holds: pinching does not decrease
entropy), never the uncertified step-1 value; ``reason`` says why.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .problem import NumericalProblem
from .reductions import facial_reduction, orthonormalise
from .step1 import solve_primal
from .step2 import certify

__all__ = ["NumericalResult", "solve"]

#: A step-1 point whose constraint residual exceeds this is not a near-feasible point.
_FEASIBILITY_TOL = 1e-6


@dataclass(frozen=True)
class NumericalResult:
    """Step-1 value, certified bound (bits per round), gap, status and the key rate.

    ``status``: "certified" (gap ≤ ``gap_tolerance``), "certified-loose" (valid bound, larger gap),
    "uncertified" (no bound better than 0 could be certified; the rate uses β = 0)."""

    step1_value: float
    certified_bound: float
    gap: float
    status: str
    leakage: float
    key_rate: float
    key_rate_unclipped: float
    reason: str = ""
    rho: tuple[np.ndarray, ...] = field(default=(), repr=False)
    multipliers: np.ndarray | None = field(default=None, repr=False)
    step1_status: str = ""
    iterations: int = 0
    seconds_step1: float = 0.0
    seconds_step2: float = 0.0
    perturbation: float = 0.0
    assumptions: tuple[str, ...] = ()

    @property
    def certified(self) -> bool:
        return self.status.startswith("certified")


def _residual(problem: NumericalProblem, rho: tuple[np.ndarray, ...]) -> float:
    worst = 0.0
    for c in problem.constraints:
        v = sum(float(np.real(np.vdot(op, r))) for op, r in zip(c.operator, rho, strict=True) if op is not None)
        worst = max(worst, c.lower - v, v - c.upper)
    return worst


def solve(problem: NumericalProblem, *, tolerance: float = 1e-12, gap_tolerance: float = 1e-8,
          warm_start: NumericalResult | None = None) -> NumericalResult:
    """Certified lower bound on α (bits) and the key rate of ``problem``.

    ``warm_start``: a previous result on a problem with the same constraint *operators* (e.g. the
    same receiver at another transmission: the orthonormalised basis depends on the operators
    only, not on the observed values); its multipliers are tried as a certificate. Any multipliers
    give a valid bound, so a warm start from an unrelated problem costs one eigenvalue evaluation."""
    reduced, _, _ = facial_reduction(problem)
    reduced = orthonormalise(reduced)
    t0 = time.perf_counter()
    try:
        primal = solve_primal(reduced, tolerance=tolerance)
    except (np.linalg.LinAlgError, ValueError, ArithmeticError) as exc:  # QICS breaking down on a bad point
        return NumericalResult(step1_value=math.nan, certified_bound=0.0, gap=math.inf, status="uncertified",
                               leakage=problem.leakage, key_rate=0.0, key_rate_unclipped=-problem.leakage,
                               reason=f"step 1 (QICS) failed: {type(exc).__name__}: {exc}; key rate uses the "
                                      "trivial bound 0", assumptions=problem.assumptions)
    t1 = time.perf_counter()
    candidates = [primal.multipliers]
    if warm_start is not None and warm_start.multipliers is not None:
        candidates.append(warm_start.multipliers)
    residual = _residual(reduced, primal.rho)
    cert, lin = certify(reduced, primal.rho, candidates, target_gap=gap_tolerance)
    t2 = time.perf_counter()
    step1 = lin.value_bits
    gap = step1 - cert.bound_bits
    reason = ""
    if residual > _FEASIBILITY_TOL:
        status = "uncertified"
        reason = (f"step 1 found no feasible state (constraint residual {residual:.1e}, QICS: {primal.status}); "
                  "the statistics may be inconsistent")
        bound = 0.0
    elif cert.bound_bits <= 0.0 and step1 > gap_tolerance:
        status, bound = "uncertified", 0.0
        reason = f"no dual certificate above 0 (step 1 {step1:.3e}); key rate uses the trivial bound 0"
    else:
        bound = max(cert.bound_bits, 0.0)
        status = "certified" if gap <= gap_tolerance else "certified-loose"
        if status == "certified-loose":
            reason = f"certified bound is {gap:.1e} below the step-1 value (QICS: {primal.status})"
    unclipped = bound - problem.leakage
    return NumericalResult(step1_value=step1, certified_bound=bound, gap=gap if math.isfinite(gap) else math.inf,
                           status=status, leakage=problem.leakage, key_rate=max(unclipped, 0.0),
                           key_rate_unclipped=unclipped, reason=reason, rho=primal.rho,
                           multipliers=cert.multipliers, step1_status=primal.status, iterations=primal.iterations,
                           seconds_step1=t1 - t0, seconds_step2=t2 - t1, perturbation=lin.perturbation,
                           assumptions=problem.assumptions)
