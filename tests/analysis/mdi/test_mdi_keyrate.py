"""MDI key rate (Bourassa et al. Eq. (A6)) against the closed-form LCQ / Ma-Razavi rates."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import i0

from qkdlab.analysis.keyrate import binary_entropy as h
from qkdlab.analysis.mdi.detection import (BB84_STATES, THREE_STATES, MdiSetup, polarization,
                                           single_photon_probabilities)
from qkdlab.analysis.mdi.keyrate import decoy_key_rate, ideal_phase_error, key_rate, single_photon_key_rate
from qkdlab.analysis.mdi.types import DetectionBounds
from qkdlab.errors import SolverError

SETUP = MdiSetup(fiber_loss_db_per_km=0.2, detector_efficiency=0.5, dark_count_probability=1e-6)
PD = SETUP.dark_count_probability
IDEAL = ideal_phase_error(BB84_STATES)


def single_photon_closed_form(t_a: float, t_b: float) -> float:
    """LCQ rate with single photons, both Bell states: Y11 [1 − h(e11^X)] − Y11 h(E11^Z) (f = 1).

    Y11, e11^X Y11: Xu, Curty, Qi, Lo, NJP 15, 113007 (2013), App. B; E11^Z Y11 = P(Ψ−|HH) by hand
    (only dark counts complete a coincidence of equal bits).
    """
    y11 = (1 - PD) ** 2 * (t_a * t_b / 2 + (2 * t_a + 2 * t_b - 3 * t_a * t_b) * PD + 4 * (1 - t_a) * (1 - t_b) * PD**2)
    e11 = (y11 / 2 - (1 - PD) ** 2 * t_a * t_b / 4) / y11
    errors_z = (1 - PD) ** 2 * PD * ((1 - (1 - t_a) * (1 - t_b)) + 2 * PD * (1 - t_a) * (1 - t_b))
    return y11 * (1 - h(e11)) - y11 * h(errors_z / y11)


def infinite_decoy_closed_form(t_a: float, t_b: float, mu: float) -> float:
    """Ma-Fung-Razavi 2012 Eq. (1) with the exact single-photon yield and phase error (infinitely many
    decoys), gains from Xu et al. (2013) App. B: μ²e^{−2μ} Y11 [1 − h(e11^X)] − Q_rect h(E_rect)."""
    y11 = (1 - PD) ** 2 * (t_a * t_b / 2 + (2 * t_a + 2 * t_b - 3 * t_a * t_b) * PD + 4 * (1 - t_a) * (1 - t_b) * PD**2)
    e11 = (y11 / 2 - (1 - PD) ** 2 * t_a * t_b / 4) / y11
    mp = (t_a + t_b) * mu
    x = np.sqrt(t_a * t_b) * mu / 2
    q_c = (2 * (1 - PD) ** 2 * np.exp(-mp / 2) * (1 - (1 - PD) * np.exp(-t_a * mu / 2))
           * (1 - (1 - PD) * np.exp(-t_b * mu / 2)))
    q_e = 2 * PD * (1 - PD) ** 2 * np.exp(-mp / 2) * (i0(2 * x) - (1 - PD) * np.exp(-mp / 2))
    return (mu * math.exp(-mu)) ** 2 * y11 * (1 - h(e11)) - (q_c + q_e) * h(q_e / (q_c + q_e))


@pytest.mark.parametrize("distance", [0.0, 30.0, 80.0, 120.0])
def test_single_photon_rate_matches_lcq_closed_form(distance):
    result = single_photon_key_rate(BB84_STATES, SETUP, distance, IDEAL)
    assert result.bounds.exact
    assert result.key_rate_per_pulse == pytest.approx(single_photon_closed_form(*SETUP.transmittances(distance)),
                                                      rel=1e-7)


def test_single_photon_rate_without_dark_counts_is_half_the_coincidence_probability():
    setup = MdiSetup(dark_count_probability=0.0)
    t_a, t_b = setup.transmittances(25.0, 5.0)
    result = single_photon_key_rate(BB84_STATES, setup, 25.0, IDEAL, distance_b_km=5.0)
    # convention: per pulse, mean over the bit pairs, summed over Ψ±; no photon-number weight
    assert result.key_rate_per_pulse == pytest.approx(t_a * t_b / 2)
    assert result.single_photon_gain == pytest.approx(t_a * t_b / 2)
    assert result.qber == pytest.approx(0.0, abs=1e-12) and result.phase_error == pytest.approx(0.0, abs=1e-12)
    assert [o.gain for o in result.per_outcome] == pytest.approx([t_a * t_b / 4, t_a * t_b / 4])


@pytest.mark.parametrize("distance", [0.0, 40.0, 100.0])
def test_decoy_rate_is_below_and_close_to_the_infinite_decoy_rate(distance):
    exact = infinite_decoy_closed_form(*SETUP.transmittances(distance), 0.6)
    paper = decoy_key_rate(BB84_STATES, SETUP, distance, IDEAL)                       # 0.05, 0.1, 0.6
    rich = decoy_key_rate(BB84_STATES, SETUP, distance, IDEAL, intensities=(0.0, 0.01, 0.05, 0.1, 0.6))
    assert 0.0 < paper.key_rate_per_pulse < rich.key_rate_per_pulse <= exact * (1 + 1e-9)
    assert rich.key_rate_per_pulse > 0.999 * exact
    assert paper.key_rate_per_pulse > 0.5 * exact
    assert paper.gain == pytest.approx(sum(o.gain for o in paper.per_outcome))


def test_photon_number_weight_of_the_key_intensity():
    result = decoy_key_rate(BB84_STATES, SETUP, 10.0, IDEAL, intensities=(0.0, 0.01, 0.05, 0.1, 0.6))
    y11 = single_photon_probabilities(polarization(BB84_STATES), polarization(BB84_STATES), SETUP, 10.0)[:2, :2]
    weight = (0.6 * math.exp(-0.6)) ** 2
    assert result.single_photon_gain == pytest.approx(weight * y11.sum(axis=2).mean(), rel=2e-3)
    assert result.single_photon_gain <= weight * y11.sum(axis=2).mean()


@pytest.mark.parametrize("rate", [single_photon_key_rate, decoy_key_rate])
def test_rate_falls_with_distance_and_ends(rate):
    rates = [rate(BB84_STATES, SETUP, d, IDEAL).key_rate_per_pulse for d in (0.0, 30.0, 60.0, 90.0, 120.0)]
    assert np.all(np.diff(rates) < 0) and rates[-1] > 0
    assert rate(BB84_STATES, SETUP, 260.0, IDEAL).key_rate_per_pulse == 0.0


@pytest.mark.parametrize("rate", [single_photon_key_rate, decoy_key_rate])
def test_alice_bob_symmetry(rate):
    forward = rate(BB84_STATES, SETUP, 20.0, IDEAL, distance_b_km=50.0)
    backward = rate(BB84_STATES, SETUP, 50.0, IDEAL, distance_b_km=20.0)
    assert forward.key_rate_per_pulse == pytest.approx(backward.key_rate_per_pulse, rel=1e-6)


def test_phase_error_callable_gets_one_outcome_at_a_time():
    seen = []

    def recorder(bounds: DetectionBounds) -> float:
        seen.append((bounds.outcomes, bounds.lower.shape))
        return IDEAL(bounds)

    result = decoy_key_rate(BB84_STATES, SETUP, 30.0, recorder, outcomes=("psi-",))
    assert seen == [(("psi-",), (4, 4, 1))]
    assert len(result.per_outcome) == 1
    both = decoy_key_rate(BB84_STATES, SETUP, 30.0, IDEAL)
    assert both.key_rate_per_pulse == pytest.approx(2 * result.key_rate_per_pulse, rel=1e-6)   # symmetric Ψ±


def test_phase_error_above_half_gives_no_key_and_nan_is_an_error():
    assert single_photon_key_rate(BB84_STATES, SETUP, 10.0, lambda b: 0.6).key_rate_per_pulse == 0.0
    with pytest.raises(SolverError, match="phase-error bound"):
        single_photon_key_rate(BB84_STATES, SETUP, 10.0, lambda b: float("nan"))


def test_error_correction_inefficiency_costs_key():
    plain = decoy_key_rate(BB84_STATES, SETUP, 60.0, IDEAL)
    costly = decoy_key_rate(BB84_STATES, SETUP, 60.0, IDEAL, ec_efficiency=1.16)
    assert plain.ec_efficiency == 1.0 and costly.key_rate_per_pulse < plain.key_rate_per_pulse


def test_three_state_protocol_needs_another_phase_error_bound():
    with pytest.raises(ValueError, match="both bits"):
        ideal_phase_error(THREE_STATES)
    # with the ideal BB84 phase error the three-state single-photon rate equals BB84's (Tamaki et al. 2014)
    rate_3 = single_photon_key_rate(THREE_STATES, SETUP, 30.0, lambda b: IDEAL(_bb84_view(b)))
    assert rate_3.key_rate_per_pulse == pytest.approx(single_photon_key_rate(BB84_STATES, SETUP, 30.0, IDEAL)
                                                      .key_rate_per_pulse, rel=1e-9)


def _bb84_view(bounds: DetectionBounds) -> DetectionBounds:
    """The honest-relay bounds of the missing 1X state (test helper: ideal states only)."""
    p = single_photon_probabilities(polarization(BB84_STATES), polarization(BB84_STATES), SETUP, 30.0,
                                    outcomes=bounds.outcomes)
    return DetectionBounds(lower=p, upper=p, outcomes=bounds.outcomes)


def test_key_rate_refuses_mismatched_shapes():
    p = np.full((4, 4, 2), 0.1)
    with pytest.raises(ValueError, match="must both have shape"):
        key_rate(DetectionBounds(lower=p, upper=p, outcomes=("psi+", "psi-")), p[:3], BB84_STATES, IDEAL)
