"""Sweep specs: grids, canonical form, and errors that name the key."""

from __future__ import annotations

import json

import pytest

from qkdlab.errors import ConfigError
from qkdlab.sweep.parameters import known_methods
from qkdlab.sweep.spec import load_spec, parse_axis, parse_spec


def test_axis_ranges_include_the_stop_and_lists_stay_as_given():
    assert parse_axis("0:100:25") == [0.0, 25.0, 50.0, 75.0, 100.0]
    assert parse_axis([1e-6, 1e-5]) == [1e-6, 1e-5]
    with pytest.raises(ValueError, match="step must be positive"):
        parse_axis("10:0:5")


def test_grid_points_follow_the_axis_order():
    spec = parse_spec({"axes": {"epsilon": [0.0, 1e-6], "distance": "0:20:10"}, "fixed": {"delta": 0.063}})
    assert spec.shape == (2, 3) and spec.size == 6
    assert spec.flat_point(4) == {"delta": 0.063, "epsilon": 1e-6, "distance": 10.0}


def test_canonical_form_keeps_axis_order_but_not_the_order_of_fixed_values():
    a = parse_spec({"axes": {"epsilon": [0.0], "distance": [1.0]}, "fixed": {"delta": 0.1, "fiber_loss": 0.2}})
    b = parse_spec({"axes": {"epsilon": [0.0], "distance": [1.0]}, "fixed": {"fiber_loss": 0.2, "delta": 0.1}})
    c = parse_spec({"axes": {"distance": [1.0], "epsilon": [0.0]}, "fixed": {"delta": 0.1, "fiber_loss": 0.2}})
    assert a.digest() == b.digest() != c.digest()
    assert parse_spec(json.loads(a.canonical())).canonical() == a.canonical()


@pytest.mark.parametrize(("data", "key"), [
    ({"axes": {"distanse": [1.0]}}, "axes.distanse: unknown parameter"),
    ({"axes": {"distance": [1.0]}, "fixed": {"delta": 4.0}}, "fixed: δ = 4.0 must lie in (-π, π)"),
    ({"axes": {"distance": [0.0, -5.0]}}, "axes.distance[1]: distance = -5.0 km"),
    ({"axes": {"method": ["ltqc", "nonsense"]}}, "axes.method[1]: method 'nonsense' is not one"),
    ({"axes": {"distance": [1.0]}, "fixed": {"fiber_loss": "lots"}}, "fixed.fiber_loss: fiber_loss = 'lots' is not"),
    ({"axes": {"distance": [1.0]}, "optimise": {"parameters": {"epsilon": [0, 1e-6]}}},
     "optimise.parameters: Value error, 'epsilon' cannot be optimised"),
    ({"axes": {"distance": [1.0]}, "optimise": {"parameters": {"decoy": [0.01, 0.2]}}},
     "optimise.parameters.decoy: decoy parameters need a weak-coherent source"),
    ({"axes": {"distance": [1.0]}, "fixed": {"signal": 0.5, "decoy": 0.7}}, "fixed: decoy = 0.7 must lie between"),
    ({"axes": {"distance": "1:2"}}, "axes.distance"),
    ({"axes": {"distance": [1.0]}, "protocol": "b92"}, "protocol: Value error, 'b92'"),
    ({"axes": {"distance": [1.0]}, "extra": 1}, "extra: unknown key"),
    ({"fixed": {}}, "axes: required key is missing"),
])
def test_errors_name_the_key(data, key):
    with pytest.raises(ConfigError) as info:
        parse_spec(data, "s.yaml")
    assert str(info.value).startswith("s.yaml: invalid sweep spec: ")
    assert key.replace("Value error, ", "") in str(info.value)


def test_methods_are_read_from_the_analysis():
    assert "ltqc" in known_methods()
    spec = parse_spec({"axes": {"method": list(known_methods()), "distance": [10.0]}})
    assert spec.shape == (len(known_methods()), 1)


def test_spec_file_errors_are_one_line(tmp_path):
    with pytest.raises(ConfigError, match="sweep spec file not found"):
        load_spec(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("axes: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_spec(tmp_path / "bad.yaml")


def test_packaged_sample_spec_is_valid():
    from importlib import resources

    with resources.as_file(resources.files("qkdlab.configs").joinpath("sweep_gys_decoy.yaml")) as path:
        spec = load_spec(path)
    assert spec.optimise is not None and "distance" in spec.axes
