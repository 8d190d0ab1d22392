"""Phase-modulation and isolation calibration against the simulator's ground truth, with coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qkdlab.calibration.isolation import calibrate_isolation
from qkdlab.calibration.phase import calibrate_phase
from qkdlab.bench import Bench
from qkdlab.errors import CalibrationError
from qkdlab.scans import run_scan
from qkdlab.transmitter import drive_levels, nominal_phases
from qkdlab.store import Store


def true_phases(model, protocol: str = "bb84", vpi_nominal: float = 4.0) -> np.ndarray:
    """Encoded phases relative to the first setting, from the simulator's PM law φ(V)."""
    levels = drive_levels(nominal_phases(protocol)[1], vpi_nominal)
    return model.pm_phase(levels) - model.pm_phase(levels[0])


@pytest.mark.parametrize("protocol", ["bb84", "three-state"])
def test_phases_fringe_and_delta_match_the_simulated_modulator(tmp_path, protocol) -> None:
    store = Store(tmp_path / "f.h5")
    with Bench.simulated().open() as bench:
        run = store.read(run_scan("phase-modulation", bench, store, protocol=protocol).name)
        model = bench.sim.model
    cal = calibrate_phase(run, failure_probability=0.01)
    p = model.params
    assert cal.visibility.contains(p.interferometer_visibility)
    assert cal.vpi.contains(p.pm_vpi_rf_v) and cal.nonlinearity.contains(p.pm_nonlinearity_rad_per_v2)
    truth = true_phases(model, protocol)
    for state, phase in zip(cal.states, truth):
        assert state.phase.contains(phase), (state.label, state.phase, phase)
    nominal = nominal_phases(protocol)[1]
    delta_truth = math.pi * (np.sum(truth * nominal) / np.sum(nominal**2) - 1)
    assert cal.delta.contains(delta_truth)
    # the quadratic nonlinearity is not of the one-parameter family: the residual says so
    residual_truth = np.sqrt(np.mean((truth - (1 + delta_truth / math.pi) * nominal) ** 2))
    assert cal.delta_fit_residual_rad == pytest.approx(residual_truth, abs=2e-3)
    assert cal.states[0].bloch == pytest.approx((0.0, 0.0, 1.0))


def test_a_linear_modulator_gives_the_vpi_mismatch_delta(tmp_path) -> None:
    """With no nonlinearity, δ = π (Vπ_assumed / Vπ_true - 1) exactly (a mis-calibrated linear PM)."""
    store = Store(tmp_path / "f.h5")
    with Bench.simulated(pm_nonlinearity_rad_per_v2=0.0, pm_vpi_rf_v=4.1).open() as bench:
        run = store.read(run_scan("phase-modulation", bench, store, vpi_nominal="4 V").name)
    cal = calibrate_phase(run, failure_probability=0.01)
    assert cal.delta.contains(math.pi * (4.0 / 4.1 - 1))
    assert cal.delta_fit_residual_rad < 1e-3  # the family describes a linear modulator


def test_isolation_gamma_and_trojan_horse_bound(tmp_path) -> None:
    store = Store(tmp_path / "f.h5")
    with Bench.simulated().open() as bench:
        run = store.read(run_scan("isolation", bench, store).name)
        gamma_true = 10 ** (-bench.sim.model.params.isolation_db / 10)
    gamma, part = calibrate_isolation(run, failure_probability=0.01, repetition_rate_hz=1e9, passive_attenuation_db=0)
    assert gamma.upper >= gamma_true and gamma.value == pytest.approx(gamma_true, rel=0.02)
    # Lucamarini et al.: N = 1e20 photons/s, so μ_in = 1e11 at 1 GHz: 62 dB of isolation alone lets
    # μ_out ≫ 1 come back, and the bound saturates at ε = 1 (no security from this part)
    assert part.upper == 1.0
    # the output attenuator (65 dB) is passed twice: γ_total = γ 10^-13, ε_THA = γ^U 1e-13 1e11
    _, part = calibrate_isolation(run, failure_probability=0.01, repetition_rate_hz=1e9, passive_attenuation_db=65)
    assert part.upper == pytest.approx(gamma.upper * 1e-13 * 1e11)
    # the built-in bench records its 65 dB output attenuator with the run: the same bound by default
    assert run.parameter("unprobed_attenuation") == 65
    _, recorded = calibrate_isolation(run, failure_probability=0.01, repetition_rate_hz=1e9)
    assert recorded.upper == part.upper
    assert part.details["coherent_state_value"] == pytest.approx(-math.expm1(-part.upper))
    assert part.details["coherent_state_value"] <= part.upper
    assert part.degree_of_freedom == "own-mode" and part.provenance.run == run.name


def test_wrong_kind_and_too_few_points_are_refused(tmp_path) -> None:
    store = Store(tmp_path / "f.h5")
    with Bench.simulated().open() as bench:
        iso = store.read(run_scan("isolation", bench, store, attenuations="0").name)
        phase = store.read(run_scan("phase-modulation", bench, store, points=5, repeats=2).name)
    with pytest.raises(CalibrationError, match="isolation run cannot give the encoded phases"):
        calibrate_phase(iso, failure_probability=0.01)
    with pytest.raises(CalibrationError, match="too few"):
        calibrate_phase(phase, failure_probability=0.01)
    with pytest.raises(CalibrationError, match="too few injected powers"):
        calibrate_isolation(iso, failure_probability=0.01, repetition_rate_hz=1e9)


@pytest.mark.slow
def test_coverage_of_the_isolation_and_phase_bounds_over_200_seeds(tmp_path) -> None:
    """The bounds hold at least as often as their confidence promises (3σ binomial allowance)."""
    failure, reps = 0.1, 200
    gamma_hits, phase_hits = 0, np.zeros(4)
    for seed in range(reps):
        store = Store(tmp_path / f"s{seed}.h5")
        with Bench.simulated(seed=seed).open() as bench:
            iso = store.read(run_scan("isolation", bench, store, attenuations="0, 6, 12, 18", repeats=2,
                                      dark_repeats=2).name)
            phase = store.read(run_scan("phase-modulation", bench, store, points=41, repeats=4).name)
            gamma_true = 10 ** (-bench.sim.model.params.isolation_db / 10)
            truth = true_phases(bench.sim.model)
        gamma, _ = calibrate_isolation(iso, failure_probability=failure, repetition_rate_hz=1e9)
        gamma_hits += gamma.upper >= gamma_true
        cal = calibrate_phase(phase, failure_probability=failure)
        phase_hits += [s.phase.contains(t) for s, t in zip(cal.states, truth)]
    allowance = 3 * math.sqrt(failure * (1 - failure) / reps)
    assert gamma_hits / reps >= 1 - failure - allowance
    per_setting = failure / 5  # Bonferroni share of each setting's interval
    assert np.all(phase_hits / reps >= 1 - per_setting - 3 * math.sqrt(per_setting * (1 - per_setting) / reps))
