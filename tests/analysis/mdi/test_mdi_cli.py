"""``qkdlab keyrate --protocol mdi-…``: CSV with the prepare-and-measure columns, figure, model leakage, errors."""

import csv
import io

import pytest
from click.testing import CliRunner

from qkdlab.analysis.mdi import MdiSetup, MdiSource, mdi_key_rate
from qkdlab.cli import main
from qkdlab.model import Bound, LeakageModel
from qkdlab.examples import flawed_source_model


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_csv_rows_match_the_api(tmp_path):
    result = run("keyrate", "--protocol", "mdi-bb84", "--leakage-model", "1,3", "--leakage-intensity", "1e-5",
                 "--distance", "10,30", "--format", "csv", "--plot", str(tmp_path / "fig.png"))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {"method", "announcement", "distance_km", "key_rate_bps", "phase_error", "pz"} <= set(rows[0])
    # two models × two announcements × two distances, Ψ+ and Ψ− on rows of their own
    assert len(rows) == 8 and rows[0]["method"].startswith("mdi Model 1")
    assert [r["announcement"] for r in rows[:4]] == ["psi+", "psi+", "psi-", "psi-"]
    assert all(r["pz"] == "0.5" for r in rows)
    expected = mdi_key_rate(MdiSource("mdi-bb84", 3, 1e-5), MdiSetup(0.2, 0.5, 1e-6), 30.0,
                            repetition_rate_hz=1e9)
    for row, api in zip(rows[5::2], expected):                                  # Model 3 at 30 km
        assert row["announcement"] == api.announcement
        assert float(row["key_rate_bps"]) == pytest.approx(api.key_rate_bps, rel=1e-4)
        assert float(row["phase_error"]) == pytest.approx(api.phase_error, rel=1e-4)   # solver tolerance
    assert float(rows[0]["key_rate_bps"]) < float(rows[4]["key_rate_bps"])       # Model 1 below Model 3
    assert (tmp_path / "fig.png").stat().st_size > 20_000


def test_pz_is_the_same_option_for_mdi_and_one_reproduces_the_papers_convention():
    rows = {}
    for pz in ("0.5", "1"):
        result = run("keyrate", "--protocol", "mdi-bb84", "--leakage-intensity", "1e-5", "--distance", "20",
                     "--format", "csv", "--pz", pz)
        assert result.exit_code == 0, result.output
        rows[pz] = list(csv.DictReader(io.StringIO(result.stdout)))
    for half, paper in zip(rows["0.5"], rows["1"]):
        assert float(half["key_rate_per_pulse"]) == pytest.approx(float(paper["key_rate_per_pulse"]) / 4, rel=1e-6)
    result = run("keyrate", "--protocol", "mdi-bb84", "--distance", "20", "--pz", "0")
    assert result.exit_code == 2 and "pz" in result.output and "Traceback" not in result.output


def test_calibrated_leakage_from_a_source_model(tmp_path):
    leakage = LeakageModel(mean_photons_per_slot=Bound(value=1e-5, upper=2e-5),
                           relative_energy=Bound(value=1e-5), pm_electrode_transit_s=150e-12,
                           drive_pulse_width_s=200e-12, faraday_mirror=True)
    model = flawed_source_model(delta=0.0, epsilon=1e-6).model_copy(update={"leakage": leakage})
    path = tmp_path / "model.json"
    model.save(path)
    result = run("keyrate", "--protocol", "mdi-bb84", "--model", str(path), "--distance", "20", "--format", "csv")
    assert result.exit_code == 0, result.output
    from_model = float(next(csv.DictReader(io.StringIO(result.stdout)))["key_rate_per_pulse"])
    inline = mdi_key_rate(MdiSource("mdi-bb84", 3, 2e-5), MdiSetup(0.2, 0.5, 1e-6), 20.0)
    assert from_model == pytest.approx(inline[0].key_rate_per_pulse, rel=1e-6)   # the upper bound is used


@pytest.mark.parametrize("args,message", [
    (["--finite", "1e9"], "asymptotic"),
    (["--leakage-model", "4"], "use 1, 2 or 3"),
    (["--leakage-model", "x"], "model numbers"),
    (["--leakage-intensity", "-1"], ">= 0"),
])
def test_bad_mdi_requests_are_one_clear_line(args, message):
    result = run("keyrate", "--protocol", "mdi-bb84", "--distance", "10", *args)
    assert result.exit_code != 0 and message in result.output
    assert "Traceback" not in result.output


def test_a_model_without_leakage_calibration_is_refused(tmp_path):
    path = tmp_path / "model.json"
    flawed_source_model().save(path)
    result = run("keyrate", "--protocol", "mdi-bb84", "--model", str(path), "--distance", "10")
    assert result.exit_code != 0 and "no leakage-light calibration" in result.output
