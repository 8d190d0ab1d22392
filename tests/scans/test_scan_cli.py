"""`qkdlab scan/runs/plot` as a user runs them, including Ctrl-C and kill -9 in the middle of a scan."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest
from click.testing import CliRunner

from qkdlab.cli import main
from qkdlab.errors import DataError
from qkdlab.store import Store

QUICK_ER = ["--points", "21", "--fine-points", "5", "--repeats", "2"]


def test_scan_runs_and_plot_from_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "bench.h5"
    runner = CliRunner()
    result = runner.invoke(main, ["scan", "extinction-ratio", "--sim", "--out", str(out), *QUICK_ER])
    assert result.exit_code == 0, result.output
    # the summary counts every point taken (as the progress bar does), the default group's among them
    assert re.search(r"run_0001 completed, (\d+) points \(21 in sweep, ", result.output), result.output
    assert "static ER" in result.output
    result = runner.invoke(main, ["scan", "isolation", "--sim", "--out", str(out), "--attenuations", "0, 10, 20"])
    assert result.exit_code == 0, result.output
    listing = runner.invoke(main, ["runs", str(out)])
    assert listing.exit_code == 0
    assert "extinction-ratio" in listing.output and "isolation" in listing.output and "completed" in listing.output
    png = tmp_path / "er.png"
    assert runner.invoke(main, ["plot", str(out), "1", "-o", str(png)]).exit_code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    default_png = tmp_path / "bench-run_0002.png"
    assert runner.invoke(main, ["plot", str(out), "run_0002"]).exit_code == 0
    assert default_png.exists()


@pytest.mark.parametrize(("args", "message"), [
    (["runs", "{tmp}/missing.h5"], "no such file"),
    (["plot", "{tmp}/bench.h5", "9"], "no run '9'"),
    (["scan", "extinction-ratio", "--sim", "--out", "{tmp}/x.h5", "--points", "ten"], "points='ten'"),
    (["scan", "extinction-ratio", "--sim", "--out", "{tmp}/nodir/x.h5"], "does not exist"),
])
def test_bad_inputs_are_one_clear_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    runner = CliRunner()
    runner.invoke(main, ["scan", "extinction-ratio", "--sim", "--out", str(tmp_path / "bench.h5"), *QUICK_ER])
    result = runner.invoke(main, [a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def _start_cli_scan(out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "qkdlab.cli", "scan", "extinction-ratio", "--sim", "--out",
                             str(out), "--points", "200000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_points(out: Path, at_least: int, proc: subprocess.Popen, timeout: float = 180.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        try:
            runs = Store(out).runs()
            if runs and runs[-1].points >= at_least:
                return runs[-1].points
        except DataError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"the scan did not reach {at_least} points within {timeout:.0f} s")


@pytest.mark.parametrize(("stop", "recorded"), [(signal.SIGINT, "Ctrl-C, SIGINT"), (signal.SIGTERM, "SIGTERM")])
def test_a_stopped_scan_is_aborted_with_the_signal_named_and_keeps_every_point(tmp_path: Path, stop,
                                                                               recorded) -> None:
    out = tmp_path / "stopped.h5"
    proc = _start_cli_scan(out)
    try:
        seen = _wait_points(out, 20, proc)
        proc.send_signal(stop)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert b"interrupted" in err and b"Traceback" not in err
    run = Store(out).runs()[0]
    assert run.status == "aborted" and run.points >= seen
    assert recorded in run.reason and (stop == signal.SIGINT or "Ctrl-C" not in run.reason)
    assert not (Store(out).read(1).data("sweep", "power").magnitude == 0).any()  # no half-written point


def test_kill_9_mid_scan_leaves_a_readable_file_with_the_points(tmp_path: Path) -> None:
    out = tmp_path / "killed.h5"
    proc = _start_cli_scan(out)
    try:
        seen = _wait_points(out, 20, proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    run = Store(out).runs()[0]
    assert run.status != "completed" and run.points >= seen
    with h5py.File(out, "r", swmr=True) as f:  # a plain h5py user can read it too
        assert f["run_0001/sweep/power"].shape[0] >= seen
    result = CliRunner().invoke(main, ["runs", str(out)])
    assert result.exit_code == 0 and "interrupted" in result.output
