"""Leakage-light models (Bourassa et al., PRA 106, 062618 (2022), Sec. III, Eqs. (11)-(17)) and the
phase profile of App. D, checked against brute-force states and integrals."""

from __future__ import annotations

import numpy as np
import pytest

from qkdlab.analysis.mdi.detection import BB84_STATES, polarization
from qkdlab.analysis.mdi.leakage_models import (CoherentLeakage, FullInformationLeakage, TimeDependentLeakage,
                                                encoded_jones, leakage_light, nominal_phases, signal_gram)
from qkdlab.transmitter import PhaseProfile, leakage_phase_fraction
from qkdlab.errors import SolverError
from qkdlab.model import Bound, LeakageModel
from qkdlab.sim.physics import SimParameters, TransmitterModel

PROFILE = PhaseProfile(150e-12, 200e-12)


def test_phase_profile_peaks_at_two_thirds_on_a_500_ps_window() -> None:
    t = np.linspace(-100e-12, 700e-12, 8001)
    f = PROFILE.fraction(t)
    assert f.max() == pytest.approx(2 / 3, abs=1e-12) and PROFILE.peak == pytest.approx(2 / 3)
    assert PROFILE.window_s == pytest.approx(500e-12)
    assert np.all(f[(t <= 0) | (t >= 500e-12)] == 0)
    assert np.all(PhaseProfile(150e-12, 200e-12, faraday_mirror=False).fraction(t) == 0)
    # f is linear between the breakpoints
    edges = PROFILE.breakpoints_s
    mid = (edges[:-1] + edges[1:]) / 2
    assert np.allclose(PROFILE.fraction(mid), (PROFILE.fraction(edges[:-1]) + PROFILE.fraction(edges[1:])) / 2)


def test_simulator_uses_the_same_phase_profile() -> None:
    model = TransmitterModel(SimParameters(faraday_mirror=True, pm_electrode_transit_s=120e-12,
                                           pm_drive_pulse_width_s=300e-12))
    t = np.linspace(-50e-12, 700e-12, 301)
    assert np.array_equal(model.leakage_phase_fraction(t), leakage_phase_fraction(t, 120e-12, 300e-12))


def test_nominal_phases_azimuth_flaw_and_offsets() -> None:
    assert np.allclose(nominal_phases(BB84_STATES), [0, np.pi, np.pi / 2, 3 * np.pi / 2])
    assert np.allclose(nominal_phases(("0X", "1X"), test_azimuth=0.3), [0.3, 0.3 + np.pi])
    flawed = nominal_phases(BB84_STATES, delta=0.1, offsets=[0.0, 0.01, 0.0, -0.02])
    assert np.allclose(flawed, (1 + 0.1 / np.pi) * np.array([0, np.pi, np.pi / 2, 3 * np.pi / 2]) + [0, 0.01, 0, -0.02])
    with pytest.raises(ValueError, match="unknown state labels"):
        nominal_phases(("0Y",))


def test_encoded_jones_are_the_detection_frame_states_up_to_phases() -> None:
    jones = encoded_jones(nominal_phases(BB84_STATES))
    overlaps = np.abs(np.sum(polarization(BB84_STATES).conj() * jones, axis=1))
    assert np.allclose(overlaps, 1.0)
    assert np.allclose(np.abs(jones.conj() @ jones.T), np.abs(signal_gram(nominal_phases(BB84_STATES))))


def _coherent_state(amplitudes: np.ndarray, cutoff: int = 25) -> np.ndarray:
    """|α_H⟩ ⊗ |α_V⟩ in a truncated Fock space (brute force)."""
    n = np.arange(cutoff)
    factorial = np.cumprod(np.concatenate([[1.0], n[1:]]))
    modes = [np.exp(-abs(a) ** 2 / 2) * a**n / np.sqrt(factorial) for a in amplitudes]
    return np.kron(*modes)


def test_model_2_overlaps_match_explicit_coherent_states() -> None:
    phases = nominal_phases(BB84_STATES, delta=0.2)
    mean_photons = 0.7
    polarizations = np.stack([np.full(4, np.cos(np.pi / 4)), np.sin(np.pi / 4) * np.exp(1j * phases)], axis=1)
    states = np.array([_coherent_state(np.sqrt(mean_photons) * p) for p in polarizations])
    assert np.allclose(CoherentLeakage(mean_photons).overlaps(phases), states.conj() @ states.T, atol=1e-12)


def test_model_3_overlaps_match_a_brute_force_integral() -> None:
    phases = nominal_phases(BB84_STATES, test_azimuth=2.0, offsets=[0.1, 0.0, -0.2, 0.05])
    theta = np.array([0.7, 0.8, np.pi / 4, 0.9])
    mean_photons = 0.3
    t = np.linspace(0.0, PROFILE.window_s, 400_001)
    f = PROFILE.fraction(t)
    p = np.stack([np.cos(theta)[:, None] * np.ones_like(t), np.sin(theta)[:, None] * np.exp(1j * phases[:, None] * f)])
    expected = np.empty((4, 4), dtype=complex)
    for b in range(4):
        for a in range(4):
            integrand = np.conj(p[:, b]) * p[:, a]
            expected[b, a] = np.exp(-mean_photons * (1 - np.trapezoid(integrand.sum(axis=0), t) / PROFILE.window_s))
    got = TimeDependentLeakage(mean_photons, PROFILE).overlaps(phases, theta)
    assert np.allclose(got, expected, atol=1e-9)


def test_model_3_quadrature_failure_raises_solver_error() -> None:
    with pytest.raises(SolverError, match="quadrature error"):
        TimeDependentLeakage(1e-4, PROFILE).overlaps(np.array([0.0, 400.0]))


def test_models_share_the_vacuum_probability_and_give_psd_grams() -> None:
    phases = nominal_phases(BB84_STATES)
    mean_photons = 1e-2
    model1 = FullInformationLeakage(mean_photons).overlaps(phases)
    assert np.allclose(model1, np.exp(-mean_photons) + (1 - np.exp(-mean_photons)) * np.eye(4))
    for leakage in (FullInformationLeakage(mean_photons), CoherentLeakage(mean_photons),
                    TimeDependentLeakage(mean_photons, PROFILE)):
        gram = signal_gram(phases, leakage)
        assert np.allclose(np.diag(gram), 1.0) and np.allclose(gram, gram.conj().T)
        assert np.linalg.eigvalsh(gram).min() > -1e-12
        assert np.linalg.matrix_rank(gram, tol=1e-9) == 4     # the leakage lifts the qubit's linear dependences
    # Model 3's leakage sees at most 2/3 of each phase difference: for |ϕ_a − ϕ_b| ≤ π its states are
    # closer than Model 2's (beyond π the unwrapped phase can make them farther: App. E 2)
    close = np.abs(phases[:, None] - phases[None, :]) <= np.pi
    model2, model3 = CoherentLeakage(mean_photons).overlaps(phases), TimeDependentLeakage(mean_photons, PROFILE).overlaps(phases)
    assert np.all(np.abs(model3[close]) >= np.abs(model2[close]) - 1e-15)


def test_no_faraday_mirror_or_no_light_means_no_side_channel() -> None:
    phases = nominal_phases(BB84_STATES)
    ideal = signal_gram(phases)
    assert np.allclose(signal_gram(phases, TimeDependentLeakage(0.1, PhaseProfile(150e-12, 200e-12, False))), ideal)
    for leakage in (FullInformationLeakage(0.0), CoherentLeakage(0.0), TimeDependentLeakage(0.0, PROFILE)):
        assert np.allclose(signal_gram(phases, leakage), ideal)


def test_leakage_light_from_a_calibrated_leakage_model() -> None:
    calibrated = LeakageModel(mean_photons_per_slot=Bound(value=1e-5, upper=2e-5),
                              relative_energy=Bound(value=1e-6), pm_electrode_transit_s=150e-12,
                              drive_pulse_width_s=200e-12, faraday_mirror=True)
    model3 = leakage_light(calibrated)
    assert isinstance(model3, TimeDependentLeakage) and model3.mean_photons == 2e-5
    assert model3.profile == PROFILE
    assert leakage_light(calibrated, 1) == FullInformationLeakage(2e-5)
    assert leakage_light(calibrated, 2) == CoherentLeakage(2e-5)
    no_geometry = LeakageModel(mean_photons_per_slot=Bound(value=1e-5), relative_energy=Bound(value=1e-6))
    assert leakage_light(no_geometry, 2) == CoherentLeakage(1e-5)
    with pytest.raises(ValueError, match="Model 3 needs"):
        leakage_light(no_geometry, 3)
    with pytest.raises(ValueError, match="not one of 1, 2, 3"):
        leakage_light(calibrated, 4)  # type: ignore[arg-type]
