"""Issue 5, section 2: what the key rates must show (Currás-Lorenzo et al., Optica Quantum 2025; Pereira et al. 2020).

Parameters of the framework paper's simulations: f = 1.16, p_d = 1e-8, η_d = 0.73, 2.5 GHz,
0.2 dB/km, single photons, θ_j = (1 + δ/π) φ_j / 2.
"""

import math

import numpy as np
import pytest

from qkdlab.analysis import AnalysisSource, Channel, key_rate
from qkdlab.analysis.keyrate import binary_entropy
from qkdlab.analysis.channel import transmittance

CHANNEL = Channel(fiber_loss_db_per_km=0.2, detector_efficiency=0.73, dark_count_probability=1e-8,
                  ec_efficiency=1.16, repetition_rate_hz=2.5e9)
DISTANCES = np.arange(0.0, 301.0, 10.0)


def rate(protocol, delta, epsilon, method, distance, finite=None):
    return key_rate(AnalysisSource.flawed(protocol, delta, epsilon), CHANNEL, method, finite, distance_km=distance)


def max_distance(protocol, delta, epsilon, method, tolerance=0.05):
    """Largest distance with a positive key, by bisection (the key vanishes once and for all)."""
    low, high = 0.0, 400.0
    assert rate(protocol, delta, epsilon, method, low).key_rate_per_pulse > 0
    assert rate(protocol, delta, epsilon, method, high).key_rate_per_pulse == 0
    while high - low > tolerance:
        mid = (low + high) / 2
        if rate(protocol, delta, epsilon, method, mid).key_rate_per_pulse > 0:
            low = mid
        else:
            high = mid
    return low


def test_1_lt_bb84_equals_three_state_and_hardly_depends_on_delta():
    for delta in (0.0, 0.063, 0.2):
        bb84 = rate("bb84", delta, 0.0, "lt", DISTANCES).key_rate_per_pulse
        three = rate("three-state", delta, 0.0, "lt", DISTANCES).key_rate_per_pulse
        assert np.allclose(bb84, three, rtol=1e-9, atol=0)
    ideal = rate("bb84", 0.0, 0.0, "lt", DISTANCES).key_rate_per_pulse
    flawed = rate("bb84", 0.063, 0.0, "lt", DISTANCES).key_rate_per_pulse
    assert np.all(flawed > 0) and np.all(np.abs(flawed / ideal - 1) < 0.03)
    # δ enters only through the bit errors of the flawed key states, not through the phase error
    assert max_distance("bb84", 0.063, 0.0, "lt") > 0.97 * max_distance("bb84", 0.0, 0.0, "lt")


def test_2_ltqc_equals_gllp_without_flaws():
    for epsilon in (1e-8, 1e-6, 1e-4):
        ltqc = rate("bb84", 0.0, epsilon, "ltqc", DISTANCES)
        gllp = rate("bb84", 0.0, epsilon, "gllp", DISTANCES)
        assert np.allclose(ltqc.key_rate_per_pulse, gllp.key_rate_per_pulse, rtol=1e-6, atol=1e-300)
        assert np.allclose(ltqc.phase_error, gllp.phase_error, rtol=1e-6)


def test_3_flaws_barely_touch_ltqc_but_cut_gllp_by_over_a_third():
    ltqc_ideal = max_distance("bb84", 0.0, 1e-6, "ltqc")
    ltqc_flawed = max_distance("bb84", 0.063, 1e-6, "ltqc")
    gllp_ideal = max_distance("bb84", 0.0, 1e-6, "gllp")
    gllp_flawed = max_distance("bb84", 0.063, 1e-6, "gllp")
    assert ltqc_ideal == pytest.approx(gllp_ideal, abs=0.1)
    assert ltqc_flawed < ltqc_ideal
    assert ltqc_flawed > 0.9 * ltqc_ideal
    assert gllp_flawed < (2 / 3) * gllp_ideal


@pytest.mark.parametrize("epsilon", [1e-7, 1e-6, 1e-5])
def test_4_bb84_beats_three_state_with_side_channels(epsilon):
    bb84 = rate("bb84", 0.063, epsilon, "ltqc", DISTANCES)
    three = rate("three-state", 0.063, epsilon, "ltqc", DISTANCES)
    assert bb84.max_distance() >= three.max_distance()
    assert max_distance("bb84", 0.063, epsilon, "ltqc") > max_distance("three-state", 0.063, epsilon, "ltqc") + 1
    long = DISTANCES >= 0.5 * three.max_distance()
    positive = long & (three.key_rate_per_pulse > 0)
    assert np.all(bb84.key_rate_per_pulse[positive] > three.key_rate_per_pulse[positive])


def test_5_finite_key_grows_with_n_vanishes_for_small_n_and_approaches_the_asymptote():
    sizes = [1e4, 1e6, 1e8, 1e10, 1e12, 1e14]
    finite = [rate("bb84", 0.063, 1e-6, "ltqc", 50.0, n).key_rate_per_pulse for n in sizes]
    asymptotic = rate("bb84", 0.063, 1e-6, "ltqc", 50.0).key_rate_per_pulse
    assert finite[0] == 0.0
    assert all(b >= a for a, b in zip(finite, finite[1:])) and finite[-1] > finite[2]
    assert finite[-1] <= asymptotic
    assert finite[-1] > 0.9 * asymptotic
    result = rate("bb84", 0.063, 1e-6, "ltqc", 50.0, 1e14)
    assert result.finite is not None and result.finite.epsilon_sec == 1e-10 == result.finite.epsilon_cor


def test_6_rt_reduces_to_lt_at_epsilon_zero_and_is_throttled_by_the_sequential_assumption():
    for protocol in ("bb84", "three-state"):
        rt = rate(protocol, 0.063, 0.0, "rt", DISTANCES)
        lt = rate(protocol, 0.063, 0.0, "lt", DISTANCES)
        assert np.allclose(rt.key_rate_per_pulse, lt.key_rate_per_pulse, rtol=1e-9, atol=0)
    rt = rate("bb84", 0.063, 1e-6, "rt", DISTANCES)
    ltqc = rate("bb84", 0.063, 1e-6, "ltqc", DISTANCES)
    assert rt.key_rate_bps[0] == pytest.approx(ltqc.key_rate_bps[0], rel=0.05)     # no restriction at 0 km
    beyond = (DISTANCES >= 5) & (ltqc.key_rate_bps > 0)
    assert np.all(rt.key_rate_bps[beyond] < 1e-4 * ltqc.key_rate_bps[beyond])
    assert rt[5].repetition_rate_hz == pytest.approx(2e8 / 50e3)     # one pulse in 50 km of fiber at 2c/3


def test_7_ideal_bb84_phase_error_is_the_x_error_rate():
    """Closed form: ideal states, ε = 0, every method gives e_ph = e_X of the honest channel."""
    eta = transmittance(DISTANCES, 0.2, 0.73)
    pd = 1e-8
    detections = 1 - (1 - eta) * (1 - pd) ** 2                       # any click
    errors = (1 - eta) * pd * (1 - pd) + (eta * pd + (1 - eta) * pd ** 2) / 2
    e_x = errors / detections
    for method in ("lt", "ltqc", "gllp", "rt"):
        result = rate("bb84", 0.0, 0.0, method, DISTANCES)
        assert np.allclose(result.phase_error, e_x, rtol=1e-7)
        expected = 0.25 * detections * (1 - binary_entropy(e_x) - 1.16 * binary_entropy(e_x))
        assert np.allclose(result.key_rate_per_pulse, np.maximum(expected, 0), rtol=1e-7, atol=1e-300)


def test_7_textbook_decoy_state_bb84():
    """Vacuum + weak decoy with ideal states: below, and close to, the infinite-decoy GLLP formula
    R = p_Z² p_μ [μ e^{−μ} Y_1 (1 − h(e_1)) − f Q_μ h(E_μ)] (Lo, Ma, Chen 2005), computed here from scratch."""
    mu, nu, pd, eta_d = 0.5, 0.1, 1e-6, 0.1
    channel = Channel(detector_efficiency=eta_d, dark_count_probability=pd, source="weak-coherent",
                      intensities=(mu, nu, 0.0), intensity_probabilities=(0.8, 0.1, 0.1))
    source = AnalysisSource.flawed("bb84", 0.0, 0.0)
    distances = np.array([0.0, 25.0, 50.0, 75.0, 100.0])
    decoy = key_rate(source, channel, "lt", distance_km=distances)
    eta = transmittance(distances, 0.2, eta_d)
    y1 = 1 - (1 - eta) * (1 - pd) ** 2
    e1 = ((1 - eta) * pd * (1 - pd) + (eta * pd + (1 - eta) * pd ** 2) / 2) / y1
    click = 1 - (1 - pd) * np.exp(-mu * eta)
    q_mu = 1 - (1 - click) * (1 - pd)
    e_mu = (pd * (1 - click) + click * pd / 2) / q_mu
    closed = 0.25 * 0.8 * (mu * math.exp(-mu) * y1 * (1 - binary_entropy(e1)) - 1.16 * q_mu * binary_entropy(e_mu))
    assert np.all(decoy.key_rate_per_pulse <= closed * (1 + 1e-9))
    assert np.all(decoy.key_rate_per_pulse >= 0.8 * closed)


def test_8_results_are_stable_from_epsilon_1e_12_to_1e_2():
    """Key rates vary smoothly and monotonically with ε over ten decades; tiny ε approaches ε = 0."""
    eps_values = [1e-12, 1e-10, 1e-8, 1e-6, 1e-4, 1e-2]
    previous = None
    for eps in eps_values:
        r = rate("bb84", 0.063, eps, "ltqc", 100.0)
        assert r.solver.certified and not r.solver.conservative
        if previous is not None:
            assert r.key_rate_per_pulse <= previous
        previous = r.key_rate_per_pulse
    zero = rate("bb84", 0.063, 0.0, "ltqc", 100.0).key_rate_per_pulse
    assert rate("bb84", 0.063, 1e-12, "ltqc", 100.0).key_rate_per_pulse == pytest.approx(zero, rel=1e-4)
