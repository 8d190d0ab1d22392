"""Leakage-light and pulse-correlation calibration against the simulator's ground truth."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from qkdlab.calibration.correlations import calibrate_correlations
from qkdlab.calibration.leakage import calibrate_leakage
from qkdlab.errors import CalibrationError
from qkdlab.scans import run_scan
from qkdlab.transmitter import drive_levels, nominal_phases
from qkdlab.store import Store

from qkdlab.bench import Bench


def true_leak_ratio(model, duty: float = 0.1, carving: float = 3.6) -> float:
    """Leak energy per slot over pulse energy at the exact null (the sim's IM law)."""
    null = model.im_bias_for("null")
    return (1 - duty) / duty * float(model.im_transmission(null, 0.0) / model.im_transmission(null, carving))


@pytest.mark.parametrize("er_db", [28.0, 20.0])
def test_leakage_bounds_contain_the_true_leak_and_give_epsilon(tmp_path, er_db) -> None:
    store = Store(tmp_path / "f.h5")
    with Bench.simulated(im_extinction_ratio_db=er_db, im_drift_v_per_s=0.0).open() as bench:
        er = store.read(run_scan("extinction-ratio", bench, store, repeats=10).name)
        leak = store.read(run_scan("leakage-light", bench, store, acquisitions=4).name)
        truth = true_leak_ratio(bench.sim.model)
    model, part = calibrate_leakage(er, leak, mean_photon_number=0.5, failure_probability=0.01)
    assert model.relative_energy.upper >= truth
    assert model.relative_energy.value == pytest.approx(truth, rel=0.08)
    for key in ("rho_extinction-ratio", "rho_leakage-light"):  # the two methods agree
        assert part.details[key] == pytest.approx(truth, rel=0.08)
    assert model.mean_photons_per_slot.upper == pytest.approx(0.5 * model.relative_energy.upper)
    assert part.upper == pytest.approx(-math.expm1(-model.mean_photons_per_slot.upper))
    assert model.extinction_ratio_db.lower <= er_db + 0.05
    assert model.pm_electrode_transit_s == pytest.approx(150e-12) and not model.faraday_mirror
    assert len(model.profile) == len(model.times_s) > 10 and max(model.profile) == pytest.approx(1.0, rel=0.1)
    only_er, _ = calibrate_leakage(er, None, mean_photon_number=0.5, failure_probability=0.01)
    assert only_er.relative_energy.upper >= truth and not only_er.profile


def test_leakage_inputs_are_checked(tmp_path) -> None:
    store = Store(tmp_path / "f.h5")
    with Bench.simulated().open() as bench:
        iso = store.read(run_scan("isolation", bench, store, attenuations="0, 10").name)
    with pytest.raises(CalibrationError, match="give an extinction-ratio run"):
        calibrate_leakage(None, None, mean_photon_number=0.5, failure_probability=0.01)
    with pytest.raises(CalibrationError, match="not an extinction-ratio run"):
        calibrate_leakage(iso, None, mean_photon_number=0.5, failure_probability=0.01)


def test_coverage_of_the_leakage_upper_bound_over_200_seeds(tmp_path) -> None:
    failure, reps = 0.1, 200
    hits = 0
    for seed in range(reps):
        store = Store(tmp_path / f"s{seed}.h5")
        with Bench.simulated(seed=seed, im_drift_v_per_s=0.0).open() as bench:
            leak = store.read(run_scan("leakage-light", bench, store, acquisitions=3, averages=16).name)
            truth = true_leak_ratio(bench.sim.model)
        model, _ = calibrate_leakage(None, leak, mean_photon_number=0.5, failure_probability=failure)
        hits += model.relative_energy.upper >= truth
    assert hits / reps >= 1 - failure - 3 * math.sqrt(failure * (1 - failure) / reps)


def _truth_per_lag(model, pattern: np.ndarray, lags: int) -> list[float]:
    """Largest phase change caused by the setting l pulses back, from the sim's PM law with memory."""
    p = model.params
    levels = drive_levels(nominal_phases("bb84")[1], 4.0)[pattern % 4]
    effective = (1 - sum(p.pm_memory)) * levels
    for lag, c in enumerate(p.pm_memory, start=1):
        effective = effective + c * np.roll(levels, lag)
    phase = model.pm_phase(effective)
    keys = [(int(pattern[k]), *(int(pattern[k - l]) for l in range(1, lags + 1))) for k in range(pattern.size)]
    by_key = dict(zip(keys, phase))
    out = []
    for lag in range(lags):
        worst = 0.0
        for a, b in itertools.combinations(by_key, 2):
            if a[:1 + lag] + a[2 + lag:] == b[:1 + lag] + b[2 + lag:]:
                worst = max(worst, abs(by_key[a] - by_key[b]))
        out.append(worst)
    return out


@pytest.mark.parametrize("memory", [(0.03, 0.008), ()])
def test_correlation_bounds_contain_the_true_phase_changes(tmp_path, memory) -> None:
    store = Store(tmp_path / "f.h5")
    with Bench.simulated(pm_memory=list(memory)).open() as bench:
        run = store.read(run_scan("pulse-correlations", bench, store, acquisitions=6).name)
        model = bench.sim.model
    p = model.params

    def fringe_phase_at(volts):  # the simulator's true PM law and interferometer phase
        return model.pm_phase(volts) + p.interferometer_phase_rad

    corr, part = calibrate_correlations(run, visibility=p.interferometer_visibility, fringe_phase_at=fringe_phase_at,
                                        failure_probability=0.01)
    truth = _truth_per_lag(model, np.asarray(run.parameter("pattern"), dtype=int), 2)
    for bound, true_change, eps in zip(corr.phase_deviation_per_lag, truth, corr.epsilon_per_lag):
        assert bound.lower <= true_change <= bound.upper, (bound, true_change)
        assert eps >= math.sin(true_change / 2) ** 2
    assert part.upper == pytest.approx(1 - np.prod([1 - e for e in corr.epsilon_per_lag]))
    assert part.degree_of_freedom == "qubit"
    if memory:
        assert corr.length >= 1
    else:
        assert corr.length == 0 and all(b.lower == 0 for b in corr.phase_deviation_per_lag)


def test_correlations_need_two_acquisitions_per_quadrature_and_the_right_kind(tmp_path) -> None:
    store = Store(tmp_path / "f.h5")
    with Bench.simulated().open() as bench:
        run = store.read(run_scan("pulse-correlations", bench, store, acquisitions=1).name)
    with pytest.raises(CalibrationError, match="at least two"):
        calibrate_correlations(run, visibility=0.97, fringe_phase_at=lambda v: v, failure_probability=0.01)
    with pytest.raises(CalibrationError, match="cannot give pulse correlations"):
        calibrate_correlations(Store(tmp_path / "f.h5").read(1).__class__(**{**Store(tmp_path / "f.h5").read(1).__dict__,
                               "summary": Store(tmp_path / "f.h5").read(1).summary.__class__(
                                   **{**Store(tmp_path / "f.h5").read(1).summary.__dict__, "kind": "isolation"})}),
                               visibility=0.97, fringe_phase_at=lambda v: v, failure_probability=0.01)


@pytest.mark.slow
def test_coverage_of_the_correlation_bounds_over_200_seeds(tmp_path) -> None:
    failure, reps = 0.1, 200
    hits = np.zeros(2)
    for seed in range(reps):
        store = Store(tmp_path / f"s{seed}.h5")
        with Bench.simulated(seed=seed).open() as bench:
            run = store.read(run_scan("pulse-correlations", bench, store, acquisitions=4, averages=16).name)
            model = bench.sim.model
        p = model.params
        corr, _ = calibrate_correlations(run, visibility=p.interferometer_visibility,
                                         fringe_phase_at=lambda v: model.pm_phase(v) + p.interferometer_phase_rad,
                                         failure_probability=failure)
        truth = _truth_per_lag(model, np.asarray(run.parameter("pattern"), dtype=int), 2)
        hits += [b.upper >= t for b, t in zip(corr.phase_deviation_per_lag, truth)]
    assert np.all(hits / reps >= 1 - failure - 3 * math.sqrt(failure * (1 - failure) / reps))
