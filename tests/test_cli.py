"""The `qkdlab` command: bench check (simulated and not), demo, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from qkdlab.cli import main

PLUMBING = Path(__file__).resolve().parents[1] / "qkdlab" / "sim" / "plumbing.yaml"


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_bench_check_sim_lists_every_instrument() -> None:
    result = run("bench", "check", "--sim")
    assert result.exit_code == 0, result.output
    for name in ("awg", "bias", "laser", "probe_laser", "pm_monitor", "pm_lab", "voa", "probe_voa", "spd1", "spd2",
                 "tagger", "scope"):
        assert name in result.output
    assert "all 12 instruments answered" in result.output
    assert "NOT ANSWERING" not in result.output


def test_bench_check_names_the_instrument_that_does_not_answer(tmp_path: Path) -> None:
    config = tmp_path / "bench.yaml"
    config.write_text(
        "name: partly missing\n"
        "instruments:\n"
        "  here:\n"
        "    driver: keysight_33500b\n"
        "    resource: GPIB0::22::INSTR\n"
        "    settings: {model: 33522B}\n"
        f"    visa_library: '{PLUMBING}@sim'\n"
        "  gone:\n"
        "    driver: thorlabs_pm100\n"
        "    resource: USB0::0x1313::0x8078::NOPE::INSTR\n"
        f"    visa_library: '{PLUMBING}@sim'\n")
    result = run("bench", "check", str(config))
    assert result.exit_code == 1
    assert "not answering: gone" in result.output
    assert "here" in result.output


def test_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "bench.yaml"
    config.write_text("instruments:\n  x:\n    driver: warp_drive\n    resource: A\n")
    result = run("bench", "check", str(config))
    assert result.exit_code == 2
    assert "instruments.x.driver: unknown driver 'warp_drive'" in result.output
    assert "Traceback" not in result.output


def test_check_without_config_or_sim_is_a_usage_error() -> None:
    result = run("bench", "check")
    assert result.exit_code == 2
    assert "--sim" in result.output


@pytest.mark.parametrize("points", ["9"])
def test_demo_prints_identities_and_a_bias_sweep_with_a_deep_null(points: str) -> None:
    result = run("demo", "--points", points)
    assert result.exit_code == 0, result.output
    assert "Intensity-modulator bias sweep" in result.output
    assert result.output.count("+") >= 4  # signed bias values in the table
    line = [row for row in result.output.splitlines() if "max/min power over the sweep" in row][0]
    assert float(line.split(":")[1].split("dB")[0]) > 10.0


def test_bias_sweep_traces_the_modulator_transfer_curve() -> None:
    from qkdlab.bench import Bench
    from qkdlab.config import builtin_sim_config
    from qkdlab.demo import bias_sweep

    with Bench(builtin_sim_config(), simulate=True).open() as bench:
        rows = bias_sweep(bench, points=33)
        model = bench.sim.model
        truth = []
        for bias_v, _, _ in rows:
            model.im_bias_v = bias_v
            truth.append(model.optical_power("monitor"))
    powers = [power for _, power, _ in rows]
    assert max(powers) > 1e-7  # the laser really was switched on
    for measured, true in zip(powers, truth):
        assert measured == pytest.approx(true, rel=0.05, abs=5e-11)
