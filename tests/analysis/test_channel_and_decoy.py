"""The channel model against textbook formulas, and the decoy-state bounds against the truth and each other."""

import math

import numpy as np
import pytest

from qkdlab.analysis import Channel
from qkdlab.analysis.channel import transmittance
from qkdlab.analysis.decoy import linear_program_bounds, vacuum_weak_bounds
from qkdlab.analysis.states import StateSet
from qkdlab.errors import SolverError


def test_single_photon_channel_matches_the_threshold_detector_formulas():
    states = StateSet.flawed("bb84", 0.1)
    channel = Channel(dark_count_probability=1e-5, misalignment=0.01)
    out = channel.outcome_probabilities(states, np.array([0.0, 30.0]))
    eta = transmittance(np.array([0.0, 30.0]), 0.2, 0.73)
    pd, em = 1e-5, 0.01
    for d in range(2):
        for j, ket in enumerate(states.kets):
            for b, basis in enumerate(("Z", "X")):
                kets = ([1, 0], [0, 1]) if basis == "Z" else ([1 / math.sqrt(2), 1 / math.sqrt(2)],
                                                              [1 / math.sqrt(2), -1 / math.sqrt(2)])
                t = [abs(np.vdot(k, ket)) ** 2 for k in kets]
                t = [(1 - em) * t[0] + em * t[1], (1 - em) * t[1] + em * t[0]]
                for o in range(2):
                    only = eta[d] * t[o] * (1 - pd) + (1 - eta[d]) * pd * (1 - pd)
                    both = eta[d] * pd + (1 - eta[d]) * pd ** 2
                    assert out[d, j, 0, b, o] == pytest.approx(only + both / 2, rel=1e-12)


def test_weak_coherent_channel_is_poissonian():
    states = StateSet.flawed("bb84", 0.0)
    channel = Channel(source="weak-coherent", intensities=(0.5, 0.1, 0.0), intensity_probabilities=(0.8, 0.1, 0.1))
    out = channel.outcome_probabilities(states, 20.0)
    eta = float(transmittance(20.0, 0.2, 0.73))
    pd = 1e-8
    right = 1 - (1 - pd) * math.exp(-0.5 * eta)
    assert out[0, 0, 0, 0] == pytest.approx(right * (1 - pd) + right * pd / 2, rel=1e-12)
    assert out[0, 2, 0, 0] == pytest.approx(pd * (1 - pd) + pd * pd / 2, rel=1e-12)   # vacuum: dark counts only


def test_observations_from_the_channel_are_self_consistent():
    states = StateSet.flawed("three-state", 0.05)
    channel = Channel(alice_z_probability=0.7, bob_z_probability=0.6)
    obs = channel.observations(states, 40.0, block_size=1e10)
    assert obs.total_emissions == pytest.approx(1e10)
    assert obs.settings == ("Z0", "Z1", "X0") and obs.expected
    assert np.allclose(obs.yields(), channel.outcome_probabilities(states, 40.0))
    assert obs.emission_array[:, 0] == pytest.approx([0.35e10, 0.35e10, 0.3e10])


@pytest.mark.parametrize("bad", [dict(detector_efficiency=0.0), dict(dark_count_probability=0.7),
                                 dict(ec_efficiency=0.9), dict(alice_z_probability=1.0),
                                 dict(source="weak-coherent", intensities=(0.5,), intensity_probabilities=(0.5,)),
                                 dict(intensities=(0.5, 0.1), intensity_probabilities=(0.5, 0.5))])
def test_bad_channel_parameters_are_named(bad):
    with pytest.raises(ValueError) as info:
        Channel(**bad)
    assert any(word in str(info.value) for word in list(bad) + ["intensit", "probability"])


def photon_yields(eta, pd, n_max=60):
    n = np.arange(n_max)
    return 1 - (1 - pd) ** 2 * (1 - eta) ** n


def poisson_mix(yields, mu):
    n = np.arange(len(yields))
    return float(np.sum(np.exp(-mu) * mu ** n / np.array([math.factorial(int(k)) for k in n]) * yields))


@pytest.mark.parametrize("eta", [0.5, 1e-2, 1e-4])
def test_decoy_bounds_contain_the_true_single_photon_yield(eta):
    mus = (0.5, 0.1, 0.0)
    y = photon_yields(eta, 1e-6)
    q = np.array([poisson_mix(y, m) for m in mus])
    low, up = vacuum_weak_bounds(q, q, mus)
    lp_low, lp_up = linear_program_bounds(q, q, mus)
    assert low <= y[1] <= up and lp_low <= y[1] <= lp_up
    assert lp_low >= low - 1e-12 and lp_up <= up + 1e-12            # the LP is exact, the analytic bound is not tighter
    assert (y[1] - low) / y[1] < 0.1                                 # and the analytic lower bound is close


def test_more_decoys_tighten_the_linear_program():
    y = photon_yields(1e-3, 1e-6)
    few, many = (0.5, 0.1, 0.0), (0.5, 0.3, 0.1, 0.02, 0.0)
    q_few = np.array([poisson_mix(y, m) for m in few])
    q_many = np.array([poisson_mix(y, m) for m in many])
    lf, uf = linear_program_bounds(q_few, q_few, few)
    lm, um = linear_program_bounds(q_many, q_many, many)
    assert lm >= lf - 1e-12 and um <= uf + 1e-12 and (um - lm) < (uf - lf)


def test_decoy_bounds_are_worst_case_over_intervals():
    mus = (0.5, 0.1, 0.0)
    y = photon_yields(1e-2, 1e-6)
    q = np.array([poisson_mix(y, m) for m in mus])
    low, up = vacuum_weak_bounds(q, q, mus)
    wide_low, wide_up = vacuum_weak_bounds(q * 0.99, q * 1.01, mus)
    assert wide_low < low and wide_up > up


def test_inconsistent_decoy_data_is_refused():
    with pytest.raises(SolverError, match="inconsistent"):
        linear_program_bounds(np.array([0.001, 0.5, 0.0]), np.array([0.001, 0.5, 0.0]), (0.5, 0.1, 0.0))


def test_decoy_roles_are_checked():
    with pytest.raises(ValueError, match="vacuum"):
        vacuum_weak_bounds(np.ones(3), np.ones(3), (0.5, 0.1, 0.05))
