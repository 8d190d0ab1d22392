"""One rate convention: per emitted pulse, with the sifting the basis probabilities imply (pz)."""

import math

import numpy as np
import pytest

from qkdlab.analysis import AnalysisSource, Channel, FiniteKey, key_rate
from qkdlab.analysis.keyrate import binary_entropy


def _efficient_bb84_closed_form(distance_km: float, channel: Channel) -> float:
    """Ideal single-photon BB84 with pz → 1 (Lo-Chau-Ardehali; the papers' Fig. 1 at ε = 0):
    R = Q [1 − h(E) − f h(E)], Q the detection and E the error probability per pulse, the phase
    error equal to the bit error by symmetry. Threshold detectors, double clicks to a random bit."""
    eta = 10 ** (-channel.fiber_loss_db_per_km * distance_km / 10) * channel.detector_efficiency
    pd = channel.dark_count_probability
    right = eta * (1 - pd) + (1 - eta) * pd * (1 - pd)
    wrong = (1 - eta) * pd * (1 - pd)
    both = eta * pd + (1 - eta) * pd**2
    q = right + wrong + both
    e = (wrong + both / 2) / q
    return q * (1 - float(binary_entropy(e)) - channel.ec_efficiency * float(binary_entropy(e)))


@pytest.mark.parametrize("distance", [0.0, 100.0, 250.0])
def test_pz_one_is_the_papers_efficient_bb84_rate(distance):
    channel = Channel()
    ideal = AnalysisSource.flawed("bb84", 0.0, 0.0)
    expected = _efficient_bb84_closed_form(distance, channel)
    for method in ("ltqc", "gllp", "lt"):
        result = key_rate(ideal, channel, method, distance_km=distance, pz=1.0)
        assert result.key_rate_per_pulse == pytest.approx(expected, rel=1e-7, abs=0)
        assert result.key_rate_bps == pytest.approx(expected * channel.repetition_rate_hz, rel=1e-7, abs=0)
        assert result.parameters["pz"] == 1.0 and any("pz → 1" in a for a in result.assumptions)
    # [F] Fig. 1: at ε = 0 the three-state protocol gives the BB84 rate (flaws included)
    flawed = [key_rate(AnalysisSource.flawed(p, 0.063, 0.0), channel, "lt", distance_km=distance, pz=1.0)
              for p in ("bb84", "three-state")]
    assert flawed[1].key_rate_per_pulse == pytest.approx(flawed[0].key_rate_per_pulse, rel=1e-6)


def test_rates_include_the_sifting_and_pz_one_is_the_limit():
    source = AnalysisSource.flawed("bb84", 0.063, 1e-6)
    default = key_rate(source, Channel(), "ltqc", distance_km=50.0)
    half = key_rate(source, Channel(), "ltqc", distance_km=50.0, pz=0.5)
    limit = key_rate(source, Channel(), "ltqc", distance_km=50.0, pz=1.0)
    assert default.key_rate_per_pulse == half.key_rate_per_pulse == pytest.approx(limit.key_rate_per_pulse / 4)
    assert default.parameters["pz"] == 0.5 and any("0.5 × 0.5" in a for a in default.assumptions)
    near = [key_rate(source, Channel(), "ltqc", distance_km=50.0, pz=p).key_rate_per_pulse for p in (0.9, 0.999)]
    assert near[0] == pytest.approx(0.81 * limit.key_rate_per_pulse, rel=1e-9)
    assert near[1] == pytest.approx(0.999**2 * limit.key_rate_per_pulse, rel=1e-9)
    assert limit.phase_error == pytest.approx(default.phase_error, rel=1e-12)


def test_bad_pz_requests_are_refused_with_the_reason():
    source = AnalysisSource.flawed("bb84", 0.063, 1e-6)
    with pytest.raises(ValueError, match="finite key needs pz < 1"):
        key_rate(source, Channel(), "ltqc", FiniteKey(1e10), distance_km=50.0, pz=1.0)
    for bad in (0.0, 1.5, math.nan):
        with pytest.raises(ValueError, match="pz"):
            key_rate(source, Channel(), "ltqc", distance_km=50.0, pz=bad)
    observed = Channel().observations(source.states, 50.0)
    with pytest.raises(ValueError, match="observed data carry their own"):
        key_rate(source, observed, "ltqc", pz=0.5)
    counted = key_rate(source, observed, "ltqc")
    assert counted.parameters["pz"] == pytest.approx(0.5) and counted.parameters["pz_bob"] == 0.5


def test_finite_key_with_a_high_pz_beats_the_default_at_large_n():
    source = AnalysisSource.flawed("bb84", 0.063, 1e-6)
    rates = [key_rate(source, Channel(), "ltqc", FiniteKey(1e12), distance_km=50.0, pz=p).key_rate_per_pulse
             for p in (0.5, 0.9)]
    assert rates[1] > 2 * rates[0] > 0
    assert np.isfinite(rates).all()
