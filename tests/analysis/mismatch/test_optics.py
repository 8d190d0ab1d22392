"""Bob's optics: second quantisation, POVM completeness and positivity, graining, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from qkdlab.analysis.mismatch import PhotonBoundError, Receiver, photon_number_minima, table_i, table_ii
from qkdlab.analysis.mismatch.fock import n_photon_state, second_quantised


def test_second_quantisation_is_a_representation() -> None:
    rng = np.random.default_rng(1)
    u = np.linalg.qr(rng.normal(size=(4, 4)))[0]
    a, b = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    for n in range(4):
        g = second_quantised(u, n)
        assert np.allclose(g.T @ g, np.eye(len(g)))
        assert np.allclose(second_quantised(a @ b, n), second_quantised(a, n) @ second_quantised(b, n))
    diag = np.diag([0.3, 0.5, 0.7, 0.9])
    assert np.allclose(second_quantised(diag, 3), second_quantised(diag + 1e-300 * np.eye(4)[::-1], 3))
    state = n_photon_state(np.array([1.0, 1.0, 0.0, 0.0]) / np.sqrt(2), 2)
    assert np.linalg.norm(state) == pytest.approx(1.0)


@pytest.mark.parametrize("receiver", [Receiver("active", table_i(0.7, 0.3)), Receiver("passive", table_ii(0.8, 0.4)),
                                      Receiver("active", [[0.5], [0.4]], "coarse"),
                                      Receiver("passive", [[0.9], [0.5], [0.6], [0.7]])])
def test_povms_are_complete_and_positive(receiver: Receiver) -> None:
    for n in range(4):
        povm = receiver.povm(n)
        assert set(povm) == set(receiver.outcomes)
        assert np.allclose(sum(povm.values()), np.eye(receiver.block_dim(n)))
        assert min(np.linalg.eigvalsh(m)[0] for m in povm.values()) > -1e-12


def test_single_photon_click_probabilities() -> None:
    """One H photon in mode m: the active H/D detector clicks with ½η[0][m] in the H/V basis."""
    rc = Receiver("active", table_i(0.7, 0.3))
    povm = rc.povm(1)
    for mode, eta in ((0, 0.7), (1, 0.3)):
        v = np.zeros(4)
        v[mode] = 1.0
        assert v @ povm["H"] @ v == pytest.approx(0.5 * eta)
        assert v @ povm["V"] @ v == pytest.approx(0.0)
        other = rc.efficiency[1, mode]
        assert v @ (povm["D"] + povm["A"]) @ v == pytest.approx(0.5 * (0.5 * eta + 0.5 * other))
        assert v @ povm["DA"] @ v == pytest.approx(0.0)


def test_monotonicity_check_needs_three_photons() -> None:
    with pytest.raises(PhotonBoundError, match="at least 3"):
        photon_number_minima(Receiver("active", table_i(0.5, 0.4)), check_up_to=2)


def test_cli_mismatch_csv_json_and_errors(tmp_path) -> None:
    from qkdlab.cli.main import main as cli

    runner = CliRunner()
    args = ["keyrate", "--protocol", "bb84-mismatch", "--modes", "1", "--eta", "0.2,0.15", "--misalignment", "0.05",
            "--multiphoton-fraction", "0.05", "--photon-bound", "cutoff"]
    out = runner.invoke(cli, args + ["--format", "json", "--plot", str(tmp_path / "k.png")])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)
    assert rows[0]["certified"] and rows[0]["gap"] <= 1e-8 and rows[0]["key_rate_per_round"] > 0
    assert any("cut-off" in a for a in rows[0]["assumptions"])
    assert (tmp_path / "k.png").stat().st_size > 0
    out = runner.invoke(cli, args + ["--format", "csv", "--transmission", "0.4,0.5"])
    assert out.exit_code == 0
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("receiver,modes") and "key_rate_per_round" in lines[0] and len(lines) == 3
    bad = runner.invoke(cli, ["keyrate", "--protocol", "bb84-mismatch", "--eta", "1.3,0.2"])
    assert bad.exit_code == 2 and "[0, 1]" in bad.output
    bad = runner.invoke(cli, ["keyrate", "--protocol", "bb84-mismatch", "--eta", "0.2,0.1", "--receiver", "passive",
                              "--modes", "2"])
    assert bad.exit_code == 2 and "--modes" in bad.output


def test_demo_line_reports_the_cost_of_mismatch(detector_table) -> None:
    """The demo's line: the worst case over the confidence box (emulation hull) against matched
    detectors; the mismatch costs something, and not everything."""
    from types import SimpleNamespace

    from qkdlab.cli.demo import mismatch_line

    line = mismatch_line(SimpleNamespace(detectors=detector_table([[0.6, 0.6], [0.6, 0.55]])))
    assert "bit/round certified" in line and "matched detectors" in line and "confidence box" in line
    cost = float(line.rsplit("costs ", 1)[1].rstrip("%"))
    assert 0 < cost < 100
    assert mismatch_line(SimpleNamespace(detectors=None)) is None


def test_cli_takes_the_eta_table_from_a_model(tmp_path, detector_table) -> None:
    from qkdlab.cli.main import main as cli
    from qkdlab.examples import flawed_source_model

    path = tmp_path / "model.json"
    flawed_source_model().model_copy(update={"detectors": detector_table([[0.2, 0.2], [0.2, 0.2]])}).save(path)
    out = CliRunner().invoke(cli, ["keyrate", "--protocol", "bb84-mismatch", "--model", str(path),
                                   "--photon-bound", "cutoff", "--misalignment", "0.05", "--format", "json"])
    assert out.exit_code == 0, out.output
    row = json.loads(out.stdout)[0]
    # the emulation hull of the boxes [0.19, 0.21]²: vertices (0.19, 0.21), (0.21, 0.19), (0.21, 0.21), doubled
    assert (row["eta1"], row["eta2"]) == pytest.approx((0.21, 0.19)) and row["modes"] == 6 and row["certified"]
    assert "conv" in row["assumptions"][0] and row["key_rate_per_round"] > 0
    no_table = tmp_path / "plain.json"
    flawed_source_model().save(no_table)
    out = CliRunner().invoke(cli, ["keyrate", "--protocol", "bb84-mismatch", "--model", str(no_table)])
    assert out.exit_code == 2 and "no detector table" in out.output
