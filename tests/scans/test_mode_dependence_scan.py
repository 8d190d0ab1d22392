"""The mode-dependence scan from the command line: its run, its figure, its headline numbers, bad parameters."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner

from qkdlab.cli import main
from qkdlab.scans import SCANS
from qkdlab.scans.mode_dependence import quicklook
from qkdlab.store import Store


def test_registered_and_run_from_the_command_line(tmp_path) -> None:
    assert "mode-dependence" in SCANS
    out = tmp_path / "bench.h5"
    runner = CliRunner()
    result = runner.invoke(main, ["scan", "mode-dependence", "--sim", "--out", str(out), "--repeats", "2",
                                  "--tagger", "", "--protocol", "three-state"])
    assert result.exit_code == 0, result.output
    run = Store(out).read(1)
    assert run.kind == "mode-dependence" and run.status == "completed"
    assert set(run.groups) >= {"traces", "spectra"} and "histograms" not in run.groups
    settings = run.data("spectra", "setting").magnitude
    assert sorted(np.unique(settings).tolist()) == [-1, 0, 1, 2]  # dark and the three settings
    assert run.data("spectra", "wavelength").to("nm").magnitude.size == run.data("spectra", "power").shape[1]
    assert abs(float(run.parameter("osa_resolution").to("nm").magnitude) - 0.02) < 1e-12
    headline = quicklook(run)
    assert headline["pulse centroid spread"].endswith("ps") and "MHz" in headline["spectral centroid spread"]
    figure = tmp_path / "mode.png"
    result = runner.invoke(main, ["plot", str(out), "1", "-o", str(figure)])
    assert result.exit_code == 0, result.output
    assert figure.stat().st_size > 0


def test_bad_parameters_are_one_line(tmp_path) -> None:
    result = CliRunner().invoke(main, ["scan", "mode-dependence", "--sim", "--out", str(tmp_path / "b.h5"),
                                       "--osa-resolution", "0.03 nm", "--repeats", "2", "--tagger", ""])
    assert result.exit_code == 2 and result.output.strip().startswith("error: ") and "Traceback" not in result.output
    assert "3e-11 m is not a setting" in result.output
