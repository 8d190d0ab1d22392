"""The overlap SDP and the phase-error bounds against explicit states and explicit attacks (brute force)."""

import math

import cvxpy as cp
import numpy as np
import pytest

from qkdlab.analysis import overlap_sdp
from qkdlab.analysis.coin import gllp_pair, ltqc_families, ltqc_pair
from qkdlab.analysis.coin_q import best_over_q
from qkdlab.analysis.overlap_sdp import fidelity_scale, max_distance
from qkdlab.analysis.phase_error import loss_tolerant, quantum_coin, reference_technique
from qkdlab.analysis.states import StateSet, lt_decomposition
from qkdlab.analysis.statistics import Estimates


def emitted_states(states, epsilon, rng, dim=6, saturate=False):
    """ψ_j = √(1−ε_j) φ_j + √ε_j χ_j in C^dim, χ_j ⟂ φ_j, ε_j ≤ ε, <φ_j|ψ_j> > 0."""
    out = []
    for ket in states.kets:
        phi = np.zeros(dim, complex)
        phi[:2] = ket
        chi = rng.normal(size=dim) + 1j * rng.normal(size=dim)
        chi -= np.vdot(phi, chi) * phi
        chi /= np.linalg.norm(chi)
        eps_j = epsilon if saturate else epsilon * rng.uniform()
        out.append(math.sqrt(1 - eps_j) * phi + math.sqrt(eps_j) * chi)
    return np.array(out)


def distance_of(pair, psi):
    gram = psi.conj() @ psi.T
    return float(np.real(np.sum(pair.metric * gram)))


PAIRS = [("ltqc", "bb84", 0.0), ("ltqc", "bb84", 0.063), ("ltqc", "three-state", 0.063), ("gllp", "bb84", 0.0),
         ("gllp", "bb84", 0.063)]


def make_pair(kind, protocol, delta):
    states = StateSet.flawed(protocol, delta)
    return ltqc_pair(states) if kind == "ltqc" else gllp_pair(states)


@pytest.mark.parametrize("kind,protocol,delta", PAIRS)
def test_explicit_states_never_beat_the_sdp_bound(kind, protocol, delta):
    rng = np.random.default_rng(11)
    pair = make_pair(kind, protocol, delta)
    for epsilon in (1e-2, 1e-5):
        bound = max_distance(pair, epsilon).distance
        best = 0.0
        for trial in range(300):
            best = max(best, distance_of(pair, emitted_states(pair.states, epsilon, rng, saturate=trial % 2 == 0)))
        assert best <= bound * (1 + 1e-9)
        assert best >= 0.5 * bound - pair.distance_at_characterized_states()   # the bound is not absurdly loose


def test_the_bound_is_the_closed_form_for_ideal_bb84():
    """BB84, δ = 0: Re<Ψ_Z|Ψ_X> = (1 − ε) + ε<χ_Z|χ_X> ≥ 1 − 2ε (side-channel parts opposite), so ‖T̃ − R̃‖² = 4ε."""
    for kind in ("ltqc", "gllp"):
        pair = make_pair(kind, "bb84", 0.0)
        for epsilon in (1e-2, 1e-6, 1e-12):
            assert max_distance(pair, epsilon).distance == pytest.approx(4 * epsilon, rel=1e-4)


@pytest.mark.parametrize("kind,protocol,delta", PAIRS)
def test_precision_one_minus_overlap_scales_with_epsilon_down_to_1e_12(kind, protocol, delta):
    pair = make_pair(kind, protocol, delta)
    c0 = pair.distance_at_characterized_states()
    excess = {eps: (max_distance(pair, eps).distance - c0) for eps in (1e-12, 1e-10, 1e-8, 1e-6)}
    if c0 < 1e-12:      # aligned pair: the excess is s·J with J → J₀, i.e. linear in ε
        ratios = [excess[e] / fidelity_scale(e) for e in sorted(excess)]
    else:               # c₀ > 0: excess = √s (2 Re<M, B> + √s <M, K>), leading term ∝ √ε
        ratios = [excess[e] / math.sqrt(fidelity_scale(e)) for e in sorted(excess)]
    assert all(r > 0 for r in ratios)
    assert ratios[0] == pytest.approx(ratios[1], rel=1e-3)          # 1e-12 vs 1e-10: the limit is reached
    assert ratios == sorted(ratios) or max(ratios) / min(ratios) < 1 + 1e-3


def test_certified_and_solver_values_agree():
    for kind, protocol, delta in PAIRS:
        pair = make_pair(kind, protocol, delta)
        for eps in (1e-2, 1e-6):
            result = max_distance(pair, eps)
            assert result.report.certified and not result.report.conservative
            assert abs(result.report.gap) <= 1e-3 * result.distance


def test_solver_failure_is_retried_then_reported_conservatively(monkeypatch):
    pair = make_pair("ltqc", "bb84", 0.02)
    calls = []

    def failing(self, *args, **kwargs):
        calls.append(kwargs.get("solver"))
        raise cp.error.SolverError("numerical trouble")

    overlap_sdp._cached.cache_clear()
    monkeypatch.setattr(cp.Problem, "solve", failing)
    result = max_distance(pair, 3e-7)
    assert calls == [spec.name for spec in overlap_sdp.SOLVERS]
    assert result.report.conservative and "no solver" in result.report.message
    assert "numerical trouble" in result.report.message and len(result.report.runs) == len(calls)
    assert result.min_overlap == pytest.approx(-1.0)
    overlap_sdp._cached.cache_clear()


def test_first_solver_failing_falls_back_to_the_next(monkeypatch):
    pair = make_pair("ltqc", "bb84", 0.02)
    real = cp.Problem.solve

    def flaky(self, *args, **kwargs):
        if kwargs.get("solver") == "CLARABEL":
            raise cp.error.SolverError("boom")
        return real(self, *args, **kwargs)

    overlap_sdp._cached.cache_clear()
    monkeypatch.setattr(cp.Problem, "solve", flaky)
    result = max_distance(pair, 1e-4)
    assert result.report.solver == "SCS" and not result.report.conservative
    assert "CLARABEL: boom" in result.report.message
    overlap_sdp._cached.cache_clear()
    monkeypatch.setattr(cp.Problem, "solve", real)
    assert result.distance >= max_distance(pair, 1e-4).distance * (1 - 1e-6)


def random_attack(dim, rng):
    """Bob's effective POVM after any attack, with basis-independent detection: √D P_{b,o} √D."""
    a = rng.normal(size=(dim, dim)) + 1j * rng.normal(size=(dim, dim))
    det = a.conj().T @ a
    det *= rng.uniform(0.01, 1.0) / np.linalg.eigvalsh(det).max()
    w, v = np.linalg.eigh(det)
    root = v @ np.diag(np.sqrt(np.clip(w, 0, None))) @ v.conj().T
    povm = {}
    for basis in "ZX":
        q, _ = np.linalg.qr(rng.normal(size=(dim, dim)) + 1j * rng.normal(size=(dim, dim)))
        half = rng.integers(1, dim)
        for o, cols in enumerate((q[:, :half], q[:, half:])):
            povm[basis, o] = root @ (cols @ cols.conj().T) @ root
    return povm


def exact_estimates(yields):
    y = yields[None]
    return Estimates(x_low=y, x_up=y, key_detections=np.ones(1), key_errors=np.zeros(1), single_key_low=np.ones(1),
                     phase_scale=1.0, rounds=np.ones(1), inequalities=0)


@pytest.mark.parametrize("protocol,delta", [("bb84", 0.063), ("three-state", 0.063), ("bb84", -0.063),
                                            ("three-state", -0.1)])
def test_phase_error_bounds_hold_for_explicit_attacks(protocol, delta):
    """True P(ph) of |Ψ_Z> under random attacks on random emitted states never exceeds any method's bound.

    Every candidate of the loss-tolerant coin is attacked: each decomposition at [F]'s q0 and at
    other values of the free parameter q (near q0, where the search looks, and far from it), since
    the search over q reports whichever is smallest; δ < 0 (an under-driven modulator) too.
    """
    rng = np.random.default_rng(7)
    states = StateSet.flawed(protocol, delta)
    lt = lt_decomposition(states)
    pairs = [family.pair(dq) for family in ltqc_families(states)
             for dq in (0.0, -1e-4, 0.3 * (1.0 - family.q0))]
    pairs += [gllp_pair(states)] if protocol == "bb84" else []
    i0, i1 = states.index("Z0"), states.index("Z1")
    worst_ratio = 0.0
    for epsilon in (0.0, 1e-4, 1e-2):
        distances = [max_distance(p, epsilon).distance for p in pairs]
        for _ in range(150):
            psi = emitted_states(states, epsilon, rng, dim=4, saturate=True)
            povm = random_attack(4, rng)
            yields = np.array([[np.vdot(k, povm["X", o] @ k).real for o in (0, 1)] for k in psi])
            v0, v1 = (psi[i0] + psi[i1]) / 2, (psi[i0] - psi[i1]) / 2
            truth = np.vdot(v0, povm["X", 1] @ v0).real + np.vdot(v1, povm["X", 0] @ v1).real
            data = exact_estimates(yields)
            bounds = [quantum_coin(p, d, data)[0] for p, d in zip(pairs, distances)]
            bounds.append(reference_technique(lt, epsilon, data)[0])
            if epsilon == 0:
                bounds.append(loss_tolerant(lt, data)[0])
                assert loss_tolerant(lt, data)[0] == pytest.approx(truth, abs=1e-12)   # LT is exact at ε = 0
            for b in bounds:
                assert b >= truth - 1e-12
            worst_ratio = max(worst_ratio, truth / bounds[0] if bounds[0] > 0 else 0)
    assert worst_ratio > 0.5      # some attack comes close: the check has teeth


@pytest.mark.parametrize("protocol", ["bb84", "three-state"])
def test_the_search_over_q_picks_other_q_on_some_data_and_still_bounds_the_attack(protocol):
    """Data from random explicit attacks: the certified search over q (coin_q.py) sometimes reports a q ≠ q0
    (so the search matters), and its bound is never below the attack's true P(ph)."""
    rng = np.random.default_rng(21)
    states = StateSet.flawed(protocol, 0.063)
    epsilon = 1e-2
    i0, i1 = states.index("Z0"), states.index("Z1")
    yields, truths = [], []
    for _ in range(30):
        psi = emitted_states(states, epsilon, rng, dim=4, saturate=True)
        povm = random_attack(4, rng)
        yields.append([[np.vdot(k, povm["X", o] @ k).real for o in (0, 1)] for k in psi])
        v0, v1 = (psi[i0] + psi[i1]) / 2, (psi[i0] - psi[i1]) / 2
        truths.append(np.vdot(v0, povm["X", 1] @ v0).real + np.vdot(v1, povm["X", 0] @ v1).real)
    y = np.array(yields)
    data = Estimates(x_low=y, x_up=y, key_detections=np.ones(len(y)), key_errors=np.zeros(len(y)),
                     single_key_low=np.ones(len(y)), phase_scale=1.0, rounds=np.ones(len(y)), inequalities=0)
    search = best_over_q(ltqc_families(states), epsilon, data)
    assert np.all(search.bound >= np.array(truths) - 1e-12)
    assert np.all(search.lower <= search.bound)
    assert any("(q = " in choice for choice in search.choice)


@pytest.mark.parametrize("kind,protocol,delta", PAIRS)
def test_witness_states_are_allowed_and_reach_the_certified_distance(kind, protocol, delta):
    """The explicit states the SDP returns (its primal point, made exactly feasible) satisfy every constraint,
    and their ‖T̃ − R̃‖² lies just below the certified maximum: the lower bounds of coin_q.py rest on them."""
    pair = make_pair(kind, protocol, delta)
    pairs = [pair] + ([ltqc_families(pair.states)[0].pair(2e-3)] if kind == "ltqc" else [])
    for candidate in pairs:
        for epsilon in (1e-2, 1e-6, 1e-12):
            result = max_distance(candidate, epsilon)
            w = result.witness
            along = np.einsum("ij,ij->i", w.phi.conj(), w.delta)              # <φ_j|δ_j>; φ_j unit vectors
            orthogonal = np.linalg.norm(w.delta - along[:, None] * w.phi, axis=1) ** 2
            norm_excess = 2 * along.real + np.linalg.norm(w.delta, axis=1) ** 2   # ‖ψ_j‖² − 1, without cancellation
            assert np.all(np.abs(norm_excess) <= 1e-12 * epsilon + 1e-16)
            assert np.all(np.abs(along.imag) < 1e-12) and np.all(1 + along.real > 0)     # <φ_j|ψ_j> real, positive
            assert np.all(orthogonal <= epsilon * (1 + 1e-9))                 # fidelity 1 − orthogonal ≥ 1 − ε
            explicit = float(np.linalg.norm(w.apply(candidate.difference)) ** 2)
            assert explicit <= result.distance * (1 + 1e-9)
            assert explicit >= 0.98 * result.distance
