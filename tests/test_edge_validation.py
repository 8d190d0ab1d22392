"""Bad input is refused at the edge, once, before anything runs: one `error:` line, exit 2, nothing stored.

Each case here was accepted (or crashed with a traceback) before the checks existed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from qkdlab.cli import main
from qkdlab.config import parse_config
from qkdlab.errors import ConfigError

PLUMBING = Path(__file__).parents[1] / "qkdlab" / "sim" / "plumbing.yaml"


def _refused(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize(("distance", "says"), [
    ("-10:50:10", "at least 0"), ("inf", "not a finite number"), ("nan", "not a finite number"),
    ("0:100:0", "step must be positive"), ("100:0:5", "range is empty"), ("-5", "at least 0"), ("1:2", "start:stop:step"),
])
def test_distances_must_be_finite_non_negative_ranges(distance: str, says: str) -> None:
    assert says in _refused("keyrate", "--epsilon", "1e-6", "--distance", distance)


def _instrument(limits: str = "", extra: str = "") -> dict:
    text = {"driver": "keysight_33500b", "resource": "USB0::0x0957::0x5707::MY1::INSTR"}
    if limits:
        text["limits"] = {"max_drive_voltage": limits}
    if extra:
        text["visa_library"] = extra
    return {"instruments": {"awg": text}}


@pytest.mark.parametrize(("limit", "says"), [("400 V", "outside the keysight_33500b range"),
                                             ("-4 V", "positive"), ("2 furlong", "is not a value in V")])
def test_safety_limits_must_make_sense(limit: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_config(_instrument(limits=limit))
    assert parse_config(_instrument(limits="4 V"))


def test_a_bench_config_cannot_name_a_library_to_load(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(ConfigError, match="not a known VISA backend"):
        parse_config(_instrument(extra="/tmp/libvisa-evil.so"))
    for backend in ("@py", "@sim", "@qkdsim", "@ivi", "", f"{PLUMBING}@sim"):
        assert parse_config(_instrument(extra=backend))
    config = tmp_path / "bench.yaml"
    config.write_text("instruments:\n  awg:\n    driver: keysight_33500b\n    resource: USB0::1::INSTR\n"
                      "    settings: {visa_library: /tmp/libvisa-evil.so}\n")
    from qkdlab.bench import Bench
    from qkdlab.config import load_config

    bench = Bench(load_config(config))
    assert bench.visa_library is None  # nothing named by the user: the file's settings cannot smuggle one in
    monkeypatch.setenv("QKDLAB_VISA_LIBRARY", "/opt/vendor/libvisa.so")
    assert Bench(load_config(config)).visa_library == "/opt/vendor/libvisa.so"  # the user's explicit choice


def test_a_binary_file_as_config_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "bench.yaml"
    config.write_bytes(bytes(range(256)) * 4)
    assert "not a text file" in _refused("bench", "check", str(config))


def test_a_limit_with_a_wrong_unit_says_how_to_write_it() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_instrument(limits="2 s"))
    assert "write e.g. '2 V'" in str(info.value) and ".strip()" not in str(info.value)


@pytest.mark.parametrize(("option", "value", "says"), [
    ("--carving-voltage", "50 V", "max_drive_voltage"), ("--laser-power", "50 mW", "instrument range"),
    ("--points", "-5", "at least 1"), ("--settle", "-1 s", "at least 0"), ("--points", "nan", "finite"),
])
def test_scan_parameters_are_refused_before_the_run_starts(tmp_path: Path, option: str, value: str,
                                                           says: str) -> None:
    out = tmp_path / "runs.h5"
    assert says in _refused("scan", "extinction-ratio", "--sim", "--out", str(out), option, value)
    assert not out.exists()  # no failed run left behind


def test_simulated_ground_truth_must_make_sense() -> None:
    from qkdlab.config import builtin_sim_config

    data = builtin_sim_config().model_dump(mode="json")
    data["simulation"]["parameters"] = {"im_extinction_ratio_db": -5}
    with pytest.raises(ConfigError, match="im_extinction_ratio_db"):
        parse_config(data)


def test_the_model_repetition_rate_is_used_and_an_override_is_said(tmp_path: Path) -> None:
    import csv
    import io

    from qkdlab.examples import flawed_source_model

    path = tmp_path / "model.json"
    flawed_source_model().model_copy(update={"repetition_rate_hz": 1e9}).save(path)
    result = CliRunner().invoke(main, ["keyrate", "--model", str(path), "--distance", "10", "--format", "csv"])
    assert result.exit_code == 0, result.output
    row = next(csv.DictReader(io.StringIO(result.stdout)))
    assert float(row["repetition_rate_hz"]) == 1e9 and "from the model" in result.stderr
    result = CliRunner().invoke(main, ["keyrate", "--model", str(path), "--distance", "10", "--format", "csv",
                                       "--rep-rate", "2e9"])
    assert float(next(csv.DictReader(io.StringIO(result.stdout)))["repetition_rate_hz"]) == 2e9
    assert "overrides the model's 1e+09 Hz" in result.stderr


def test_a_signed_delta_as_calibration_reports_it_is_accepted() -> None:
    result = CliRunner().invoke(main, ["keyrate", "--delta", "-0.0413", "--epsilon", "1e-6", "--distance", "50"])
    assert result.exit_code == 0, result.output
    assert "zero key" not in result.output


def test_a_zero_rate_says_which_term_made_it_zero() -> None:
    result = CliRunner().invoke(main, ["keyrate", "--delta", "0.063", "--epsilon", "1e-3", "--distance", "100"])
    assert result.exit_code == 0, result.output
    assert "zero key from 100 km: phase-error bound" in result.output and "a smaller ε" in result.output
    far = CliRunner().invoke(main, ["keyrate", "--epsilon", "1e-8", "--distance", "450"])
    assert "zero key from 450 km" in far.output and ("dark counts" in far.output or "errors" in far.output)
