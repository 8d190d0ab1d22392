"""Mode-dependence bound: coverage and tightness over seeds, the zero case, bad inputs, and the whole chain.

The coverage tests feed the calibration math with traces and spectra of the simulated bench's
physics (``optical_waveform``, ``optical_spectrum``) plus the emulators' documented noise models
(scope: 0.4 % of the screen per sample / √averages; OSA: 0.2 % of the reading and a 1 pW floor per
point / √averages, a per-sweep wavelength jitter of 2 fm) — the noise-free physics is computed once,
so 100 seeds take seconds. ``test_scan_and_calibrate_end_to_end`` runs the real stack once. The
truth is ``TransmitterModel.mode_infidelity`` (direct quadrature of the field overlap, checked
against its small-displacement limits in ``tests/sim/test_osa_sim.py``), relative to the
reference mode the calibration chose.
"""

from __future__ import annotations

import math
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from qkdlab.bench import Bench
from qkdlab.calibration.mode_dependence import (
    LIGHT_SPEED,
    bound_mode_dependence,
    calibrate_mode_dependence,
    spectrum_moments,
    trace_moments,
)
from qkdlab.cli import main
from qkdlab.config import builtin_sim_config
from qkdlab.errors import CalibrationError
from qkdlab.model import load_source_model
from qkdlab.scans import run_scan
from qkdlab.sim.physics import SimParameters, TransmitterModel
from qkdlab.store import Store
from qkdlab.transmitter import drive_levels, nominal_phases

LABELS, PHASES = nominal_phases("bb84")
LEVELS = drive_levels(PHASES, 4.0)
MARGIN = 0.2e-9
REPEATS = 8
FAILURE = 0.01


class Physics:
    """The noise-free traces and spectra of each setting, computed once per parameter set."""

    def __init__(self, params: SimParameters, *, points: int = 10000, resolution: float = 0.02e-9) -> None:
        self.model = TransmitterModel(params)
        m = self.model
        m.source.enabled = True
        m.im_bias_v = m.im_bias_for("null")
        for ch, volts in ((1, 3.6), (2, 0.0)):
            m.awg[ch].output, m.awg[ch].function, m.awg[ch].offset_v = True, "DC", volts
        self.period = m.pulse_period_s()
        self.width = params.pulse_duty_cycle * self.period
        self.t = -MARGIN + np.arange(points) * self.period / points
        self.resolution = resolution
        self.lam = 1550e-9 + np.linspace(-0.3e-9, 0.3e-9, 1001)
        self.fine = 1550e-9 + np.linspace(-0.31e-9, 0.31e-9, 62001)  # for a jittered wavelength axis
        self.traces, self.spectra = [], []
        for volts in LEVELS:
            m.awg[2].offset_v = volts
            self.traces.append(5e4 * m.optical_waveform("monitor", self.t))
            self.spectra.append(m.optical_spectrum(self.fine, resolution))
        self.scale = 1.1 * max(tr.max() for tr in self.traces) / 6.4  # as fit_vertical sets the scope

    def bound(self, seed: int):
        rng = np.random.default_rng(seed)
        sigma = 0.004 * 8 * self.scale / math.sqrt(4096)
        dark_t = rng.normal(0.0, sigma, self.t.size)
        dark_s = rng.normal(0.0, 1e-12 / 2, self.lam.size)
        traces, spectra = [], []
        for trace, spectrum in zip(self.traces, self.spectra, strict=True):
            traces.append([trace_moments(self.t, trace + rng.normal(0.0, sigma, self.t.size), dark_t, pulse_start=0.0,
                                         pulse_width=self.width, period=self.period, margin=MARGIN)
                           for _ in range(REPEATS)])
            row = []
            for _ in range(REPEATS):
                p = np.interp(self.lam + rng.normal(0.0, 2e-15), self.fine, spectrum)
                row.append(spectrum_moments(self.lam, p + rng.normal(0.0, 1.0, p.size) * np.hypot(2e-3 * p, 1e-12) / 2,
                                            dark_s))
            spectra.append(row)
        fwhm = LIGHT_SPEED * self.resolution / 1550e-9**2
        return bound_mode_dependence(tuple(LABELS), traces, spectra, sample_interval=float(self.t[1] - self.t[0]),
                                     filter_fwhm_hz=fwhm, filter_tolerance=0.05, failure_probability=FAILURE)

    def truth(self, bound) -> float:
        """True max_j 1 - F between setting j's mode and the reference the calibration chose."""
        p = self.model.params
        tau, nu = p.mode_delay_s_per_v * LEVELS, p.mode_chirp_hz_per_v * LEVELS
        return max(self.model.mode_infidelity(a - tau.mean() - bound.reference_delay_s,
                                              f - nu.mean() - bound.reference_shift_hz) for a, f in zip(tau, nu))


@pytest.fixture(scope="module")
def default_physics() -> Physics:
    return Physics(SimParameters())


def test_bound_covers_the_truth_and_is_within_a_factor_two(default_physics) -> None:
    ratios = []
    for seed in range(100):
        bound = default_physics.bound(seed)
        ratios.append(bound.upper / default_physics.truth(bound))
    ratios = np.array(ratios)
    assert np.mean(ratios >= 1.0) >= 0.95
    assert ratios.max() <= 2.0
    assert default_physics.truth(default_physics.bound(0)) > 1e-4  # the default is not a trivial case


def test_zero_delay_and_chirp_give_a_bound_consistent_with_zero_below_the_floor() -> None:
    physics = Physics(SimParameters(mode_delay_s_per_v=0.0, mode_chirp_hz_per_v=0.0))
    results = [physics.bound(seed) for seed in range(30)]
    assert sum(b.consistent_with_zero for b in results) >= 29
    assert sum(b.upper <= b.resolution_floor for b in results) >= 29
    assert max(b.upper for b in results) < 1e-4


def test_a_coarse_osa_resolution_or_scope_sampling_is_refused() -> None:
    with pytest.raises(CalibrationError, match="OSA resolution .* coarser than the pulse spectrum"):
        Physics(SimParameters(), resolution=0.1e-9).bound(0)
    with pytest.raises(CalibrationError, match="sample interval .* coarser than the pulse's rms width"):
        Physics(SimParameters(), points=200).bound(0)


def test_mismatched_arrays_and_too_few_repeats_are_refused(default_physics) -> None:
    lam = default_physics.lam
    with pytest.raises(CalibrationError, match="does not match its wavelength axis"):
        spectrum_moments(lam, np.ones(lam.size - 1), np.zeros(lam.size - 1))
    with pytest.raises(CalibrationError, match="at least two repeats"):
        t = default_physics.t
        one = [[trace_moments(t, tr, np.zeros_like(t), pulse_start=0.0, pulse_width=default_physics.width,
                              period=default_physics.period, margin=MARGIN)] for tr in default_physics.traces]
        bound_mode_dependence(tuple(LABELS), one, [[None]] * 4, sample_interval=1e-12, filter_fwhm_hz=2.5e9,
                              filter_tolerance=0.05, failure_probability=FAILURE)


# -- the whole chain ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def scanned(tmp_path_factory) -> tuple[Path, TransmitterModel]:
    path = tmp_path_factory.mktemp("mode") / "bench.h5"
    store = Store(path)
    with Bench(builtin_sim_config(), simulate=True).open() as bench:
        run_scan("phase-modulation", bench, store)
        run_scan("mode-dependence", bench, store)
        model = bench.sim.model
    return path, model


def test_scan_and_calibrate_end_to_end(scanned, tmp_path) -> None:
    path, sim = scanned
    run = Store(path).read(2)
    assert run.kind == "mode-dependence" and run.status == "completed"
    bound, part = calibrate_mode_dependence(run, failure_probability=FAILURE)
    p = sim.params
    tau, nu = p.mode_delay_s_per_v * LEVELS, p.mode_chirp_hz_per_v * LEVELS
    truth = max(sim.mode_infidelity(a - tau.mean() - bound.reference_delay_s, f - nu.mean() - bound.reference_shift_hz)
                for a, f in zip(tau, nu))
    assert truth <= part.upper <= 2 * truth
    assert part.inventory == "measured" and part.degree_of_freedom == "own-mode"
    assert part.provenance.run == run.name
    # the tagger's independent read-out of the delays agrees with the truth within its noise
    tagger = np.array(part.details["tagger_delay_s"])
    se = np.array(part.details["tagger_delay_se_s"])
    assert np.all(np.abs(tagger - (tau - tau.mean())) <= 5 * se + 0.05e-12)

    out = tmp_path / "model.json"
    result = CliRunner().invoke(main, ["calibrate", str(path), "-o", str(out), "--allow-partial"])
    assert result.exit_code == 0, result.output
    assert "mode dependence 1 - F" in result.output and "floor" in result.output
    model = load_source_model(out)
    assert model.epsilon.part("mode_dependence").upper == pytest.approx(part.upper)


def test_the_stated_bound_overrides_and_is_recorded_as_stated(scanned, tmp_path) -> None:
    path, _ = scanned
    out = tmp_path / "model.json"
    result = CliRunner().invoke(main, ["calibrate", str(path), "-o", str(out), "--allow-partial",
                                       "--mode-dependence", "1e-5"])
    assert result.exit_code == 0, result.output
    part = load_source_model(out).epsilon.part("mode_dependence")
    assert part.upper == 1e-5 and part.inventory == "bounded-by-design"
    assert part.details["measured_run"] == "run_0002" and part.details["measured_upper"] > 1e-5
    assert "replaces the measured" in " ".join(result.output.split())


def _shorter_axis(group: h5py.Group, name: str) -> None:
    """Replace a fixed axis by one a point shorter, keeping its attributes (a trace of the wrong length)."""
    old = group[name]
    values, attrs = old[()][:-1], dict(old.attrs)
    del group[name]
    new = group.create_dataset(name, data=values)
    new.attrs.update(attrs)


def _damaged(path: Path, tmp_path: Path, edit) -> Path:
    copy = tmp_path / "damaged.h5"
    copy.write_bytes(path.read_bytes())
    with h5py.File(copy, "r+") as f:
        edit(f["run_0002"])
    return copy


@pytest.mark.parametrize("edit, message", [
    (lambda r: r["spectra/power"].attrs.__setitem__("units", "V"), "spectra/power cannot be read in W"),
    (lambda r: _shorter_axis(r["spectra"], "wavelength"), "do not match the wavelength axis of 1000 points"),
    (lambda r: r["spectra/setting"].__setitem__(np.s_[:], np.where(r["spectra/setting"][:] == 3, 2,
                                                                   r["spectra/setting"][:])),
     r"no traces or spectra for setting\(s\) \['X1'\]"),
])
def test_bad_runs_give_one_clear_error_line(scanned, tmp_path, edit, message) -> None:
    path, _ = scanned
    damaged = _damaged(path, tmp_path, edit)
    with pytest.raises(CalibrationError, match=message):
        calibrate_mode_dependence(Store(damaged).read(2), failure_probability=FAILURE)
    result = CliRunner().invoke(main, ["calibrate", str(damaged), "-o", str(tmp_path / "m.json"), "--allow-partial"])
    assert result.exit_code == 2 and result.output.startswith("error: ") and "Traceback" not in result.output
