"""``qkdlab keyrate``: table, CSV, figure, model files and clear errors."""

import csv
import io

import pytest
from click.testing import CliRunner

from qkdlab.analysis import AnalysisSource, Channel, FiniteKey, key_rate
from qkdlab.cli import main
from qkdlab.cli.keyrate import keyrate_command
from qkdlab.examples import flawed_source_model as model


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def rows(output: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(output)))


def test_csv_has_the_documented_columns_and_the_api_numbers():
    result = run("keyrate", "--delta", "0.063", "--epsilon", "1e-6", "--distance", "0:100:50", "--compare", "gllp",
                 "--format", "csv")
    assert result.exit_code == 0, result.output
    table = rows(result.stdout)
    assert {"method", "distance_km", "key_rate_bps", "phase_error"} <= set(table[0])
    assert [r["method"] for r in table] == ["ltqc"] * 3 + ["gllp"] * 3
    expected = key_rate(AnalysisSource.flawed("bb84", 0.063, 1e-6), Channel(), "gllp", distance_km=50.0)
    assert float(table[4]["key_rate_bps"]) == pytest.approx(expected.key_rate_bps, rel=1e-6)


def test_channel_options_change_the_numbers():
    base = rows(run("keyrate", "--epsilon", "1e-6", "--distance", "50", "--format", "csv").output)[0]
    lossy = rows(run("keyrate", "--epsilon", "1e-6", "--distance", "50", "--format", "csv", "--fiber-loss", "0.3",
                     "--detector-efficiency", "0.5", "--dark-count-prob", "1e-6", "--ec-efficiency", "1.2",
                     "--rep-rate", "1e9", "--protocol", "three-state").output)[0]
    assert float(lossy["key_rate_bps"]) < float(base["key_rate_bps"]) / 10


def test_table_and_comparison_figure(tmp_path):
    figure = tmp_path / "curves.png"
    result = run("keyrate", "--delta", "0.063", "--epsilon", "1e-6", "--distance", "0:200:20", "--compare",
                 "gllp,rt,lt", "--plot", str(figure))
    assert result.exit_code == 0
    assert "max distance" in result.output and "skipped lt" in result.output and "assumes ε = 0" in result.output
    assert figure.stat().st_size > 20_000


def test_model_file_and_finite_key(tmp_path):
    path = tmp_path / "model.json"
    model(epsilon=1e-6).save(path)
    result = run("keyrate", "--model", str(path), "--distance", "50", "--finite", "1e12", "--format", "csv")
    assert result.exit_code == 0, result.output
    expected = key_rate(model(epsilon=1e-6), Channel(), "ltqc", 1e12, distance_km=50.0)
    assert float(rows(result.stdout)[0]["key_rate_bps"]) == pytest.approx(expected.key_rate_bps, rel=1e-6)


def test_decoy_option():
    result = run("keyrate", "--epsilon", "1e-7", "--decoys", "0.5,0.1,0", "--distance", "20", "--format", "csv")
    assert result.exit_code == 0, result.output
    assert float(rows(result.stdout)[0]["key_rate_bps"]) > 0


@pytest.mark.parametrize("args,message", [
    (["--model", "nope.json"], "no such file"),
    (["--model", "x.json", "--delta", "0.1"], "not both"),
    (["--distance", "10:0:5"], "the range is empty"),
    (["--method", "lt", "--epsilon", "1e-6"], "assumes ε = 0"),
    (["--decoys", "0.5,0.1"], "vacuum"),
    (["--detector-efficiency", "1.5"], "--detector-efficiency"),
])
def test_bad_input_is_one_clear_line(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.json").write_text("{}")
    result = CliRunner().invoke(main, ["keyrate", *args])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_pz_sets_the_sifting_and_one_is_the_papers_convention():
    """--pz (alias --basis-prob) is written into every row; --pz 1 is the exact efficient-BB84 limit."""
    common = ("keyrate", "--delta", "0.063", "--epsilon", "1e-6", "--distance", "50", "--format", "csv")
    half, paper, high = (rows(run(*common, "--pz", pz).output)[0] for pz in ("0.5", "1", "0.9"))
    assert (half["pz"], paper["pz"], high["pz"]) == ("0.5", "1", "0.9")
    assert float(half["key_rate_per_pulse"]) == pytest.approx(float(paper["key_rate_per_pulse"]) / 4, rel=1e-6)
    expected = key_rate(AnalysisSource.flawed("bb84", 0.063, 1e-6), Channel(), "ltqc", distance_km=50.0, pz=0.9)
    assert float(high["key_rate_bps"]) == pytest.approx(expected.key_rate_bps, rel=1e-6)
    assert rows(run(*common[:-2], "--format", "csv", "--basis-prob", "0.9").output)[0]["pz"] == "0.9"
    table = run("keyrate", "--delta", "0.063", "--epsilon", "1e-6", "--distance", "50", "--pz", "1").output
    assert "efficient BB84" in table and "sifting" in table
    refused = CliRunner().invoke(main, [*common[:-2], "--pz", "1", "--finite", "1e10"])
    assert refused.exit_code == 2 and "error: pz = 1 leaves no test rounds" in refused.output
    assert "--pz" in run("keyrate", "--help").output


def test_concentration_option_reaches_the_finite_key():
    from qkdlab.analysis.concentration import CONCENTRATIONS

    choices = next(p for p in keyrate_command.params if p.name == "concentration").type.choices
    assert set(choices) == set(CONCENTRATIONS)
    common = ("keyrate", "--delta", "0.063", "--epsilon", "1e-6", "--distance", "100", "--finite", "1e9",
              "--pz", "0.9", "--format", "csv")
    got = {kind: float(rows(run(*common, "--concentration", kind).output)[0]["key_rate_per_pulse"])
           for kind in ("chernoff", "kato", "azuma")}
    source = AnalysisSource.flawed("bb84", 0.063, 1e-6)
    for kind, value in got.items():
        expected = key_rate(source, Channel(), "ltqc", FiniteKey(1e9, concentration=kind), distance_km=100.0, pz=0.9)
        assert value == pytest.approx(expected.key_rate_per_pulse, rel=1e-6)
    assert got["azuma"] < got["kato"] <= got["chernoff"]
    assert "kato martingale concentration" in run(*common[:-2], "--concentration", "kato").output


def test_method_best_names_the_winner_per_distance():
    result = run("keyrate", "--delta", "0.063", "--epsilon", "1e-6", "--distance", "0,50", "--method", "best",
                 "--format", "csv")
    assert result.exit_code == 0, result.output
    table = rows(result.stdout)
    assert [r["method"] for r in table] == ["best", "best"]
    assert [r["winner"] for r in table] == ["rt", "ltqc"]
    assert table[1]["coin_pair"] == "v0 ← +X0; v1 ← −Z0 +Z1 +X1"
    source = AnalysisSource.flawed("bb84", 0.063, 1e-6)
    each = [key_rate(source, Channel(), m, distance_km=50.0).key_rate_bps for m in ("ltqc", "gllp", "rt")]
    assert float(table[1]["key_rate_bps"]) == pytest.approx(max(each), rel=1e-6)
    shown = run("keyrate", "--delta", "0.063", "--epsilon", "1e-6", "--distance", "0,50", "--method", "best")
    assert "winner" in shown.output and "winners: rt 0 km; ltqc 50 km" in shown.output
