"""The characterization scans on the simulated bench: the runs recover the simulator's ground truth.

Every expected value comes from the simulator's documented physics (``SimParameters`` and the
model's formulas), not from an earlier run of the scan.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qkdlab.bench import Bench
from qkdlab.config import builtin_sim_config
from qkdlab.errors import ConfigError
from qkdlab.scans import run_scan, scan_module
from qkdlab.scans.detector_efficiency import efficiency_estimate
from qkdlab.store import Store


@pytest.fixture
def bench():
    with Bench(builtin_sim_config(), simulate=True).open() as the_bench:
        yield the_bench


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "runs.h5")


def test_extinction_ratio_scan_recovers_er_and_peak_and_leaves_the_bench_safe(bench, store) -> None:
    truth = bench.sim.model.params
    summary = run_scan("extinction-ratio", bench, store, points=91, fine_points=41, repeats=5)
    assert summary.status == "completed" and summary.points == 91
    run = store.read(summary.name)
    sweep_p = run.data("sweep", "power").to("W").magnitude
    null_p = run.data("null", "power").to("W").magnitude
    static_er = 10 * math.log10(sweep_p.max() / null_p.min())
    assert static_er == pytest.approx(truth.im_extinction_ratio_db, abs=0.3)
    peak_bias = run.data("sweep", "bias").to("V").magnitude[np.argmax(sweep_p)]
    period = 2 * truth.im_vpi_dc_v  # T(V) repeats every 2 Vπ
    offset = (peak_bias - bench.sim.model.im_peak_bias()) % period
    assert min(offset, period - offset) < 0.15  # the step of the coarse sweep
    look = scan_module("extinction-ratio").quicklook(run)
    assert float(look["pulse/inter-pulse ER"].split()[0]) == pytest.approx(truth.im_extinction_ratio_db, abs=0.5)
    # metadata: every instrument's identity and settings; parameters with units
    assert set(run.instruments) == set(bench.instruments)
    assert all("identity" in info for info in run.instruments.values())
    assert run.parameter("bias_start").to("V").magnitude == pytest.approx(-9.0)
    assert run.parameter("simulated_bench") is True
    # the bench is left safe: laser off, IM drive off
    assert not bench.sim.model.source.enabled
    assert not bench.sim.model.awg[1].output


def test_isolation_scan_recovers_gamma_with_the_source_light_kept_out(bench, store) -> None:
    bench.sim.model.source.enabled = True  # left on by someone: the scan must switch it off
    summary = run_scan("isolation", bench, store)
    run = store.read(summary.name)
    injected = run.data("steps", "injected").to("W").magnitude
    reflected = run.data("steps", "reflected").to("W").magnitude
    gamma = np.polyfit(injected, reflected, 1)[0]
    assert gamma == pytest.approx(10 ** (-bench.sim.model.params.isolation_db / 10), rel=0.03)
    attenuation = run.data("steps", "attenuation").magnitude
    assert injected[attenuation == 0].mean() == pytest.approx(5e-3, rel=0.01)
    assert injected[attenuation == 30].mean() == pytest.approx(5e-6, rel=0.02)
    assert np.abs(run.data("dark", "reflected").to("W").magnitude).max() < 1e-10
    assert not bench.sim.model.probe.enabled


def test_phase_modulation_scan_traces_the_models_fringe(bench, store) -> None:
    model = bench.sim.model
    p = model.params
    summary = run_scan("phase-modulation", bench, store, points=41, repeats=5)
    run = store.read(summary.name)
    drive = run.data("sweep", "drive").to("V").magnitude
    p1 = run.data("sweep", "power").to("W").magnitude
    p2 = run.data("sweep", "power_b").to("W").magnitude
    expected = 0.5 * (1 + p.interferometer_visibility * np.cos(model.pm_phase(drive) + p.interferometer_phase_rad))
    np.testing.assert_allclose(p1 / (p1 + p2), expected, atol=0.01)
    labels = np.asarray(run.data("settings", "label")).astype(str)
    drives = run.data("settings", "drive").to("V").magnitude
    assert list(labels[:4]) == ["Z0", "Z1", "X0", "X1"]
    np.testing.assert_allclose(drives[:4], [-3.0, 1.0, -1.0, 3.0])  # BB84 levels for Vπ = 4 V, centred
    assert np.bincount(run.data("settings", "setting").magnitude.astype(int)).tolist() == [5, 5, 5, 5]


def test_detector_efficiency_scan_recovers_the_time_dependent_efficiency(bench, store) -> None:
    model = bench.sim.model
    summary = run_scan("detector-efficiency", bench, store, delay_start="2 ns", delay_stop="7 ns",
                       delay_step="0.25 ns", integration="1 s")
    run = store.read(summary.name)
    assert run.data("delays", "mu").magnitude == pytest.approx(0.2, rel=0.05)
    estimates = efficiency_estimate(run)
    peaks = {}
    for index, name in ((1, "spd1"), (2, "spd2")):
        delay, eta = estimates[name]
        truth = np.array([model.detector_efficiency(index, d) for d in delay])
        top = truth > 0.5 * truth.max()
        # μ includes the inter-pulse light (~1.4 %); counting noise is a few % per point
        np.testing.assert_allclose(eta[top], truth[top], rtol=0.12)
        assert np.mean(eta[top] / truth[top]) == pytest.approx(1.0, abs=0.04)
        peaks[name] = np.sum(delay * eta) / np.sum(eta)
    arrival = model.params.detector_arrival_s
    assert peaks["spd2"] - peaks["spd1"] == pytest.approx(arrival[1] - arrival[0], abs=0.05e-9)
    dark = run.data("delays", "dark_detections").magnitude.sum() / run.data("delays", "dark_gates").magnitude.sum()
    gate = bench.sim.model.detectors[1].gate_width_s
    expected_dark = 1 - (1 - model.params.dark_count_probability[0]) ** (gate / 2.5e-9)
    names = np.asarray(run.data("delays", "detector")).astype(str)
    spd1_dark = (run.data("delays", "dark_detections").magnitude[names == "spd1"].sum()
                 / run.data("delays", "dark_gates").magnitude[names == "spd1"].sum())
    assert spd1_dark == pytest.approx(expected_dark, rel=0.25)
    assert dark > 0


# -- faults -------------------------------------------------------------------------------------------
def test_a_dropped_link_is_reconnected_and_recorded_and_the_scan_completes(bench, store) -> None:
    bench.sim.emulators["pm_monitor"].faults.disconnect_after(60, refuse_reopen=1)
    summary = run_scan("extinction-ratio", bench, store, points=61, fine_points=11, repeats=2)
    assert summary.status == "completed" and summary.points == 61
    run = store.read(summary.name)
    messages = " ".join(e.message for e in run.events)
    assert "reconnect" in messages
    assert run.events[0].point > 0  # recorded at the point where it happened


class UnplugAt:
    """A progress reporter that unplugs an instrument for good after a given number of points."""

    def __init__(self, emulator, point: int) -> None:
        self.emulator, self.point, self.done = emulator, point, 0

    def start(self, total: int, description: str) -> None:
        pass

    def advance(self, points: int = 1) -> None:
        self.done += points
        if self.done == self.point:
            self.emulator.faults.disconnect_after(0, refuse_reopen=10**6)


def test_an_instrument_that_stays_away_fails_the_run_and_keeps_its_points(bench, store) -> None:
    unplug = UnplugAt(bench.sim.emulators["pm_monitor"], 30)
    with pytest.raises(Exception, match="in a row failed"):
        run_scan("extinction-ratio", bench, store, points=61, fine_points=11, repeats=2, progress=unplug)
    summary = store.runs()[-1]
    assert summary.status == "failed" and "in a row failed" in summary.reason
    run = store.read(summary.name)
    assert run.data("sweep", "power").size == 30  # every point before the unplugging
    assert sum("gap" in e.message for e in run.events) == 3


def test_parameter_errors_name_the_parameter(bench, store) -> None:
    with pytest.raises(ConfigError, match="unknown parameter 'pionts'"):
        run_scan("extinction-ratio", bench, store, pionts=3)
    with pytest.raises(ConfigError, match="bias_start"):
        run_scan("extinction-ratio", bench, store, bias_start="3 mW")
    with pytest.raises(ConfigError, match="power_meter='nope'"):
        run_scan("extinction-ratio", bench, store, power_meter="nope")
    assert not store.path.exists()  # nothing was started


def test_config_scan_defaults_are_validated_and_used(tmp_path) -> None:
    from qkdlab.config import parse_config
    from qkdlab.scans import check_config_scan_defaults

    data = builtin_sim_config().model_dump(mode="json")
    data["scans"] = {"extinction-ratio": {"points": 11, "fine_points": 5, "repeats": 1}}
    config = parse_config(data)
    with Bench(config, simulate=True).open() as the_bench:
        assert run_scan("extinction-ratio", the_bench, Store(tmp_path / "f.h5")).points == 11
    # The scans check their own defaults (the config layer knows no scans); the CLI does it on load.
    data["scans"] = {"extinction-ratio": {"pionts": 11}}
    with pytest.raises(ConfigError, match="pionts"):
        check_config_scan_defaults(parse_config(data))
    data["scans"] = {"no-such-scan": {}}
    with pytest.raises(ConfigError, match="unknown scan kind"):
        check_config_scan_defaults(parse_config(data))


# -- time-resolved scans (oscilloscope) ---------------------------------------------------------------
def _sim_bench(**parameters):
    from qkdlab.bench import Bench

    return Bench.simulated(**parameters)


def _expected_readout(model, run) -> dict[tuple[int, int], float]:
    """The fringe each pulse should show, from the model's PM phase with its memory, conditioned like the scan."""
    p = model.params
    pattern = np.asarray(run.parameter("pattern"), dtype=int)
    from qkdlab.transmitter import drive_levels, nominal_phases

    levels = drive_levels(nominal_phases("bb84")[1], 4.0)[pattern]
    effective = (1 - sum(p.pm_memory)) * levels
    for lag, c in enumerate(p.pm_memory, start=1):
        effective = effective + c * np.roll(levels, lag)
    fringe = 0.5 * (1 + p.interferometer_visibility * np.cos(model.pm_phase(effective) + p.interferometer_phase_rad))
    previous = np.roll(pattern, 1)
    means = {(int(s), int(q)): float(fringe[(pattern == s) & (previous == q)].mean())
             for s in np.unique(pattern) for q in np.unique(previous)}
    top = max(np.mean([v for k, v in means.items() if k[0] == s]) for s in np.unique(pattern))
    return {k: v / top for k, v in means.items()}


@pytest.mark.parametrize("memory", [(0.03, 0.008), ()])
def test_pulse_correlation_scan_sees_the_phase_modulators_memory(tmp_path, memory) -> None:
    from qkdlab.scans.pulse_correlations import conditional_means

    store = Store(tmp_path / "corr.h5")
    with _sim_bench(pm_memory=list(memory)).open() as the_bench:
        summary = run_scan("pulse-correlations", the_bench, store, acquisitions=2)
        model = the_bench.sim.model
        run = store.read(summary.name)
        expected = _expected_readout(model, run)
    measured = conditional_means(run, "readout")
    assert measured.keys() == expected.keys() and len(measured) == 16
    for key, value in expected.items():
        assert measured[key] == pytest.approx(value, abs=0.004), key
    spread = max(max(v for k, v in measured.items() if k[0] == s) - min(v for k, v in measured.items() if k[0] == s)
                 for s in range(4))
    if memory:
        assert spread > 0.03  # the previous setting visibly moves the phase
    else:
        assert spread < 0.005  # no memory, no correlation beyond noise
    energies = conditional_means(run, "energy")
    assert max(energies.values()) / min(energies.values()) - 1 < 0.005  # one intensity level: flat energies
    histories = run.data("pulses", "history").magnitude.astype(int)
    assert {tuple(h) for h in histories} == {(a, b) for a in range(4) for b in range(4)}  # every history seen


@pytest.mark.parametrize("er_db", [28.0, 20.0])
def test_leakage_light_scan_measures_the_inter_pulse_level_and_records_the_geometry(tmp_path, er_db) -> None:
    from qkdlab.scans.leakage_light import leakage_ratio

    store = Store(tmp_path / "leak.h5")
    with _sim_bench(im_extinction_ratio_db=er_db).open() as the_bench:
        summary = run_scan("leakage-light", the_bench, store, acquisitions=2)
    run = store.read(summary.name)
    # inter-pulse light sees the bias alone (T = T_max/ER), the pulse the full carving (T ≈ T_max)
    assert leakage_ratio(run) == pytest.approx(10 ** (-er_db / 10), rel=0.06)
    ranges = np.asarray(run.data("traces", "range")).astype(str)
    clipped = run.data("traces", "clipped").magnitude
    assert clipped[ranges == "zoom"].any() and not clipped[ranges == "full"].any()
    assert run.parameter("pm_electrode_transit").to("ps").magnitude == pytest.approx(150)
    assert run.parameter("drive_pulse_width").to("ps").magnitude == pytest.approx(200)
    assert run.parameter("faraday_mirror") is False
