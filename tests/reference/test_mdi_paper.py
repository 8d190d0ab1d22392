"""Issue 7, section 2: MDI-QKD with leaky sources (Bourassa et al., PRA 106, 062618 (2022)).

Paper parameters: detector efficiency 50 %, dark counts 1e-6, 0.2 dB/km, symmetric links, decoy
intensities 0.05, 0.1, 0.6, asymptotic. Distances are Alice-Charlie (the x axis of Fig. 3).
The explicit-attack and random-Gram checks of item 5 and the convention checks of item 8 are in
tests/analysis/mdi/test_mdi_gram_sdp.py.
"""

import cvxpy as cp
import numpy as np
import pytest

from qkdlab.analysis.mdi import BB84_STATES, MdiSetup, MdiSource, PhaseProfile, mdi_key_rate
from qkdlab.analysis.mdi.keyrate import ideal_phase_error, single_photon_key_rate

SETUP = MdiSetup(fiber_loss_db_per_km=0.2, detector_efficiency=0.5, dark_count_probability=1e-6)
DECOYS = (0.05, 0.1, 0.6)


class Total:
    """The key of one distance: Ψ+ and Ψ− rows (each its own phase error) and their summed rate."""

    def __init__(self, curve):
        self.rows = {r.announcement: r for r in curve}
        self.key_rate_per_pulse = curve.total_per_pulse()[1][0]
        self.solver = curve[0].solver


def rate(protocol, model, intensity, distance, decoys=None):
    """The paper's convention: asymptotic, sifting → 1 (pz = 1)."""
    return Total(mdi_key_rate(MdiSource(protocol, model, intensity), SETUP, distance, decoys=decoys, pz=1.0))


def test_1_without_leakage_the_sdp_is_the_closed_form_and_bb84_equals_three_state():
    for distance in (5.0, 40.0):
        closed = single_photon_key_rate(BB84_STATES, SETUP, distance, ideal_phase_error(BB84_STATES))
        bb84 = rate("mdi-bb84", None, 0.0, distance)
        three = rate("mdi-three-state", None, 0.0, distance)
        for part in closed.per_outcome:       # each announcement its own phase error and rate
            for protocol in (bb84, three):
                row = protocol.rows[part.outcome]
                assert row.phase_error == pytest.approx(part.phase_error, rel=1e-4, abs=1e-8)
                assert row.key_rate_per_pulse == pytest.approx(part.key_rate, rel=1e-3)
        assert bb84.key_rate_per_pulse == pytest.approx(closed.key_rate_per_pulse, rel=1e-3)
        assert three.key_rate_per_pulse == pytest.approx(bb84.key_rate_per_pulse, rel=1e-3)


def test_1_rates_include_the_sifting_of_both_users_basis_choice():
    """pz = 1/2 (the default everywhere) gives a quarter of the paper's pz → 1 rate, row by row."""
    source = MdiSource("mdi-bb84", 3, 1e-5)
    paper = mdi_key_rate(source, SETUP, 20.0, pz=1.0)
    default = mdi_key_rate(source, SETUP, 20.0)
    assert [r.announcement for r in default] == ["psi+", "psi-"]
    for a, b in zip(paper, default):
        assert b.key_rate_per_pulse == pytest.approx(a.key_rate_per_pulse / 4, rel=1e-12)
        assert b.phase_error == a.phase_error and b.parameters["pz"] == 0.5
        assert any("pz²" in note for note in b.assumptions)
    with pytest.raises(ValueError, match="pz"):
        mdi_key_rate(source, SETUP, 20.0, pz=0.0)


@pytest.mark.parametrize("intensity", [1e-6, 1e-5, 1e-4])
def test_2_leakage_orders_protocols_and_models(intensity):
    distance = 20.0
    models = [rate("mdi-bb84", m, intensity, distance).key_rate_per_pulse for m in (1, 2, 3)]
    assert models[0] <= models[1] <= models[2]
    assert models[0] < models[2]
    three = rate("mdi-three-state", 3, intensity, distance).key_rate_per_pulse
    assert models[2] > three


def test_2_a_tenfold_lower_leakage_helps_more_than_a_better_model():
    distance = 20.0
    worst_model_less_light = rate("mdi-bb84", 1, 1e-5, distance).key_rate_per_pulse
    best_model_more_light = rate("mdi-bb84", 3, 1e-4, distance).key_rate_per_pulse
    assert worst_model_less_light > best_model_more_light


def test_3_with_decoys_four_states_beat_three_even_without_leakage():
    bb84 = rate("mdi-bb84", None, 0.0, 30.0, DECOYS)
    three = rate("mdi-three-state", None, 0.0, 30.0, DECOYS)
    assert bb84.key_rate_per_pulse > three.key_rate_per_pulse > 0


def test_4_the_phase_profile_for_150_ps_and_200_ps_peaks_at_two_thirds():
    profile = PhaseProfile(150e-12, 200e-12, True)
    t = np.linspace(0, profile.window_s, 20001)
    assert profile.fraction(t).max() == pytest.approx(2 / 3, abs=1e-4)
    assert profile.peak == pytest.approx(2 / 3)


def test_6_solver_failures_are_retried_and_reported_conservatively(monkeypatch):
    attempts = []

    def failing(self, *args, **kwargs):
        attempts.append(kwargs.get("solver"))
        raise cp.error.SolverError("solver diverged")

    monkeypatch.setattr(cp.Problem, "solve", failing)
    result = rate("mdi-bb84", 3, 1e-5, 10.0)
    assert len(attempts) >= 2                       # retried (other settings, then another solver)
    assert result.key_rate_per_pulse == 0.0 and result.solver.conservative
    assert all(row.phase_error == 0.5 for row in result.rows.values())
    assert "solver diverged" in result.solver.message


def test_7_every_rate_is_certified_and_agrees_with_the_solver():
    for decoys in (None, DECOYS):
        result = rate("mdi-bb84", 3, 1e-5, 20.0, decoys)
        assert result.solver.certified and not result.solver.conservative
        assert result.solver.gap <= 1e-5
        assert result.key_rate_per_pulse > 0
