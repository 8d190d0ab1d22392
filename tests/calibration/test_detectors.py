"""Detector-efficiency run -> DetectorTable, checked against the simulator's ground truth.

Truths come from the simulator's physics (``TransmitterModel.detector_efficiency``, the dark
probability 1 - (1 - p_dark)^(gate/2.5 ns)), never from an earlier calibration.

The simulated monitor-derived μ includes the inter-pulse leakage light, (1 - d)/(d·ER) ≈ 1.4 % of
the pulse energy; the tests pass that as ``mu_leakage_allowance`` (what the extinction-ratio run
would give), as the method asks.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import pytest

from qkdlab.bench import Bench
from qkdlab.calibration.detectors import calibrate_detectors
from qkdlab.config import builtin_sim_config, parse_config
from qkdlab.errors import CalibrationError
from qkdlab.scans import run_scan
from qkdlab.store import Store

FULL_SCAN = {"delay_start": "2 ns", "delay_stop": "7 ns", "delay_step": "0.25 ns", "integration": "1 s"}


def leakage_allowance(model) -> float:
    """Relative energy of the inter-pulse light in the monitor's average power (sim truth)."""
    p = model.params
    return (1 - p.pulse_duty_cycle) / (p.pulse_duty_cycle * 10 ** (p.im_extinction_ratio_db / 10))


def true_dark(model, index: int) -> float:
    gate = model.detectors[index].gate_width_s
    return 1 - (1 - model.params.dark_count_probability[index - 1]) ** (gate / 2.5e-9)


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """One full scan on the simulated bench: (run, model) — the bench stays open for the truths."""
    with Bench(builtin_sim_config(), simulate=True).open() as bench:
        store = Store(tmp_path_factory.mktemp("detectors") / "f.h5")
        summary = run_scan("detector-efficiency", bench, store, **FULL_SCAN)
        yield store.read(summary.name), bench.sim.model


def test_every_interval_at_the_central_delays_contains_the_truth(full) -> None:
    run, model = full
    table = calibrate_detectors(run, failure_probability=0.01, mu_leakage_allowance=leakage_allowance(model))
    assert table.detectors == ("spd1", "spd2")
    assert len(table.delays_s) == 21 and table.delays_s[0] == pytest.approx(2e-9)
    for i, name in enumerate(table.detectors):
        truth = np.array([model.detector_efficiency(i + 1, d) for d in table.delays_s])
        central = truth > 0.5 * truth.max()
        assert central.sum() >= 5
        for bound, eta in zip(np.asarray(table.efficiency[i], dtype=object)[central], truth[central]):
            assert bound.lower <= bound.value <= bound.upper
            assert bound.contains(eta), (name, bound, eta)
            assert bound.value == pytest.approx(eta, rel=0.05)
            assert bound.upper - bound.lower < 0.12 * eta  # informative, not just wide
    # bookkeeping: K = 2N + D + 1 bounds, κ/K each; an η bound spends p, p_d and μ shares
    k = 2 * 2 * 21 + 2 + 1
    assert table.efficiency[0][0].failure_probability == pytest.approx(3 * 0.01 / k)
    assert table.dark_probability[0].failure_probability == pytest.approx(0.01 / k)
    assert "Clopper-Pearson" in table.efficiency[0][0].method and "Student-t" in table.efficiency[0][0].method
    assert table.provenance.file == str(run.path) and table.provenance.run == run.name
    assert table.provenance.kind == "detector-efficiency" and table.provenance.status == "completed"


def test_operating_delay_and_mismatch_ratio_bound_the_true_ratio(full) -> None:
    run, model = full
    table = calibrate_detectors(run, failure_probability=0.01, mu_leakage_allowance=leakage_allowance(model))
    values = np.array([[b.value for b in row] for row in table.efficiency])
    assert table.operating_delay_s == table.delays_s[int(np.argmax(values.min(axis=0)))]
    # the true best delay (max of the smaller true η) is within a step of the chosen one
    truth = np.array([[model.detector_efficiency(i, d) for d in table.delays_s] for i in (1, 2)])
    assert abs(table.delays_s[int(np.argmax(truth.min(axis=0)))] - table.operating_delay_s) <= 0.26e-9
    at = table.delays_s.index(table.operating_delay_s)
    true_ratio = truth[:, at].min() / truth[:, at].max()
    ratio = table.mismatch_ratio
    assert ratio.lower <= ratio.value <= ratio.upper <= 1.0
    assert ratio.contains(true_ratio), (ratio, true_ratio)
    # a stated operating delay is matched to the nearest recorded one
    stated = calibrate_detectors(run, failure_probability=0.01, operating_delay_s=3.02e-9)
    assert stated.operating_delay_s == pytest.approx(3.0e-9)
    assert stated.mismatch_ratio.contains(truth[:, 4].min() / truth[:, 4].max())
    with pytest.raises(CalibrationError, match="not scanned"):
        calibrate_detectors(run, failure_probability=0.01, operating_delay_s=9e-9)


def test_two_mode_is_the_most_adverse_table_one_form(full) -> None:
    run, model = full
    table = calibrate_detectors(run, failure_probability=0.01, mu_leakage_allowance=leakage_allowance(model))
    (a, b), (c, d) = table.two_mode
    assert a == d and b == c and 0 <= b <= a <= 1
    values = np.array([[bd.value for bd in row] for row in table.efficiency])
    truth = np.array([[model.detector_efficiency(i, t) for t in table.delays_s] for i in (1, 2)])
    eligible = values.max(axis=0) >= 0.1 * values.max()
    true_ratios = truth.min(axis=0)[eligible] / truth.max(axis=0)[eligible]
    # at least as much mismatch as the truth shows anywhere the detectors see light
    assert b / a <= true_ratios.min()
    assert b / a <= table.mismatch_ratio.lower
    # the time shift between the detectors makes the adverse mismatch far worse than at the operating delay
    assert b / a < 0.5 * table.mismatch_ratio.value
    # a stricter cut considers fewer delays: less adverse
    strict = calibrate_detectors(run, failure_probability=0.01, min_relative_efficiency=0.5)
    assert strict.two_mode[0][1] / strict.two_mode[0][0] >= b / a


def test_dark_probability_bounds_contain_the_truth(full) -> None:
    run, model = full
    table = calibrate_detectors(run, failure_probability=0.01)
    for i, bound in enumerate(table.dark_probability):
        truth = true_dark(model, i + 1)
        assert bound.contains(truth), (bound, truth)
        assert bound.value == pytest.approx(truth, rel=0.2)
        assert "pooled" in bound.method


# -- errors ------------------------------------------------------------------------------------------
def _with(run, **groups):
    """A copy of ``run`` with some datasets replaced: group=dict(name=values)."""
    new_groups = {g: dict(v) for g, v in run.groups.items()}
    for group, values in groups.items():
        new_groups[group].update(values)
    return dataclasses.replace(run, groups=new_groups)


def test_calibration_errors_name_the_run_and_the_reason(full, tmp_path) -> None:
    run, _ = full
    other = dataclasses.replace(run, summary=dataclasses.replace(run.summary, kind="isolation"))
    with pytest.raises(CalibrationError, match=f"{run.name}.*isolation run cannot give detector efficiencies"):
        calibrate_detectors(other, failure_probability=0.01)

    gates = run.data("delays", "gates").copy()
    gates[3] = 0 * gates[3]
    with pytest.raises(CalibrationError, match=f"{run.name}: zero gates for spd1 at delay 2.750 ns"):
        calibrate_detectors(_with(run, delays={"gates": gates}), failure_probability=0.01)

    cal = run.groups["calibration"]
    empty = {name: values[:0] for name, values in cal.items()}
    with pytest.raises(CalibrationError, match=f"{run.name}: no μ calibration readings"):
        calibrate_detectors(_with(run, calibration=empty), failure_probability=0.01)

    with Bench(builtin_sim_config(), simulate=True).open() as bench:
        store = Store(tmp_path / "few.h5")
        summary = run_scan("detector-efficiency", bench, store, delay_start="4 ns", delay_stop="4.25 ns",
                           delay_step="0.25 ns", integration="0.2 s")
        few = store.read(summary.name)
    with pytest.raises(CalibrationError, match=f"{few.name}: detector spd1 has readings at 2 delay"):
        calibrate_detectors(few, failure_probability=0.01)
    assert str(few.path) in _message(lambda: calibrate_detectors(few, failure_probability=0.01))


def _message(call) -> str:
    with pytest.raises(CalibrationError) as info:
        call()
    return str(info.value)


# -- coverage --------------------------------------------------------------------------------------
def test_efficiency_intervals_cover_the_truth_at_the_stated_rate(tmp_path) -> None:
    """200 seeded benches, a reduced scan (3 delays, 0.2 s): count how often the bounds hold.

    Asserted, each with a 3σ binomial allowance: at the central delay, each detector's interval
    covers the truth with frequency ≥ 1 - κ (the brief's check) and ≥ 1 - (its own failure
    share 3κ/K); and all six efficiency intervals plus both dark bounds hold together with
    frequency ≥ 1 - κ (the Bonferroni promise).
    """
    kappa, reps = 0.1, 200
    data = builtin_sim_config().model_dump(mode="json")
    hits = np.zeros(2)
    joint = 0
    share = None
    started = time.process_time()
    for seed in range(reps):
        data["simulation"]["seed"] = seed
        with Bench(parse_config(data), simulate=True).open() as bench:
            store = Store(tmp_path / f"seed{seed}.h5")
            summary = run_scan("detector-efficiency", bench, store, delay_start="3.5 ns", delay_stop="4.5 ns",
                               delay_step="0.5 ns", integration="0.2 s")
            model = bench.sim.model
            table = calibrate_detectors(store.read(summary.name), failure_probability=kappa,
                                        mu_leakage_allowance=leakage_allowance(model))
            assert len(table.delays_s) == 3
            share = table.efficiency[0][1].failure_probability
            ok = True
            for i in range(2):
                truth = [model.detector_efficiency(i + 1, d) for d in table.delays_s]
                hits[i] += table.efficiency[i][1].contains(truth[1])
                ok &= all(b.contains(t) for b, t in zip(table.efficiency[i], truth))
                ok &= table.dark_probability[i].contains(true_dark(model, i + 1))
            joint += ok
    coverage = hits / reps

    def allowance(q: float) -> float:
        return 3 * math.sqrt(q * (1 - q) / reps)

    assert np.all(coverage >= 1 - kappa - allowance(kappa)), coverage
    assert np.all(coverage >= 1 - share - allowance(share)), (coverage, share)
    assert joint / reps >= 1 - kappa - allowance(kappa), joint / reps
    # the test's own cost in CPU seconds (about 27 s): its wall time is mostly the flushes of 200 files and
    # whatever else the machine runs, which a budget in wall seconds would mistake for a regression
    assert time.process_time() - started < 60
