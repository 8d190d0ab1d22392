"""The numerical engine on problems with independent answers: qubit BB84 (1 − h(e), Shor-Preskill),
constructed feasible states (the bound can never exceed f there), and the reductions against the
unreduced problem."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qkdlab.analysis.numerical import (
    Block,
    Constraint,
    InconsistentStatisticsError,
    NumericalProblem,
    ProblemError,
    facial_reduction,
    merge_blocks,
    solve,
)
from qkdlab.analysis.numerical.objective import BlockObjective
from qkdlab.analysis.numerical.step2 import dual_bound, linearisation

Z = [np.diag([1.0, 0.0]), np.diag([0.0, 1.0])]
_P = np.array([1.0, 1.0]) / math.sqrt(2)
_M = np.array([1.0, -1.0]) / math.sqrt(2)
X = [np.outer(_P, _P), np.outer(_M, _M)]
KEY = (np.kron(Z[0], np.eye(2)), np.kron(Z[1], np.eye(2)))


def h(p: float) -> float:
    return 0.0 if p in (0.0, 1.0) else -p * math.log2(p) - (1 - p) * math.log2(1 - p)


def bb84_problem(rho: np.ndarray, *, bases=((Z, Z), (Z, X), (X, Z), (X, X)), kraus=np.eye(4), leak=0.0,
                 duplicate: bool = False) -> NumericalProblem:
    """Entanglement-based qubit BB84 with the statistics of ``rho``, key from Alice's Z outcome."""
    cons = []
    for ba, bb in bases:
        for i, ma in enumerate(ba):
            for j, mb in enumerate(bb):
                op = np.kron(ma, mb)
                cons.append(Constraint.equality([op], float(np.trace(op @ rho).real), f"p{i}{j}"))
    if duplicate:  # redundant copies, and Alice's marginal which the statistics already fix
        cons += cons[:3] + [Constraint.equality([np.kron(Z[0], np.eye(2))], float(np.trace(np.kron(Z[0], np.eye(2)) @ rho).real))]
    return NumericalProblem((Block(4, (kraus,), KEY),), tuple(cons), leak)


def werner(e: float) -> np.ndarray:
    phi = np.array([1.0, 0, 0, 1.0]) / math.sqrt(2)
    return (1 - 2 * e) * np.outer(phi, phi) + 2 * e * np.eye(4) / 4


def random_state(rng: np.random.Generator, d: int, rank: int | None = None, real: bool = True) -> np.ndarray:
    g = rng.normal(size=(d, rank or d)) + (0 if real else 1j * rng.normal(size=(d, rank or d)))
    r = g @ g.conj().T
    return r / np.trace(r).real


@pytest.mark.parametrize("e", [0.0, 0.01, 0.05, 0.11])
def test_qubit_bb84_matches_one_minus_h(e: float) -> None:
    res = solve(bb84_problem(werner(e), leak=h(e)))
    assert res.certified and res.status == "certified"
    assert res.certified_bound == pytest.approx(1 - h(e), abs=1e-9)
    # Step 1 meets the constraints to ~1e-12 (QICS tolerance), so f(ρ₁) may lie a few 1e-12 below
    # α (observed: 5e-12 at e = 0.01, round-off of the compaction map decides the sign).
    assert res.certified_bound <= res.step1_value + 1e-11
    assert res.key_rate == pytest.approx(max(1 - 2 * h(e), 0.0), abs=1e-9)


def test_certified_bound_never_above_a_feasible_state_and_step1() -> None:
    rng = np.random.default_rng(7)
    for trial in range(4):
        truth = random_state(rng, 4, rank=2 + trial % 3)
        prob = bb84_problem(truth)
        res = solve(prob)
        f_truth = BlockObjective(prob.blocks[0]).value_and_gradient(truth + 1e-15 * np.eye(4))[0] / math.log(2)
        assert res.certified_bound <= f_truth + 1e-9
        assert res.certified_bound <= res.step1_value + 1e-9
        assert res.gap <= 1e-8


def test_perturbed_dual_is_still_a_lower_bound() -> None:
    """Any multipliers give a valid bound (the λ_min correction): perturb the optimal ones."""
    rng = np.random.default_rng(3)
    truth = random_state(rng, 4)
    prob = bb84_problem(truth)
    res = solve(prob)
    f_truth = BlockObjective(prob.blocks[0]).value_and_gradient(truth)[0] / math.log(2)
    from qkdlab.analysis.numerical import orthonormalise

    reduced = orthonormalise(prob)
    lin = linearisation(reduced, res.rho)
    for scale in (1e-6, 1e-3, 1e-1, 10.0):
        y = res.multipliers + scale * rng.normal(size=len(res.multipliers))
        cert = dual_bound(reduced, lin, y)
        assert cert.bound_bits <= res.certified_bound + 1e-12
        assert cert.bound_bits <= f_truth + 1e-12


def test_merged_blocks_give_the_same_value() -> None:
    """Block reduction: the same problem with all blocks merged (pinching argument)."""
    from qkdlab.analysis.mismatch import Receiver, build_problem, simulate_statistics, table_i

    rc = Receiver("active", table_i(0.6, 0.4)[:, :1])
    p = simulate_statistics(rc, 0.05, 0.05, 0.5)
    prob = build_problem(rc, p, "cutoff", cutoff=2)
    blocked, merged = solve(prob), solve(merge_blocks(prob))
    assert blocked.certified and merged.certified
    assert blocked.certified_bound == pytest.approx(merged.certified_bound, abs=1e-8)


def test_real_reduction_matches_complex_problem() -> None:
    truth = werner(0.04)
    real = bb84_problem(truth)
    cplx = NumericalProblem(tuple(Block(b.dim, tuple(k.astype(complex) for k in b.kraus),
                                        tuple(z.astype(complex) for z in b.key_projectors)) for b in real.blocks),
                            tuple(Constraint(tuple(o.astype(complex) for o in c.operator), c.lower, c.upper)
                                  for c in real.constraints))
    assert cplx.is_complex and not real.is_complex
    assert solve(cplx).certified_bound == pytest.approx(solve(real).certified_bound, abs=1e-9)


def test_redundant_constraints_do_not_break_the_solve() -> None:
    truth = werner(0.03)
    plain, redundant = solve(bb84_problem(truth)), solve(bb84_problem(truth, duplicate=True))
    assert redundant.certified
    assert redundant.certified_bound == pytest.approx(plain.certified_bound, abs=1e-9)


def test_facial_reduction_keeps_every_feasible_state() -> None:
    """Zero-probability outcomes: the reduced space contains the support of any feasible ρ."""
    truth = np.outer([1.0, 0, 0, 1.0], [1.0, 0, 0, 1.0]) / 2  # e = 0: the error outcomes have p = 0
    prob = bb84_problem(truth)
    reduced, isos, keep = facial_reduction(prob)
    q = isos[0]
    assert q.shape[1] < 4
    assert np.allclose(q @ q.T @ truth @ q @ q.T, truth)
    res = solve(prob)
    assert res.certified_bound == pytest.approx(1.0, abs=1e-9)


def test_interval_constraints_relax_the_bound() -> None:
    """Widening equalities to intervals can only lower α (and the result stays certified)."""
    truth = werner(0.03)
    exact = bb84_problem(truth)
    loose = NumericalProblem(exact.blocks, tuple(Constraint(c.operator, c.lower - 0.002, c.upper + 0.002, c.name)
                                                 for c in exact.constraints))
    a, b = solve(exact), solve(loose)
    assert b.certified
    assert b.certified_bound < a.certified_bound - 1e-4


def test_warm_start_reuses_multipliers() -> None:
    first = solve(bb84_problem(werner(0.03)))
    second = solve(bb84_problem(werner(0.0301)), warm_start=first)
    assert second.certified and second.gap <= 1e-8


def test_uncertified_bound_is_never_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from qkdlab.analysis.numerical import engine
    from qkdlab.analysis.numerical.step2 import Certificate

    real_certify = engine.certify

    def no_certificate(problem, rho, candidates, **kw):
        cert, lin = real_certify(problem, rho, candidates, **kw)
        return Certificate(0.0, np.zeros_like(cert.multipliers), 0.0, "trivial"), lin

    monkeypatch.setattr(engine, "certify", no_certificate)
    res = solve(bb84_problem(werner(0.02), leak=h(0.02)))
    assert res.status == "uncertified" and "trivial bound 0" in res.reason
    assert res.certified_bound == 0.0 and res.key_rate == 0.0 and res.step1_value > 0.8


def test_inconsistent_statistics_raise() -> None:
    prob = bb84_problem(werner(0.02))
    bad = NumericalProblem(prob.blocks, (Constraint.equality([np.eye(4)], 0.7),) + prob.constraints)
    with pytest.raises(InconsistentStatisticsError, match="contradict"):
        solve(bad)


def test_malformed_problems_raise() -> None:
    with pytest.raises(ProblemError, match="shape"):
        Block(4, (np.eye(3),), KEY)
    with pytest.raises(ProblemError, match="projector"):
        Block(4, (np.eye(4),), (np.eye(4) * 0.5, np.eye(4) * 0.5))
    with pytest.raises(ProblemError, match="Hermitian"):
        NumericalProblem((Block(4, (np.eye(4),), KEY),), (Constraint.equality([np.triu(np.ones((4, 4)))], 0.5),))
    with pytest.raises(ProblemError, match="interval"):
        NumericalProblem((Block(4, (np.eye(4),), KEY),), (Constraint([np.eye(4)], 0.6, 0.5),))


def test_readme_worked_example_runs_and_matches_closed_form(capsys: pytest.CaptureFixture[str]) -> None:
    """The README's example of a protocol that is not built in (plain BB84, qubit channel)."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    section = text.split("### Certified numerical key rates", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    exec(compile(code, "README example", "exec"), {})
    status, bound, gap, rate = capsys.readouterr().out.split()
    e = 0.03
    assert status == "certified" and float(gap) <= 1e-8
    assert float(bound) == pytest.approx(1 - h(e), abs=1e-9)
    assert float(rate) == pytest.approx(1 - 2 * h(e), abs=1e-9)


def test_step1_breakdown_gives_the_conservative_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    from qkdlab.analysis.numerical import engine

    def broken(*args, **kwargs):
        raise np.linalg.LinAlgError("Matrix is singular")

    monkeypatch.setattr(engine, "solve_primal", broken)
    res = solve(bb84_problem(werner(0.02), leak=h(0.02)))
    assert res.status == "uncertified" and "QICS" in res.reason
    assert res.key_rate == 0.0 and res.certified_bound == 0.0 and not res.certified


def test_objective_and_gradient_on_compressed_supports() -> None:
    """Support compression: f equals the eigenvalue formula with 0 log 0 = 0, and ∇f matches
    central finite differences, for a rank-deficient G (the certificate's validity rests on ∇f)."""
    rng = np.random.default_rng(11)
    sift = np.diag([1.0, 1.0, 0.0, 0.5])  # G kills one direction and damps another
    k = np.kron(np.eye(2), sift[:2, :2]) @ np.kron(np.eye(2), np.diag([1.0, 0.0])) + 0.3 * np.kron(
        np.eye(2), np.array([[0.0, 0.0], [0.0, 1.0]]))
    block = Block(4, (k,), KEY)
    obj = BlockObjective(block)
    rho = random_state(rng, 4)

    def entropy_term(m: np.ndarray) -> float:
        w = np.linalg.eigvalsh(m)
        w = w[w > 1e-300]
        return float(np.sum(w * np.log(w)))

    g = k @ rho @ k.T
    zg = sum(z @ g @ z for z in KEY)
    value, grad = obj.value_and_gradient(rho)
    assert value == pytest.approx(entropy_term(g) - entropy_term(zg), abs=1e-12)
    step = 1e-6
    for _ in range(3):
        d = rng.normal(size=(4, 4))
        d = (d + d.T) / 2
        numeric = (obj.value_and_gradient(rho + step * d)[0] - obj.value_and_gradient(rho - step * d)[0]) / (2 * step)
        assert float(np.sum(grad * d)) == pytest.approx(numeric, abs=1e-7)
    assert float(np.sum(grad * rho)) == pytest.approx(value, abs=1e-12)  # ⟨∇f(ρ), ρ⟩ = f(ρ)


def test_dual_sdp_through_the_solver_core_improves_a_poor_dual() -> None:
    """Step 2's fallback: at a loose step-1 point the solver core's dual SDP beats QICS's dual, and
    its certificate stays below the value at the step-1 point."""
    from qkdlab.analysis.numerical import orthonormalise
    from qkdlab.analysis.numerical.step1 import solve_primal
    from qkdlab.analysis.numerical.step2 import _dual_sdp

    truth = werner(0.04)
    reduced = orthonormalise(bb84_problem(truth))
    point = solve_primal(reduced, tolerance=1e-6)
    lin = linearisation(reduced, point.rho)
    rough = dual_bound(reduced, lin, point.multipliers)
    cert = _dual_sdp(reduced, lin, 1e-12)
    assert cert is not None and cert.bound_bits >= rough.bound_bits - 1e-12
    assert cert.bound_bits <= 1 - h(0.04) + 1e-12


def test_dense_compaction_is_the_same_map_and_the_same_solve(monkeypatch: pytest.MonkeyPatch) -> None:
    """The dense full-to-compact map of small cones (a speed measure) is QICS's sparse map entry by
    entry, and a solve with it reaches the step-1 point of the sparse solve."""
    import qics

    from qkdlab.analysis.numerical import orthonormalise, step1

    cone = qics.cones.QuantKeyDist([np.eye(4)], list(KEY), iscomplex=False)
    sparse = cone.F2C_op.toarray()
    step1._dense_compaction(cone)
    assert isinstance(cone.F2C_op, np.ndarray) and np.array_equal(cone.F2C_op, sparse)
    reduced = orthonormalise(bb84_problem(werner(0.03)))
    dense = step1.solve_primal(reduced)
    monkeypatch.setattr(step1, "_DENSE_ENTRIES", 0)
    kept = step1.solve_primal(reduced)
    assert dense.objective_bits == pytest.approx(kept.objective_bits, abs=1e-10)
    assert dense.objective_bits == pytest.approx(1 - h(0.03), abs=1e-9)
