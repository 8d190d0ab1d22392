"""key_rate(..., method="best") (issue 15, part 3): the largest secure rate of the applicable methods, named per row."""

import numpy as np
import pytest

from qkdlab.analysis import AnalysisSource, Channel, FiniteKey, key_rate
from qkdlab.analysis.best import applicable_methods
from qkdlab.analysis.keyrate import grouped_key_rate

CHANNEL = Channel()
DISTANCES = np.array([0.0, 2.0, 40.0, 120.0, 400.0])


def test_best_is_the_largest_rate_of_every_applicable_method_per_row():
    source = AnalysisSource.flawed("bb84", 0.063, 1e-6)
    best = key_rate(source, CHANNEL, "best", distance_km=DISTANCES)
    each = {m: key_rate(source, CHANNEL, m, distance_km=DISTANCES) for m in ("ltqc", "gllp", "rt")}
    for i, row in enumerate(best):
        rates = {m: curve[i].key_rate_bps for m, curve in each.items()}
        assert row.key_rate_bps == max(rates.values())
        winner = row.parameters["winner"]
        assert rates[winner] == row.key_rate_bps and row.method == "best"
        assert set(each[winner][i].assumptions) <= set(row.assumptions)      # the winner's assumptions travel
    winners = [r.parameters["winner"] for r in best]
    assert winners[0] == "rt" and winners[2] == "ltqc"     # no sequential throttling at 0 km; LTQC beyond
    assert best[-1].key_rate_bps == 0.0


@pytest.mark.parametrize("protocol,epsilon,expected", [("bb84", 1e-6, ("ltqc", "gllp", "rt")),
                                                       ("three-state", 1e-6, ("ltqc", "rt")),
                                                       ("bb84", 0.0, ("ltqc", "gllp", "rt", "lt"))])
def test_only_methods_whose_assumptions_the_source_meets_are_tried(protocol, epsilon, expected):
    source = AnalysisSource.flawed(protocol, 0.063, epsilon)
    assert applicable_methods(source) == expected
    result = key_rate(source, CHANNEL, "best", distance_km=30.0)
    assert result.parameters["methods_tried"] == ", ".join(expected)


def test_finite_key_choice_pays_a_union_bound_over_the_methods():
    source = AnalysisSource.flawed("bb84", 0.063, 1e-6)
    finite = FiniteKey(1e11, epsilon_sec=1e-10, epsilon_cor=1e-10)
    best = key_rate(source, CHANNEL, "best", finite, distance_km=50.0)
    winner = best.parameters["winner"]
    share = key_rate(source, CHANNEL, winner, FiniteKey(1e11, epsilon_sec=1e-10 / 3, epsilon_cor=1e-10),
                     distance_km=50.0)
    full = key_rate(source, CHANNEL, winner, finite, distance_km=50.0)
    assert best.key_rate_per_pulse == share.key_rate_per_pulse
    assert 0 < best.key_rate_per_pulse < full.key_rate_per_pulse        # the choice after the data costs key
    assert best.finite.epsilon_sec == 1e-10                                # the total is what is promised
    assert any("union bound" in a for a in best.assumptions)


def test_grouped_finite_key_supports_best():
    source = AnalysisSource.flawed("bb84", 0.063, 1e-6, correlation_length=1)
    groups = [CHANNEL.observations(source.states, 20.0, block_size=5e9)] * 2
    best = grouped_key_rate(source, groups, "best", 1e10)
    ltqc = grouped_key_rate(source, groups, "ltqc", FiniteKey(1e10, epsilon_sec=1e-10 / 3))
    assert best.parameters["winner"] in ("ltqc", "gllp", "rt")
    assert best.key_rate_per_pulse >= ltqc.key_rate_per_pulse > 0
