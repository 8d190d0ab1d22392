"""Issue 15, part 2: the loss-tolerant quantum coin at the literature's tightness (framework paper, Eqs. 7-11).

The paper's own decomposition of the virtual states (Eqs. 7-9: v_0 ∝ φ_0X, and
c_1 φ_0Z + |vir_1><vir_1| = c_2 φ_1Z + c_3 φ_1X) is built here from its closed-form c_i,
independently of qkdlab's decomposition code, and checked to be one of the candidates the coin
tries; the acceptance point of the issue must reach e_ph ≤ 1.75e-3 (the least-weight choice alone
gave 2.16e-3).
"""

import math
from dataclasses import replace

import numpy as np
import pytest

from qkdlab.analysis import AnalysisSource, Channel, key_rate
from qkdlab.analysis.coin import ltqc_families, ltqc_pair, ltqc_pairs
from qkdlab.analysis.coin_q import best_over_q
from qkdlab.analysis.overlap_sdp import max_distance
from qkdlab.analysis.phase_error import quantum_coin
from qkdlab.analysis.states import StateSet, lt_decomposition, lt_decompositions
from qkdlab.analysis.statistics import estimate

CHANNEL = Channel(fiber_loss_db_per_km=0.2, detector_efficiency=0.73, dark_count_probability=1e-8,
                  ec_efficiency=1.16, repetition_rate_hz=2.5e9)


def paper_coefficients(delta):
    """Framework paper Eqs. (7)-(9), multiplied out for the unnormalised virtual states (norms 1 − q, q)."""
    kappa = 1 + delta / math.pi
    c1 = math.cos(kappa * math.pi / 2) / (math.cos(kappa * math.pi) - math.cos(kappa * math.pi / 2))
    c2 = math.cos(kappa * math.pi / 2) / (math.cos(kappa * math.pi / 2) - 1)
    c3 = (1 + math.cos(kappa * math.pi / 2)) / (math.cos(kappa * math.pi / 2) - math.cos(kappa * math.pi))
    q = (1 - math.cos(kappa * math.pi / 2)) / 2          # (1 − Re<φ_0Z|φ_1Z>)/2
    return np.array([[0, 0, 1 - q, 0], [-q * c1, q * c2, 0, q * c3]])


@pytest.mark.parametrize("delta", [0.063, 0.2])
def test_the_papers_decomposition_is_among_the_candidates(delta):
    states = StateSet.flawed("bb84", delta)
    candidates = lt_decompositions(states)
    assert any(np.allclose(d.coefficients, paper_coefficients(delta), atol=1e-12) for d in candidates)
    for pair in ltqc_pairs(states):                       # all exact at ε = 0: Tar(0) = Ref(0)
        assert abs(pair.distance_at_characterized_states()) < 1e-12


def test_acceptance_point_reaches_the_papers_tightness():
    """δ = 0.063, ε = 1e-6, 50 km, single photons, f = 1.16, p_d = 1e-8, η_d = 0.73: e_ph ≤ 1.75e-3."""
    result = key_rate(AnalysisSource.flawed("bb84", 0.063, 1e-6), CHANNEL, "ltqc", distance_km=50.0)
    assert result.phase_error <= 1.75e-3
    assert result.parameters["coin_pair"] == "v0 ← +X0; v1 ← −Z0 +Z1 +X1"     # the paper's Eqs. (7)-(9)
    # the same number from the paper's coefficients, built here and fed to the coin directly
    states = StateSet.flawed("bb84", 0.063)
    pair = ltqc_pair(states, replace(lt_decomposition(states), coefficients=paper_coefficients(0.063)))
    counts_emissions = CHANNEL.expected_counts(states, [50.0])
    data = estimate(counts_emissions[1], counts_emissions[0], states.labels, (0.5, 0.5), "single-photon", (1.0,))
    direct = quantum_coin(pair, max_distance(pair, 1e-6).distance, data)[0] * data.phase_scale
    assert result.phase_error == pytest.approx(direct / data.key_detections[0], rel=1e-9)


@pytest.mark.parametrize("distance", [0.0, 50.0, 150.0])
def test_ltqc_equals_gllp_without_flaws(distance):
    source = AnalysisSource.flawed("bb84", 0.0, 1e-6)
    ltqc = key_rate(source, CHANNEL, "ltqc", distance_km=distance)
    gllp = key_rate(source, CHANNEL, "gllp", distance_km=distance)
    assert ltqc.phase_error == pytest.approx(gllp.phase_error, rel=1e-6)
    assert ltqc.key_rate_per_pulse == pytest.approx(gllp.key_rate_per_pulse, rel=1e-6, abs=1e-15)


@pytest.mark.parametrize("protocol,delta,epsilon", [("bb84", 0.063, 1e-8), ("bb84", 0.063, 1e-6),
                                                    ("bb84", 0.063, 1e-4), ("three-state", 0.063, 1e-6)])
def test_no_distance_gets_a_worse_bound_than_the_least_weight_choice(protocol, delta, epsilon):
    """Cut-offs never shorten: the tightest candidate is never looser than the previous (least-weight) pair."""
    source = AnalysisSource.flawed(protocol, delta, epsilon)
    distances = np.arange(0.0, 320.0, 5.0)
    new = key_rate(source, CHANNEL, "ltqc", distance_km=distances)
    emissions, counts = CHANNEL.expected_counts(source.states, distances)
    data = estimate(counts, emissions, source.states.labels, (0.5, 0.5), "single-photon", (1.0,))
    old_pair = ltqc_pair(source.states)
    old = quantum_coin(old_pair, max_distance(old_pair, source.epsilon).distance, data)
    with np.errstate(divide="ignore", invalid="ignore"):
        old_e = np.minimum(old * data.phase_scale / data.key_detections, 0.5)
    assert np.all(new.phase_error <= old_e * (1 + 1e-12))
    if protocol == "bb84":
        assert np.any(new.phase_error < 0.9 * old_e)                 # and somewhere clearly tighter


def papers_pair_at(delta, q, rng_states):
    """‖T̃ − R̃‖² of [F] Eqs. (10)-(11) at a free q, built here from the closed-form c_i.

    The virtual states keep their exact amplitudes √(1 − q_ε) ψ_vir0 = v_0, √q_ε ψ_vir1 = v_1 (condition 2 of
    [F] App. A.8), the decomposition terms carry the free q; {|0'>, |1'>} is fixed by Tar(0) = Ref(0) at
    q0 by solving the 2 × 2 linear system (not by the polar decomposition coin.py uses). Returns the
    distance for each set of emitted states in ``rng_states`` (rows ψ_j) and the observed weights.
    """
    kappa = 1 + delta / math.pi
    c1 = math.cos(kappa * math.pi / 2) / (math.cos(kappa * math.pi) - math.cos(kappa * math.pi / 2))
    c2 = math.cos(kappa * math.pi / 2) / (math.cos(kappa * math.pi / 2) - 1)
    c3 = (1 + math.cos(kappa * math.pi / 2)) / (math.cos(kappa * math.pi / 2) - math.cos(kappa * math.pi))
    q0 = (1 - math.cos(kappa * math.pi / 2)) / 2
    phi = np.array(StateSet.flawed("bb84", delta).kets)                       # rows Z0, Z1, X0, X1
    v0, v1 = (phi[0] + phi[1]) / 2, (phi[0] - phi[1]) / 2
    u0 = np.vdot(math.sqrt(1 - q0) * phi[2], v0) / abs(np.vdot(phi[2], v0)) / math.sqrt(1 - q0)   # a phase
    target1 = np.array([math.sqrt(q0 * c1) * phi[0], v1])                    # rows |0>_A, |1>_A at q0
    reference1 = np.array([math.sqrt(q0 * c2) * phi[1], math.sqrt(q0 * c3) * phi[3]])   # rows |0'>, |1'>
    u1 = target1 @ np.linalg.inv(reference1)                                  # target1 = u1 @ reference1
    assert np.allclose(u1 @ u1.conj().T, np.eye(2), atol=1e-9)
    distances = []
    for psi in rng_states:
        w0, w1 = (psi[0] + psi[1]) / 2, (psi[0] - psi[1]) / 2
        d0 = w0 - u0 * math.sqrt(1 - q) * psi[2]
        d1 = np.array([math.sqrt(q * c1) * psi[0], w1]) - u1 @ np.array([math.sqrt(q * c2) * psi[1],
                                                                         math.sqrt(q * c3) * psi[3]])
        distances.append(float(np.vdot(d0, d0).real + np.vdot(d1, d1).real))
    weights = {"errors": np.array([[0, 0], [q * c2, 0], [0, 1 - q], [q * c3, 0]]),
               "correct": np.array([[0, 0], [0, q * c2], [1 - q, 0], [0, q * c3]]),
               "observed": np.array([[q * c1, 0], [0, 0], [0, 0], [0, 0]]),
               "detection": np.array([[0.5 + q * c1, 0.5 + q * c1], [0.5, 0.5], [0, 0], [0, 0]])}
    return np.array(distances), weights


@pytest.mark.parametrize("delta", [0.063, 0.2])
def test_the_q_family_is_the_papers_eqs_10_11_with_q_free(delta):
    """coin.CoinFamily at q equals [F]'s Eqs. (10)-(11) built independently, for explicit emitted states.

    (δ > 0: Eqs. 8-9 as printed have c_i > 0; for δ < 0, c_1 and c_2 change sign and the same identity
    puts Z0 on the reference side, a different candidate.)
    """
    rng = np.random.default_rng(2)
    states = StateSet.flawed("bb84", delta)
    family = next(f for f in ltqc_families(states) if f.choice == "v0 ← +X0; v1 ← −Z0 +Z1 +X1")
    psis = []
    for _ in range(5):
        raw = rng.normal(size=(4, 3)) + 1j * rng.normal(size=(4, 3))
        psis.append(raw / np.linalg.norm(raw, axis=1, keepdims=True))
    for dq in (0.0, 2e-3, -0.1, 0.3):
        pair = family.pair(dq)
        expected, weights = papers_pair_at(delta, family.q0 + dq, psis)
        ours = [float(np.real(np.sum(pair.metric * (psi.conj() @ psi.T)))) for psi in psis]
        assert ours == pytest.approx(expected, rel=1e-9, abs=1e-12)
        assert np.allclose(pair.reference_errors, weights["errors"], atol=1e-12)
        assert np.allclose(pair.reference_correct, weights["correct"], atol=1e-12)
        assert np.allclose(pair.target_observed_errors, weights["observed"], atol=1e-12)
        assert np.allclose(pair.target_detection, weights["detection"], atol=1e-12)
        if dq:
            assert f"q = {family.q0 + dq:.6g}" in pair.choice


@pytest.mark.parametrize("protocol,delta,epsilon,distance", [("bb84", 0.063, 1e-6, 50.0),
                                                             ("three-state", 0.063, 1e-6, 0.0),
                                                             ("bb84", -0.063, 1e-4, 100.0)])
def test_the_search_over_q_is_certified_against_a_dense_evaluation(protocol, delta, epsilon, distance):
    """No q on a dense grid, of any decomposition, has a bound below the search's certified lower bound,
    and none beats the reported bound by more than the tolerance; the report says how close it is."""
    states = StateSet.flawed(protocol, delta)
    emissions, counts = CHANNEL.expected_counts(states, [distance])
    data = estimate(counts, emissions, states.labels, (0.5, 0.5), "single-photon", (1.0,))
    families = ltqc_families(states)
    search = best_over_q(families, epsilon, data, tolerance=1e-4)
    assert search.lower[0] <= search.bound[0]
    assert search.bound[0] - search.lower[0] <= 1e-4 * search.bound[0]
    assert "within" in search.report.message
    winner = search.choice[0].split(" (q =")[0]
    dense, at_q0 = [], []
    for family in families:     # densely for the winning decomposition, sparsely for the others
        count = 9 if family.choice == winner else 3
        offsets = np.concatenate([-np.geomspace(1e-7, 0.4, count), [0.0], np.geomspace(1e-7, 0.4, count)])
        for dq in offsets:
            pair = family.pair(float(dq))
            dense.append(quantum_coin(pair, max_distance(pair, epsilon).distance, data)[0])
            if dq == 0.0:
                at_q0.append(dense[-1])
    dense = np.array(dense)
    assert np.all(dense >= search.lower[0] * (1 - 1e-12))
    assert dense.min() >= search.bound[0] * (1 - 1e-4)
    assert search.bound[0] <= min(at_q0) * (1 + 1e-12)            # never looser than [F]'s q0 of any decomposition


def test_the_search_over_q_holds_for_finite_key_intervals():
    """With interval data (finite key, the sampled sum of the distances of §7, whose sampling gain g(q) the search
    bounds from below too), the lower bound is below the bound of every sampled q."""
    states = StateSet.flawed("three-state", 0.063)
    emissions, counts = CHANNEL.expected_counts(states, [20.0, 80.0], 1e10)
    data = estimate(counts, emissions, states.labels, (0.5, 0.5), "single-photon", (1.0,), failure=1e-21, sampling=0.3)
    assert not data.exact
    families = ltqc_families(states)
    search = best_over_q(families, 1e-6, data)
    assert np.all(search.bound - search.lower <= 1e-4 * search.bound)
    for dq in np.concatenate([-np.geomspace(1e-7, 0.4, 8), [0.0], np.geomspace(1e-7, 0.4, 8)]):
        pair = families[0].pair(float(dq))
        value = quantum_coin(pair, max_distance(pair, 1e-6).distance, data)
        assert np.all(value >= search.lower * (1 - 1e-12))
        assert np.all(value >= search.bound * (1 - 1e-4))
