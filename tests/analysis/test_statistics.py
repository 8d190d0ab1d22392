"""Finite-key concentration bounds: coverage by simulation, and their use in the key rate."""

import numpy as np
import pytest

from qkdlab.analysis import AnalysisSource, Channel, FiniteKey, key_rate
from qkdlab.analysis.concentration import count_upper, sum_interval


@pytest.mark.parametrize("kind", ["chernoff", "azuma", "kato"])
def test_intervals_cover_the_sum_of_conditional_probabilities(kind):
    """Adaptive probabilities (each depends on the past outcomes): failures stay below ε per side."""
    rng = np.random.default_rng(12)
    rounds, trials, eps = 2000, 4000, 0.02
    state = rng.uniform(0.001, 0.05, trials)
    total_p = np.zeros(trials)
    total_xi = np.zeros(trials)
    for _ in range(rounds):                           # an adversary that reacts to the outcomes
        xi = rng.random(trials) < state
        total_p += state
        total_xi += xi
        state = np.where(xi, np.minimum(0.2, state * 1.5), np.maximum(0.001, state * 0.99))
    n = np.full(trials, float(rounds))
    low, up = sum_interval(total_xi, n, eps, kind)
    misses_low = np.sum(total_p < low)
    misses_up = np.sum(total_p > up)
    misses_count = np.sum(total_xi > count_upper(total_p, n, eps, kind))
    for misses in (misses_low, misses_up, misses_count):
        assert misses / trials <= eps
    # the check has teeth: intervals a third as wide miss far more often than ε
    narrow_low, narrow_up = total_xi - (total_xi - low) / 3, total_xi + (up - total_xi) / 3
    assert np.mean((total_p < narrow_low) | (total_p > narrow_up)) > 2 * eps


def test_chernoff_is_tighter_than_azuma_for_rare_events():
    low_c, up_c = sum_interval(np.array(100.0), np.array(1e9), 1e-12, "chernoff")
    low_a, up_a = sum_interval(np.array(100.0), np.array(1e9), 1e-12, "azuma")
    assert up_c - low_c < 0.01 * (up_a - low_a)
    assert low_c < 100 < up_c


def test_both_concentrations_give_a_finite_key_that_approaches_the_asymptote():
    source = AnalysisSource.flawed("bb84", 0.063, 1e-6)
    asymptotic = key_rate(source, Channel(), "ltqc", distance_km=50.0).key_rate_per_pulse
    for kind in ("chernoff", "azuma", "kato"):
        small = key_rate(source, Channel(), "ltqc", FiniteKey(1e8, concentration=kind), distance_km=50.0)
        large = key_rate(source, Channel(), "ltqc", FiniteKey(1e14, concentration=kind), distance_km=50.0)
        assert 0 < small.key_rate_per_pulse < large.key_rate_per_pulse < asymptotic
        assert kind in small.finite.concentration
    chernoff = key_rate(source, Channel(), "ltqc", FiniteKey(1e8), distance_km=50.0)
    azuma = key_rate(source, Channel(), "ltqc", FiniteKey(1e8, concentration="azuma"), distance_km=50.0)
    assert chernoff.key_rate_per_pulse > azuma.key_rate_per_pulse
    with pytest.raises(ValueError, match="concentration"):
        FiniteKey(1e8, concentration="hoeffding")
