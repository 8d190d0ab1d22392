"""key_rate(): inputs (SourceModel, Observations, Channel), interval worst cases, errors, conservative fallbacks."""

import math

import cvxpy as cp
import numpy as np
import pytest

from qkdlab.analysis import AnalysisSource, Channel, FiniteKey, key_rate, overlap_sdp
from qkdlab.model import KeyRateResult, Observations
from qkdlab.examples import flawed_source_model

CHANNEL = Channel()


def model(protocol="bb84", delta=0.063, halfwidth=0.0, epsilon=1e-6, correlation_length=0):
    return flawed_source_model(protocol, delta, epsilon, phase_halfwidth=halfwidth,
                               correlation_length=correlation_length)


def test_a_source_model_gives_the_same_rate_as_the_inline_flaw_family():
    from_model = key_rate(model(), CHANNEL, "ltqc", distance_km=80.0)
    inline = key_rate(AnalysisSource.flawed("bb84", 0.063, 1e-6), CHANNEL, "ltqc", distance_km=80.0)
    assert isinstance(from_model, KeyRateResult)
    assert from_model.key_rate_per_pulse == pytest.approx(inline.key_rate_per_pulse, rel=1e-9)


@pytest.mark.parametrize("method", ["ltqc", "gllp", "rt"])
def test_observations_and_channel_give_the_same_numbers(method):
    source = AnalysisSource.flawed("bb84", 0.063, 1e-6)
    distances = [10.0, 60.0, 120.0]
    observations = CHANNEL.observation_series(source.states, distances)
    from_obs = key_rate(source, observations, method, ec_efficiency=1.16)
    from_channel = key_rate(source, CHANNEL, method, distance_km=distances)
    assert np.allclose(from_obs.key_rate_per_pulse, from_channel.key_rate_per_pulse, rtol=1e-12)
    single = key_rate(source, observations[1], method)
    assert single.key_rate_per_pulse == pytest.approx(from_channel[1].key_rate_per_pulse, rel=1e-12)
    assert from_channel[1].distance_km == 60.0


def test_finite_key_from_expected_observations_matches_the_channel():
    source = AnalysisSource.flawed("bb84", 0.063, 1e-6)
    obs = CHANNEL.observations(source.states, 50.0, block_size=1e11)
    a = key_rate(source, obs, "ltqc", 1e11)
    b = key_rate(source, CHANNEL, "ltqc", FiniteKey(1e11), distance_km=50.0)
    assert a.key_rate_per_pulse == pytest.approx(b.key_rate_per_pulse, rel=1e-9)
    assert a.finite.key_length_bits == pytest.approx(a.key_rate_per_pulse * 1e11)


def test_phase_intervals_are_worst_cased_not_centred():
    for method, epsilon in (("lt", 0.0), ("rt", 1e-6), ("ltqc", 1e-6), ("gllp", 1e-6)):
        sharp = key_rate(model(epsilon=epsilon), CHANNEL, method, distance_km=100.0)
        blurred = key_rate(model(epsilon=epsilon, halfwidth=2e-3), CHANNEL, method, distance_km=100.0)
        assert blurred.key_rate_per_pulse < sharp.key_rate_per_pulse, method
    src = AnalysisSource.from_model(model(halfwidth=2e-3))
    assert src.effective_epsilon() == pytest.approx(math.sin(math.asin(math.sqrt(1e-6)) + 1e-3) ** 2)
    assert src.has_intervals and not AnalysisSource.from_model(model()).has_intervals


def test_correlations_split_the_finite_block_into_groups():
    plain = key_rate(model(), CHANNEL, "ltqc", 1e10, distance_km=50.0)
    grouped = key_rate(model(correlation_length=2), CHANNEL, "ltqc", 1e10, distance_km=50.0)
    assert grouped.finite.groups == 3
    assert 0 < grouped.key_rate_per_pulse < plain.key_rate_per_pulse
    asymptotic = [key_rate(model(correlation_length=n), CHANNEL, "ltqc", distance_km=50.0).key_rate_per_pulse
                  for n in (0, 2)]
    assert asymptotic[0] == asymptotic[1]           # grouping costs nothing asymptotically (App. A.3)


def test_weak_coherent_decoy_rates_are_positive_and_below_single_photons():
    source = AnalysisSource.flawed("bb84", 0.063, 1e-7)
    decoy = Channel(source="weak-coherent", intensities=(0.5, 0.1, 0.0), intensity_probabilities=(0.8, 0.1, 0.1))
    rates = key_rate(source, decoy, "ltqc", distance_km=[20.0, 80.0])
    single = key_rate(source, CHANNEL, "ltqc", distance_km=[20.0, 80.0])
    assert np.all(rates.key_rate_per_pulse > 0)
    assert np.all(rates.key_rate_per_pulse < single.key_rate_per_pulse)
    assert any("decoy" in a for a in rates[0].assumptions)


@pytest.mark.parametrize("call,message", [
    (lambda: key_rate(model(), CHANNEL, "lt", distance_km=10.0), "assumes ε = 0"),
    (lambda: key_rate(model("three-state"), CHANNEL, "gllp", distance_km=10.0), "three-state"),
    (lambda: key_rate(model(), CHANNEL, "bogus", distance_km=10.0), "unknown method"),
    (lambda: key_rate(model(), CHANNEL, "ltqc"), "distance_km"),
    (lambda: key_rate(model("three-state"), CHANNEL.observations(AnalysisSource.flawed("bb84").states, 5.0)),
     "do not match"),
    (lambda: key_rate(model(), CHANNEL, "ltqc", FiniteKey(1e9, epsilon_sec=2.0), distance_km=5.0), "epsilon_sec"),
])
def test_unusable_requests_are_refused_with_a_reason(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_counted_data_with_correlations_needs_per_group_counts():
    src = model(correlation_length=1)
    counted = CHANNEL.observations(AnalysisSource.from_model(src).states, 20.0, block_size=1e9)
    counted = counted.model_copy(update={"expected": False})
    with pytest.raises(ValueError, match="groups"):
        key_rate(src, counted, "ltqc", 1e9)


def test_an_unsure_solver_gives_no_key_and_says_so(monkeypatch):
    overlap_sdp._cached.cache_clear()
    monkeypatch.setattr(cp.Problem, "solve", lambda *a, **k: (_ for _ in ()).throw(cp.error.SolverError("diverged")))
    result = key_rate(model(epsilon=2.5e-7), CHANNEL, "ltqc", distance_km=10.0)
    overlap_sdp._cached.cache_clear()
    assert result.key_rate_per_pulse == 0.0 and result.key_rate_bps == 0.0
    assert result.solver.conservative and "diverged" in result.solver.message


def test_observations_validate_their_shape_and_add_up():
    obs = CHANNEL.observations(AnalysisSource.flawed("bb84").states, 10.0, block_size=1e6)
    total = obs + obs
    assert total.total_emissions == pytest.approx(2e6)
    assert np.allclose(total.count_array, 2 * obs.count_array)
    with pytest.raises(ValueError, match="counts has shape"):
        Observations(protocol="bb84", settings=obs.settings, bob_basis_probabilities=(0.5, 0.5),
                     emissions=obs.emissions, counts=obs.counts[:3])
    with pytest.raises(ValueError, match="non-negative"):
        Observations(protocol="bb84", settings=("Z0",), bob_basis_probabilities=(0.5, 0.5), emissions=((1.0,),),
                     counts=((((-1.0, 0.0), (0.0, 0.0)),),))
    with pytest.raises(ValueError, match="more detections"):
        Observations(protocol="bb84", settings=("Z0",), bob_basis_probabilities=(0.5, 0.5), emissions=((1.0,),),
                     counts=((((5.0, 0.0), (0.0, 0.0)),),))
    other = obs.model_copy(update={"bob_basis_probabilities": (0.9, 0.1)})
    with pytest.raises(ValueError, match="basis or setting probabilities"):
        obs + other


def test_pulse_correlations_combine_into_epsilon_and_groups():
    """Framework paper Eqs. (A7)-(A8): ε = 1 − (1 − ε_qubit)(1 − ε_correl), ε_correl = 1 − Π(1 − ε_l)."""
    source = AnalysisSource.flawed("bb84", 0.063, 1e-6, correlation_epsilons=(1e-7, 5e-8))
    assert source.epsilon == pytest.approx(1 - (1 - 1e-6) * (1 - 1e-7) * (1 - 5e-8), rel=1e-12)
    assert source.correlation_length == 2
    plain = AnalysisSource.flawed("bb84", 0.063, source.epsilon)
    for method in ("rt", "ltqc"):
        a = key_rate(source, CHANNEL, method, distance_km=100.0)
        b = key_rate(plain, CHANNEL, method, distance_km=100.0)
        assert a.key_rate_per_pulse == pytest.approx(b.key_rate_per_pulse, rel=1e-12)
        assert a.key_rate_per_pulse < key_rate(AnalysisSource.flawed("bb84", 0.063, 1e-6), CHANNEL, method,
                                               distance_km=100.0).key_rate_per_pulse
    with pytest.raises(ValueError, match="correlation"):
        AnalysisSource.flawed("bb84", 0.0, 0.0, correlation_epsilons=(2.0,))
