"""``qkdlab sweep`` and ``qkdlab plot`` on study files: SIGKILL and resume, one-line errors, the figure."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from qkdlab.cli.main import main
from qkdlab.sweep.evaluate import evaluate_chunk
from qkdlab.sweep.spec import load_spec
from qkdlab.sweep.study import DONE, StudyFile, open_study


def _done(path) -> int:
    try:
        with h5py.File(path, "r", swmr=True) as f:
            return int(np.count_nonzero(f["status"][...]))
    except (OSError, KeyError):
        return 0


@pytest.fixture
def gys_spec_file(tmp_path, gys):
    path = tmp_path / "gys.yaml"
    path.write_text(yaml.safe_dump({
        "name": "cli test", "fixed": {**gys, "method": "ltqc", "delta": 0.063},
        "axes": {"epsilon": [0.0, 1e-8, 1e-7, 1e-6, 3e-6, 1e-5], "distance": "0:150:5"}, "chunk_size": 4,
        # the signal optimised per point makes each point cost tens of ms, so the sweep runs for
        # seconds and the tests below can interrupt it mid-way on any machine
        "optimise": {"parameters": {"signal": [0.05, 1.0]}, "seed": 1, "starts": 1}}))
    return path


def _wait_for_first_batch(proc, out) -> None:
    """Poll the study until its first batch is written; fail clearly if the sweep ended before."""
    deadline = time.monotonic() + 240
    while _done(out) < 4 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, f"the sweep ended before it could be interrupted: {proc.communicate()}"


def test_a_sigkilled_sweep_resumes_to_the_uninterrupted_file_computing_no_point_twice(tmp_path, gys_spec_file):
    out = tmp_path / "study.h5"
    command = [sys.executable, "-m", "qkdlab.cli", "sweep", str(gys_spec_file), "--out", str(out), "--workers", "2"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _wait_for_first_batch(proc, out)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)   # the command and its local cluster, like a power cut
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    before = _done(out)
    spec = load_spec(gys_spec_file)
    assert 4 <= before < spec.size, "the sweep was not interrupted mid-way"

    resumed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    computed = int(re.search(r"computed (\d+) now", resumed.stdout).group(1))
    assert computed == spec.size - before                              # only the missing points

    reference = tmp_path / "reference.h5"                             # uninterrupted, in one process
    with StudyFile.open(reference, spec) as study:
        study.write(evaluate_chunk(spec.canonical(), list(range(spec.size))))
    a, b = open_study(out), open_study(reference)
    assert (a.status == DONE).all() and (a.computed == 1).all()        # no point computed twice
    for name in a.data_vars:
        assert np.array_equal(a[name].values, b[name].values, equal_nan=a[name].dtype.kind == "f"), name
    assert a.attrs["spec"] == b.attrs["spec"]


def test_ctrl_c_stops_after_the_batch_being_written_and_leaves_a_closed_resumable_file(tmp_path, gys_spec_file):
    out = tmp_path / "study.h5"
    command = [sys.executable, "-m", "qkdlab.cli", "sweep", str(gys_spec_file), "--out", str(out), "--workers", "2"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        _wait_for_first_batch(proc, out)
        os.kill(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, stderr
    assert "points still missing; run the same command again to resume" in stderr
    with h5py.File(out, "r") as f:          # closed properly: opens without SWMR, nothing to rebuild
        done = int(np.count_nonzero(f["status"][...]))
    assert 4 <= done < load_spec(gys_spec_file).size


def test_bad_specs_and_changed_specs_are_one_line_errors(tmp_path, gys_spec_file):
    runner = CliRunner()
    bad = tmp_path / "bad.yaml"
    bad.write_text("axes: {distance: [0, -3]}\n")
    result = runner.invoke(main, ["sweep", str(bad), "--out", str(tmp_path / "s.h5")])
    assert result.exit_code == 2
    assert "error:" in result.output and "axes.distance[1]: distance = -3.0 km" in result.output
    assert "Traceback" not in result.output

    spec = load_spec(gys_spec_file)
    with StudyFile.open(tmp_path / "s.h5", spec) as study:
        study.write(evaluate_chunk(spec.canonical(), [0]))
    changed = yaml.safe_load(gys_spec_file.read_text())
    changed["fixed"]["fiber_loss"] = 0.2
    other = tmp_path / "changed.yaml"
    other.write_text(yaml.safe_dump(changed))
    result = runner.invoke(main, ["sweep", str(other), "--out", str(tmp_path / "s.h5")])
    assert result.exit_code == 2 and "different spec (changed: fixed.fiber_loss)" in result.output
    result = runner.invoke(main, ["sweep", str(gys_spec_file), "--out", str(tmp_path / "t.h5"), "--workers", "2",
                                  "--scheduler", "tcp://127.0.0.1:1"])
    assert result.exit_code == 2 and "--workers sizes the local cluster" in result.output


def test_plot_draws_a_study(tmp_path):
    spec_path = tmp_path / "s.yaml"
    spec_path.write_text(yaml.safe_dump({"name": "plot test", "fixed": {"signal": 0.5},
                                         "axes": {"epsilon": [0.0, 1e-6], "distance": [0.0, 50.0, 100.0]}}))
    spec = load_spec(spec_path)
    with StudyFile.open(tmp_path / "s.h5", spec) as study:
        study.write(evaluate_chunk(spec.canonical(), list(range(spec.size))))
    result = CliRunner().invoke(main, ["plot", str(tmp_path / "s.h5")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "s.png").stat().st_size > 10_000 and "6/6 points done" in result.output
    result = CliRunner().invoke(main, ["plot", str(tmp_path / "s.h5"), "run_0001"])
    assert result.exit_code == 2 and "is a sweep study" in result.output
