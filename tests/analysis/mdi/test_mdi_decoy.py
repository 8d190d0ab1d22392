"""Decoy-state LPs of Bourassa et al. App. A: validity, tightening, symmetry, failure modes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import OptimizeResult
from scipy.stats import poisson

from qkdlab.analysis.mdi import decoy
from qkdlab.analysis.mdi.decoy import DEFAULT_INTENSITIES, photon_number_weights, single_photon_bounds
from qkdlab.analysis.mdi.detection import (BB84_STATES, MdiSetup, coherent_gains, jones_from_bloch, polarization,
                                           single_photon_probabilities)
from qkdlab.errors import SolverError

SETUP = MdiSetup(fiber_loss_db_per_km=0.2, detector_efficiency=0.5, dark_count_probability=1e-6)
BB84 = polarization(BB84_STATES)


def bounds_for(distance_a, distance_b=None, intensities=DEFAULT_INTENSITIES, jones=BB84, cutoff=10):
    gains = coherent_gains(jones, jones, intensities, intensities, SETUP, distance_a, distance_b)
    return single_photon_bounds(gains, intensities, cutoff=cutoff)


@pytest.mark.parametrize(("distance_a", "distance_b"), [(0.0, None), (40.0, None), (100.0, None), (30.0, 90.0)])
def test_bounds_contain_the_true_single_photon_yields(distance_a, distance_b):
    bounds = bounds_for(distance_a, distance_b)
    truth = single_photon_probabilities(BB84, BB84, SETUP, distance_a, distance_b)
    assert bounds.lower.shape == (4, 4, 2) and not bounds.exact
    assert np.all(bounds.lower <= truth) and np.all(truth <= bounds.upper)
    if distance_b is None:   # symmetric links: the coincidence events are pinned within tens of percent
        signal = truth > 1e-3 * truth.max()
        assert np.all(bounds.lower[signal] > 0.5 * truth[signal]) and np.all(bounds.upper[signal] < 1.5 * truth[signal])


def test_bounds_contain_truth_for_flawed_states_with_vacuum_decoy():
    bloch = np.array([(0, 0.1, 1), (0, -0.2, -1), (1, 0.1, 0), (-1, 0.2, 0.1)])
    jones = jones_from_bloch(bloch / np.linalg.norm(bloch, axis=1, keepdims=True))
    intensities = (0.0, 0.05, 0.1, 0.6)
    bounds = bounds_for(60.0, intensities=intensities, jones=jones)
    truth = single_photon_probabilities(jones, jones, SETUP, 60.0)
    assert np.all(bounds.lower <= truth) and np.all(truth <= bounds.upper)


def test_bounds_contain_truth_for_arbitrary_yields():
    """Yields that no optical model produces (independent of the detection module), photons up to 40."""
    rng = np.random.default_rng(1)
    intensities = (0.02, 0.1, 0.3, 0.8)
    yields = rng.uniform(size=(3, 41, 41)) * np.array([1e-4, 1e-2, 1.0])[:, None, None]
    n = np.arange(41)
    pmf = poisson.pmf(n[None], np.array(intensities)[:, None])
    gains = np.einsum("emn,km,ln->ekl", yields, pmf, pmf).reshape(3, 1, 1, len(intensities), len(intensities))
    bounds = single_photon_bounds(gains, intensities, outcomes=("psi-",), cutoff=6)
    assert np.all(bounds.lower[:, 0, 0] <= yields[:, 1, 1]) and np.all(yields[:, 1, 1] <= bounds.upper[:, 0, 0])


def test_photons_above_the_cutoff_are_bounded_not_dropped():
    """All multi-photon pairs beyond the cutoff pass, the single photons rarely: truncating would
    have to explain the tail by the kept yields and overestimate p_11."""
    intensities, cutoff = (0.5, 1.0, 2.0), 4
    yields = np.zeros((41, 41))
    yields[cutoff + 1 :, :] = yields[:, cutoff + 1 :] = 1.0
    yields[1, 1] = 1e-3
    n = np.arange(41)
    pmf = poisson.pmf(n[None], np.array(intensities)[:, None])
    gains = np.einsum("mn,km,ln->kl", yields, pmf, pmf).reshape(1, 1, 1, 3, 3)
    bounds = single_photon_bounds(gains, intensities, outcomes=("psi-",), cutoff=cutoff)
    assert bounds.lower[0, 0, 0] <= 1e-3 <= bounds.upper[0, 0, 0]


def test_more_intensities_tighten_the_bounds():
    sets = [(0.05, 0.1, 0.6), (0.0, 0.05, 0.1, 0.6), (0.0, 0.01, 0.05, 0.1, 0.6)]
    widths = []
    previous = None
    for intensities in sets:
        bounds = bounds_for(50.0, intensities=intensities)
        if previous is not None:   # a superset of constraints: never looser (up to solver precision)
            slack = 1e-6 * previous.upper.max()
            assert np.all(bounds.lower >= previous.lower - slack) and np.all(bounds.upper <= previous.upper + slack)
        widths.append(float(np.sum(bounds.upper - bounds.lower)))
        previous = bounds
    assert widths[0] > widths[1] > widths[2]


def test_higher_cutoff_never_loosens():
    coarse, fine = bounds_for(30.0, cutoff=4), bounds_for(30.0, cutoff=10)
    slack = 1e-6 * coarse.upper.max()
    assert np.all(fine.lower >= coarse.lower - slack) and np.all(fine.upper <= coarse.upper + slack)


def test_alice_bob_symmetry_of_the_bounds():
    forward, backward = bounds_for(20.0, 80.0), bounds_for(80.0, 20.0)
    assert forward.lower == pytest.approx(np.transpose(backward.lower, (1, 0, 2)), rel=1e-6, abs=1e-15)
    assert forward.upper == pytest.approx(np.transpose(backward.upper, (1, 0, 2)), rel=1e-6, abs=1e-15)


def test_tail_mass_is_exact():
    weights, tail = photon_number_weights((0.05, 0.6), (0.1,), 3)
    assert weights.sum(axis=1) + tail == pytest.approx(np.ones(2), abs=1e-15)
    assert tail[1] == pytest.approx(1 - poisson.cdf(3, 0.6) * poisson.cdf(3, 0.1), rel=1e-12)


def test_inconsistent_gains_raise_solver_error():
    gains = np.zeros((1, 1, 1, 3, 3))
    gains[0, 0, 0, 0, 0] = 1.0          # certain detection at the weakest intensities, none at the strongest
    with pytest.raises(SolverError, match=r"\(a, b, r\) = \(0, 0, 0\)"):
        single_photon_bounds(gains, outcomes=("psi-",))


def test_failed_lp_gives_trivial_bounds(monkeypatch):
    monkeypatch.setattr(decoy, "linprog", lambda *a, **k: OptimizeResult(status=4, message="numerical trouble",
                                                                          eqlin=None))
    gains = coherent_gains(BB84, BB84, DEFAULT_INTENSITIES, DEFAULT_INTENSITIES, SETUP, 10.0)
    bounds = single_photon_bounds(gains)
    assert np.all(bounds.lower == 0.0) and np.all(bounds.upper == 1.0)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="do not match"):
        single_photon_bounds(np.zeros((4, 4, 2, 3, 2)))
