"""Qubit states, the loss-tolerant decomposition and the coin pairs, checked against the papers' closed forms."""

import math

import numpy as np
import pytest

from qkdlab.analysis.coin import gllp_pair, ltqc_pair, max_target_error
from qkdlab.analysis.states import PROTOCOL_SETTINGS, StateSet, lt_decomposition, phase_ket


def random_states(protocol, rng, planar=True):
    if planar:
        phases = {"Z0": 0.0, "Z1": math.pi, "X0": math.pi / 2, "X1": 3 * math.pi / 2}
        return StateSet.from_phases(protocol, {k: v + rng.normal(0, 0.15) for k, v in phases.items()})
    kets = []
    for label in PROTOCOL_SETTINGS[protocol]:
        ket = phase_ket({"Z0": 0.0, "Z1": math.pi, "X0": math.pi / 2, "X1": 3 * math.pi / 2}[label])
        ket = ket + 0.15 * (rng.normal(size=2) + 1j * rng.normal(size=2))
        kets.append(ket)
    return StateSet(protocol, tuple(kets))


def test_phase_convention_matches_the_papers_eq3():
    delta = 0.063
    states = StateSet.flawed("bb84", delta)
    kappa = 1 + delta / math.pi
    for label, phi in zip(states.labels, (0, math.pi, math.pi / 2, 3 * math.pi / 2)):
        theta = kappa * phi / 2
        assert np.allclose(states.kets[states.index(label)], [math.cos(theta), math.sin(theta)])


@pytest.mark.parametrize("protocol", ["bb84", "three-state"])
@pytest.mark.parametrize("planar", [True, False])
def test_lt_decomposition_reproduces_the_virtual_states(protocol, planar):
    rng = np.random.default_rng(3)
    for _ in range(20):
        if protocol == "three-state" and not planar:
            continue       # three states off a great circle do not span the virtual states
        states = random_states(protocol, rng, planar)
        lt = lt_decomposition(states)
        projectors = [np.outer(k, k.conj()) for k in states.kets]
        kets = np.array(states.kets)
        for beta in range(2):
            v = lt.virtual[beta] @ kets
            rebuilt = sum(a * p for a, p in zip(lt.coefficients[beta], projectors))
            assert np.allclose(rebuilt, np.outer(v, v.conj()), atol=1e-10)
        assert lt.q == pytest.approx(np.linalg.norm(lt.virtual[1] @ kets) ** 2)


def test_paper_coefficients_are_a_valid_decomposition_and_ours_is_not_heavier():
    """Framework paper Eqs. (7)-(9): v_0 ∝ φ_0X and c1 φ_0Z + vir1 = c2 φ_1Z + c3 φ_1X."""
    for delta in (0.02, 0.063, 0.3):
        states = StateSet.flawed("bb84", delta)
        lt = lt_decomposition(states)
        k = 1 + delta / math.pi
        c1 = math.cos(k * math.pi / 2) / (math.cos(k * math.pi) - math.cos(k * math.pi / 2))
        c2 = math.cos(k * math.pi / 2) / (math.cos(k * math.pi / 2) - 1)
        c3 = (1 + math.cos(k * math.pi / 2)) / (math.cos(k * math.pi / 2) - math.cos(k * math.pi))
        proj = {label: np.outer(states.kets[i], states.kets[i].conj()) for i, label in enumerate(states.labels)}
        kets = np.array(states.kets)
        v1 = lt.virtual[1] @ kets
        vir1 = np.outer(v1, v1.conj()) / lt.q
        assert np.allclose(c1 * proj["Z0"] + vir1, c2 * proj["Z1"] + c3 * proj["X1"], atol=1e-10)
        v0 = lt.virtual[0] @ kets
        assert np.allclose(np.outer(v0, v0.conj()) / (1 - lt.q), proj["X0"], atol=1e-10)
        assert np.abs(lt.coefficients[1]).sum() <= lt.q * (abs(c1) + abs(c2) + abs(c3)) + 1e-12
        assert np.allclose(lt.coefficients[0], [0, 0, 1 - lt.q, 0])


@pytest.mark.parametrize("protocol", ["bb84", "three-state"])
def test_ltqc_target_equals_reference_for_the_characterized_states(protocol):
    rng = np.random.default_rng(5)
    for _ in range(10):
        pair = ltqc_pair(random_states(protocol, rng))
        assert abs(pair.distance_at_characterized_states()) < 1e-12


def test_gllp_distance_at_epsilon_zero_is_the_closed_form():
    """‖Ψ_Z − Ψ_X‖² = 2 − 2|<Ψ_Z|Ψ_X>| with the best phases, computed directly from the kets."""
    for delta in (0.0, 0.063, 0.2):
        states = StateSet.flawed("bb84", delta)
        k = {label: states.kets[i] for i, label in enumerate(states.labels)}
        # D-components: Ψ_Z → (φ0Z ± φ1Z)/2, Ψ_X → ± φ_βX/√2; each overlap's phase is free (U_β)
        overlap = sum(abs(np.vdot((k["Z0"] + s * k["Z1"]) / 2, k[x] / math.sqrt(2)))
                      for s, x in ((1, "X0"), (-1, "X1")))
        assert gllp_pair(states).distance_at_characterized_states() == pytest.approx(2 - 2 * overlap, abs=1e-12)


def test_gllp_refuses_the_three_state_protocol():
    with pytest.raises(ValueError, match="three-state"):
        gllp_pair(StateSet.flawed("three-state", 0.0))


def test_coin_inequality_reduces_to_lo_preskill_when_detections_match():
    """T = R: t_e/T ≤ e + 4Δ'(1−Δ')(1−2e) + 4(1−2Δ')√(Δ'(1−Δ')e(1−e)), Δ' = Δ/(4T) (Lo & Preskill 2007)."""
    rng = np.random.default_rng(1)
    for _ in range(200):
        t = rng.uniform(1e-6, 1)
        e = rng.uniform(0, 0.3)
        prior = rng.uniform(0, 0.2) * t          # Δ/4 = coin probability
        dp = prior / t
        closed = e + 4 * dp * (1 - dp) * (1 - 2 * e) + 4 * (1 - 2 * dp) * math.sqrt(dp * (1 - dp) * e * (1 - e))
        bound = max_target_error(t, e * t, (1 - e) * t, 4 * prior) / t
        assert bound == pytest.approx(min(closed, 1.0), rel=1e-9, abs=1e-12)
