"""The `qkdlab` command: bench check (simulated and not), demo, and one-line errors."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from qkdlab.cli import main

PLUMBING = Path(__file__).resolve().parents[1] / "qkdlab" / "sim" / "plumbing.yaml"


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_bench_check_sim_lists_every_instrument() -> None:
    result = run("bench", "check", "--sim")
    assert result.exit_code == 0, result.output
    for name in ("awg", "bias", "laser", "probe_laser", "pm_monitor", "pm_lab", "voa", "probe_voa", "spd1", "spd2",
                 "tagger", "scope", "osa"):
        assert name in result.output
    assert "all 13 instruments answered" in result.output
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


