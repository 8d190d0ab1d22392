"""The solver core (qkdlab.analysis.solve): order, retries, certificates, the record, the fallback.

The test problem is the largest eigenvalue of a random Hermitian A, max tr(A X) over density
matrices X, whose value is known by brute force (numpy's eigvalsh). Its certificate: for the
multiplier t of tr X = 1, tr(A X) = t + tr((A − t I) X) ≤ t + λ_max(A − t I) for every feasible X, a
rigorous upper bound from any t, however inaccurate.
"""

from __future__ import annotations

import math

import cvxpy as cp
import numpy as np
import pytest

from qkdlab.analysis.solve import CertifiedValue, SolverSpec, solve
from qkdlab.model import SolverReport


def _problem(seed: int = 3, dim: int = 4) -> tuple[cp.Problem, np.ndarray, cp.Constraint]:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(dim, dim)) + 1j * rng.normal(size=(dim, dim))
    a = (a + a.conj().T) / 2
    x = cp.Variable((dim, dim), hermitian=True)
    trace = cp.real(cp.trace(x)) == 1
    return cp.Problem(cp.Maximize(cp.real(cp.trace(a @ x))), [x >> 0, trace]), a, trace


def _certificate(a: np.ndarray, trace: cp.Constraint, loosen: list[float] | None = None):
    """t + λ_max(A − tI) from the solver's multiplier t (``loosen``: offsets added to t, one per call)."""
    def certify(problem: cp.Problem) -> CertifiedValue | None:
        if trace.dual_value is None:
            return None
        t = float(np.real(trace.dual_value)) + (loosen.pop(0) if loosen else 0.0)
        bound = t + max(0.0, float(np.linalg.eigvalsh(a - t * np.eye(len(a))).max()))
        return CertifiedValue(bound, float(problem.value))
    return certify


def test_the_first_solver_that_certifies_gives_the_value_and_the_report_records_it() -> None:
    problem, a, trace = _problem()
    truth = float(np.linalg.eigvalsh(a).max())
    solution = solve(problem, (SolverSpec("CLARABEL"), SolverSpec("SCS")), _certificate(a, trace), conservative=1e9)
    assert truth - 1e-12 <= solution.value <= truth + 1e-6            # a bound, and a tight one
    report = solution.report
    assert isinstance(report, SolverReport) and report.certified and not report.conservative
    assert report.solver == "CLARABEL" and report.status == cp.OPTIMAL and report.attempts == ("CLARABEL",)
    assert len(report.runs) == 1 and report.runs[0].seconds > 0 and report.seconds == report.runs[0].seconds
    assert report.runs[0].bound == solution.value and abs(report.gap) <= 1e-6


def test_a_failing_solver_falls_back_to_the_next_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    problem, a, trace = _problem()
    original = cp.Problem.solve

    def broken_clarabel(self, *args, **kwargs):
        if kwargs.get("solver") == "CLARABEL":
            raise cp.error.SolverError("mock breakdown")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cp.Problem, "solve", broken_clarabel)
    solution = solve(problem, (SolverSpec("CLARABEL"), SolverSpec("SCS", {"eps_abs": 1e-9, "eps_rel": 1e-9})),
                     _certificate(a, trace), conservative=1e9)
    truth = float(np.linalg.eigvalsh(a).max())
    assert solution.report.solver == "SCS" and solution.value >= truth - 1e-12 and not solution.conservative
    assert solution.report.attempts == ("CLARABEL", "SCS(eps_abs=1e-09, eps_rel=1e-09)")
    assert solution.report.runs[0].error == "mock breakdown" and solution.report.runs[0].status == "failed"
    assert "CLARABEL: mock breakdown" in solution.report.message


def test_an_inaccurate_result_is_retried_and_the_best_certificate_kept() -> None:
    problem, a, trace = _problem()
    truth = float(np.linalg.eigvalsh(a).max())
    # run 1: a loose multiplier (gap 0.5 > tolerance) → retried; run 2 is tight and ends the search
    certify = _certificate(a, trace, loosen=[0.5, 0.0, 0.0])
    solution = solve(problem, (SolverSpec("CLARABEL"), SolverSpec("CLARABEL", {"max_step_fraction": 0.9}),
                               SolverSpec("SCS")), certify, conservative=1e9, gap_tolerance=1e-6)
    runs = solution.report.runs
    assert len(runs) == 2 and runs[0].gap == pytest.approx(0.5, abs=1e-6) and runs[1].gap <= 1e-6
    assert solution.value == runs[1].bound and truth - 1e-12 <= solution.value <= truth + 1e-6
    # a later, worse run never replaces a better one
    certify = _certificate(a, trace, loosen=[0.2, 0.4])
    solution = solve(problem, (SolverSpec("CLARABEL"), SolverSpec("CLARABEL")), certify, conservative=1e9,
                     gap_tolerance=1e-6)
    assert solution.value == solution.report.runs[0].bound < solution.report.runs[1].bound


def test_a_truly_inaccurate_solver_run_falls_back() -> None:
    problem, a, trace = _problem(seed=5, dim=6)
    truth = float(np.linalg.eigvalsh(a).max())
    solution = solve(problem, (SolverSpec("SCS", {"max_iters": 2}), SolverSpec("CLARABEL")),
                     _certificate(a, trace), conservative=1e9, gap_tolerance=1e-7)
    assert solution.report.attempts == ("SCS(max_iters=2)", "CLARABEL")
    assert truth - 1e-12 <= solution.value <= truth + 1e-6


@pytest.mark.parametrize("failure", ["status", "no certificate", "nan"])
def test_nothing_certified_gives_the_conservative_value_flagged(monkeypatch: pytest.MonkeyPatch, failure: str) -> None:
    problem, a, trace = _problem()
    if failure == "status":
        monkeypatch.setattr(cp.Problem, "solve", lambda self, *args, **kwargs: setattr(self, "_status", cp.INFEASIBLE))
        certify = _certificate(a, trace)
    else:
        certify = (lambda _: None) if failure == "no certificate" else (lambda _: CertifiedValue(math.nan, 0.0))
    specs = (SolverSpec("CLARABEL"), SolverSpec("SCS"))
    solution = solve(problem, specs, certify, conservative=123.0)
    report = solution.report
    assert solution.value == 123.0 and solution.certificate is None and solution.conservative
    assert report.attempts == ("CLARABEL", "SCS") and all(r.error for r in report.runs)
    expected = {"status": "status infeasible", "no certificate": "no certificate", "nan": "certificate is nan"}
    assert "conservative value 123" in report.message and expected[failure] in report.message


def test_lower_bounds_keep_the_largest_certificate() -> None:
    problem, a, trace = _problem()
    # a lower bound on the maximum: any feasible X, here the solver's primal point made exactly feasible
    x = problem.variables()[0]

    def certify(solved: cp.Problem) -> CertifiedValue | None:
        values, vectors = np.linalg.eigh((x.value + x.value.conj().T) / 2)
        rho = (vectors * np.clip(values, 0, None)) @ vectors.conj().T
        rho /= np.trace(rho).real
        return CertifiedValue(float(np.real(np.trace(a @ rho))), float(solved.value))

    solution = solve(problem, (SolverSpec("CLARABEL"),), certify, conservative=-1e9, bound="lower",
                     gap_tolerance=1e-6)
    truth = float(np.linalg.eigvalsh(a).max())
    assert truth - 1e-6 <= solution.value <= truth + 1e-12


def test_bad_arguments_are_named() -> None:
    problem, a, trace = _problem()
    with pytest.raises(ValueError, match="solver list is empty"):
        solve(problem, (), _certificate(a, trace), conservative=0.0)
    with pytest.raises(ValueError, match="'upper' or 'lower'"):
        solve(problem, (SolverSpec("CLARABEL"),), _certificate(a, trace), conservative=0.0,
              bound="both")  # type: ignore[arg-type]


def test_the_report_survives_json_even_when_nothing_certified() -> None:
    problem, a, trace = _problem()
    for certify in (_certificate(a, trace), lambda _: None):
        report = solve(problem, (SolverSpec("CLARABEL"),), certify, conservative=0.5).report
        assert SolverReport.model_validate_json(report.model_dump_json()) == report
