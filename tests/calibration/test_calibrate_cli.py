"""`qkdlab calibrate` on a full set of simulated scans: the model matches the simulation's truth."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from qkdlab.bench import Bench
from qkdlab.calibration import load_source_model
from qkdlab.cli import main
from qkdlab.config import builtin_sim_config
from qkdlab.errors import CalibrationError
from qkdlab.model import SourceModel
from qkdlab.scans import SCANS, run_scan
from qkdlab.store import Store
from qkdlab.transmitter import drive_levels, nominal_phases

QUICK = {"detector-efficiency": {"delay_start": "3 ns", "delay_stop": "6 ns", "delay_step": "0.5 ns"},
         "pulse-correlations": {"acquisitions": 4}, "leakage-light": {"acquisitions": 2}}


@pytest.fixture(scope="module")
def scanned(tmp_path_factory) -> tuple[Path, dict]:
    """All seven scans of the built-in simulated bench in one file, and the simulator's truth."""
    path = tmp_path_factory.mktemp("cal") / "bench.h5"
    store = Store(path)
    with Bench(builtin_sim_config(), simulate=True).open() as bench:
        model = bench.sim.model
        for kind in SCANS:
            run_scan(kind, bench, store, **QUICK.get(kind, {}))
        levels = drive_levels(nominal_phases("bb84")[1], 4.0)
        truth = {"phases": model.pm_phase(levels) - model.pm_phase(levels[0]),
                 "gamma": 10 ** (-model.params.isolation_db / 10), "er_db": model.params.im_extinction_ratio_db,
                 "eta": {i: (lambda d, i=i: model.detector_efficiency(i, d)) for i in (1, 2)},
                 "leak_ratio": 9 * float(model.im_transmission(model.im_bias_for("null"), 0.0)
                                         / model.im_transmission(model.im_bias_for("null"), 3.6))}
    return path, truth


def _digest(path: Path) -> dict[str, str]:
    """A fingerprint of every run's data, to show calibration leaves the runs untouched."""
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if name.startswith("run_") and isinstance(obj, h5py.Dataset):
                data = np.asarray(obj[()])
                raw = repr(data.tolist()).encode() if data.dtype.kind == "O" else data.tobytes()
                out[name] = hashlib.sha256(raw).hexdigest()
        f.visititems(visit)
    return out


def test_calibrate_from_the_command_line_matches_the_simulation(scanned, tmp_path) -> None:
    path, truth = scanned
    before = _digest(path)
    out = tmp_path / "model.json"
    result = CliRunner().invoke(main, ["calibrate", str(path), "-o", str(out), "--passive-attenuation", "65",
                                       "--rep-rate", "100 MHz"])
    assert result.exit_code == 0, result.output
    for words in ("Encoded states", "Side-channel budget", "run_0001", "run_0007", "mode dependence 1 - F"):
        assert words in result.output
    model = load_source_model(out)
    assert model == load_source_model(path)  # the same model in the HDF5 calibration group
    assert _digest(path) == before  # the runs are untouched
    for state, phase in zip(model.states, truth["phases"]):
        assert state.phase.contains(phase)
    assert model.isolation.upper >= truth["gamma"]
    assert model.leakage.extinction_ratio_db is None or model.leakage.extinction_ratio_db.lower <= truth["er_db"] + 0.2
    assert 0 < model.epsilon.total < 1
    names = {p.name for p in model.epsilon.parts}
    assert names == {"trojan_horse", "leakage_light", "pulse_correlations", "mode_dependence"}
    assert model.epsilon.part("mode_dependence").inventory == "measured"
    assert model.total_failure_probability == pytest.approx(6 * 0.01, rel=0.5)
    assert {p.kind for p in model.provenance} == set(SCANS)
    assert model.leakage.relative_energy.upper >= truth["leak_ratio"]
    assert model.leakage.relative_energy.value == pytest.approx(truth["leak_ratio"], rel=0.1)
    det = model.detectors
    assert det is not None and det.detectors == ("spd1", "spd2")
    for i, row in enumerate(det.efficiency, start=1):
        for delay, bound in zip(det.delays_s, row):
            eta = truth["eta"][i](delay)
            if eta > 0.5 * 0.1:  # central delays (the tails carry inter-pulse light, see detectors.py)
                assert bound.contains(eta), (i, delay, bound, eta)
    assert model.correlations.length >= 1 and len(model.correlations.epsilon_per_lag) == 2


def test_aborted_runs_are_refused_unless_partial(tmp_path) -> None:
    path = tmp_path / "partial.h5"
    store = Store(path)
    with Bench(builtin_sim_config(), simulate=True).open() as bench:
        run_scan("phase-modulation", bench, store, points=41, repeats=3)
    with h5py.File(path, "r+") as f:
        f["run_0001/status"][()] = b"aborted"
    result = CliRunner().invoke(main, ["calibrate", str(path)])
    assert result.exit_code == 2 and "aborted" in result.output and "--allow-partial" in result.output
    result = CliRunner().invoke(main, ["calibrate", str(path), "--allow-partial", "-o", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.output
    model = load_source_model(tmp_path / "m.json")
    assert model.partial and any("aborted" in note for note in model.notes)
    assert model.epsilon.part("trojan_horse").inventory == "assumed-absent"


def test_missing_side_channel_runs_are_refused_with_what_to_run(tmp_path) -> None:
    path = tmp_path / "only-phase.h5"
    with Bench(builtin_sim_config(), simulate=True).open() as bench:
        run_scan("phase-modulation", bench, Store(path), points=41, repeats=3)
    from qkdlab.calibration.calibrate import calibrate_file

    with pytest.raises(CalibrationError, match="qkdlab scan isolation"):
        calibrate_file(path)


def test_a_model_of_another_schema_version_in_hdf5_is_refused(scanned, tmp_path) -> None:
    path, _ = scanned
    copy = tmp_path / "copy.h5"
    copy.write_bytes(path.read_bytes())
    result = CliRunner().invoke(main, ["calibrate", str(copy), "-o", str(tmp_path / "m.json"),
                                       "--passive-attenuation", "65"])
    assert result.exit_code == 0, result.output
    with h5py.File(copy, "r+") as f:
        name = sorted(k for k in f if k.startswith("calibration_"))[-1]
        text = f[name]["source_model"][()].decode().replace('"schema_version": 2', '"schema_version": 7')
        del f[name]["source_model"]
        f[name]["source_model"] = text
    from qkdlab.errors import DataError

    with pytest.raises(DataError, match="schema version 7"):
        load_source_model(copy)
    assert isinstance(load_source_model(tmp_path / "m.json"), SourceModel)
    assert math.isfinite(load_source_model(tmp_path / "m.json").epsilon.total)
