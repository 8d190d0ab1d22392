"""Kato's inequality checked by exact computation, the box form of the coin bound, convergence to the asymptote."""

import math

import numpy as np
import pytest
from scipy.stats import binom

from qkdlab.analysis import AnalysisSource, Channel, FiniteKey, key_rate
from qkdlab.analysis.coin import max_target_error, max_target_error_box
from qkdlab.analysis.concentration import count_upper, sum_interval


def _worst_adaptive_tail(rounds: int, a: float, b: float, side: str, steps: int = 20) -> float:
    """Exact max over adaptive strategies of Pr[Kato's event] (ξ_k ∈ {0, 1}, p_k on a grid of 1/steps).

    Dynamic programming over (round, Λ so far, Σp so far): the adversary picks p_k knowing the past
    outcomes, so this is the worst martingale the inequality must cover, computed without sampling.
    """
    root = math.sqrt(rounds)
    lam = np.arange(rounds + 1)[:, None]
    total_p = np.arange(rounds * steps + 1)[None, :] / steps
    deviation = (b + a * (2 * lam / rounds - 1)) * root
    event = total_p >= lam + deviation if side == "upper" else lam >= total_p + deviation
    value = event.astype(float)
    for k in range(rounds - 1, -1, -1):
        best = np.zeros((k + 1, k * steps + 1))
        for q in range(steps + 1):
            p = q / steps
            window = slice(q, q + k * steps + 1)
            best = np.maximum(best, p * value[1:k + 2, window] + (1 - p) * value[0:k + 1, window])
        value = best
    return float(value[0, 0])


@pytest.mark.parametrize("rounds", [4, 9])
def test_kato_tail_probability_holds_against_the_exact_worst_adaptive_attack(rounds):
    """Kato's two tails are at least the exact worst-case probabilities; without the 4a/(3√N)
    correction (plain exp(−2(b² − a²))) they would not be, so the check can fail."""
    naive_broken = False
    for a, b in [(0.0, 0.5), (0.3, 0.6), (-0.3, 0.6), (0.8, 1.0), (1.2, 1.3), (-1.0, 1.2), (0.5, 0.55)]:
        s = 4 * a / (3 * math.sqrt(rounds))
        for side, factor in (("upper", 1 + s), ("lower", 1 - s)):
            exact = _worst_adaptive_tail(rounds, a, b, side)
            assert exact <= math.exp(-2 * (b * b - a * a) / factor**2) + 1e-12, (rounds, a, b, side)
            naive_broken |= exact > math.exp(-2 * (b * b - a * a))
    assert naive_broken


@pytest.mark.parametrize("p", [0.002, 0.05, 0.3, 0.7])
def test_kato_intervals_fail_at_most_epsilon_by_exact_binomial_sums(p):
    """Independent rounds: Pr[N p outside the interval] and Pr[Λ > count bound], summed exactly."""
    rounds, eps = 400, 1e-3
    counts = np.arange(rounds + 1, dtype=float)
    pmf = binom.pmf(counts, rounds, p)
    low, up = sum_interval(counts, np.full_like(counts, rounds), eps, "kato")
    assert pmf[(rounds * p < low)].sum() <= eps and pmf[(rounds * p > up)].sum() <= eps
    assert pmf[counts > count_upper(np.array(rounds * p), np.array(float(rounds)), eps, "kato")].sum() <= eps
    # not vacuous: the interval is a few standard deviations wide, far below the trivial [0, N]
    assert np.interp(rounds * p, counts, up - low) < 20 * math.sqrt(rounds * p * (1 - p)) + 40


def test_kato_beats_chernoff_for_frequent_events_and_trails_it_for_rare_ones():
    """Why the default stays Chernoff: Kato is tighter where p is not small, up to ~10 % looser for n ≲ 100."""
    eps = 1e-12
    frequent = [sum_interval(np.array(n), np.array(1e9), eps, kind) for kind in ("kato", "chernoff")
                for n in (5e8,)]
    assert frequent[0][1] - frequent[0][0] < 0.8 * (frequent[1][1] - frequent[1][0])
    rare = [sum_interval(np.array(10.0), np.array(1e9), eps, kind)[1] for kind in ("kato", "chernoff")]
    assert rare[0] > rare[1]


def test_box_bound_covers_every_consistent_point_of_the_box_and_is_exact_at_a_point():
    """Points that no attack produces ((√T − √R)² > Δ: the circle misses the disc) need no cover."""
    rng = np.random.default_rng(3)
    checked = 0
    for _ in range(300):
        re, rc = rng.uniform(0, 1e-3), rng.uniform(1e-4, 1e-2)
        distance = rng.uniform(0, 1e-4)
        t = (np.sqrt(re + rc) + rng.uniform(-1, 1) * np.sqrt(distance)) ** 2
        width = rng.uniform(0, 0.05, 3)
        box = [(v * (1 - w), v * (1 + w)) for v, w in zip((t, re, rc), width)]
        bound = max_target_error_box(*box, distance)
        points = [rng.uniform(*interval, 400) for interval in box]
        consistent = (np.sqrt(points[0]) - np.sqrt(points[1] + points[2])) ** 2 <= distance
        checked += consistent.sum()
        assert np.all(max_target_error(*points, distance)[consistent] <= bound * (1 + 1e-12))
        assert max_target_error_box(*[(v, v) for v in (t, re, rc)], distance) == pytest.approx(
            max_target_error(t, re, rc, distance), rel=1e-12)
    assert checked > 10000


def test_finite_key_rate_converges_to_the_asymptotic_rate():
    """At 150 km the old detection-free relaxation left the N → ∞ rate 2.5e-3 (relative) short."""
    source = AnalysisSource.flawed("bb84", 0.063, 1e-6)
    for distance in (50.0, 150.0):
        asymptotic = key_rate(source, Channel(), "ltqc", distance_km=distance)
        for kind in ("chernoff", "kato"):
            finite = key_rate(source, Channel(), "ltqc", FiniteKey(1e20, concentration=kind), distance_km=distance)
            assert finite.key_rate_per_pulse <= asymptotic.key_rate_per_pulse
            assert finite.key_rate_per_pulse == pytest.approx(asymptotic.key_rate_per_pulse, rel=1e-6)
            assert finite.phase_error == pytest.approx(asymptotic.phase_error, rel=1e-5)
