"""Bench config validation: every bad key is named with what is expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from qkdlab.config import builtin_sim_config, load_config, parse_config
from qkdlab.errors import ConfigError

GOOD = {"name": "b", "instruments": {"pm": {"driver": "thorlabs_pm100", "resource": "USB0::1::2::3::INSTR"}}}


def test_builtin_sim_config_is_valid_and_names_every_family() -> None:
    config = builtin_sim_config()
    drivers = {inst.driver for inst in config.instruments.values()}
    assert {"keysight_33500b", "thorlabs_mbx", "thorlabs_pm100", "keysight_8163b", "keysight_81577a",
            "keysight_816x_laser", "idq_id210", "swabian_time_tagger"} <= drivers


def test_minimal_config() -> None:
    config = parse_config(GOOD)
    assert config.instruments["pm"].visa_library == ""
    assert config.simulation.seed == 0


@pytest.mark.parametrize("mutate, message", [
    (lambda c: c["instruments"]["pm"].update(driver="nope"), r"instruments\.pm\.driver: unknown driver 'nope'"),
    (lambda c: c["instruments"]["pm"].pop("resource"), r"instruments\.pm\.resource: required key is missing"),
    (lambda c: c["instruments"]["pm"].update(resorce="x"), r"instruments\.pm\.resorce: unknown key"),
    (lambda c: c.update(instruments={}), r"instruments: .*at least 1"),
    (lambda c: c.update(simulation={"parameters": {"bogus": 1}}), r"unknown simulation parameter.*bogus"),
])
def test_bad_configs_point_at_the_key(mutate, message) -> None:
    import copy

    data = copy.deepcopy(GOOD)
    mutate(data)
    with pytest.raises(ConfigError, match=message):
        parse_config(data, "bench.yaml")


def test_files_that_are_missing_or_not_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("instruments: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(listing)
