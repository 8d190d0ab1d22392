"""SourceModel: the ε combination rules, and exact persistence with version checks."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from qkdlab.errors import DataError
from qkdlab.model import MODEL_SCHEMA_VERSION, Bound, EpsilonBudget, EpsilonPart, QubitState, SourceModel


def part(name: str, eps: float, dof: str = "own-mode") -> EpsilonPart:
    return EpsilonPart(name=name, upper=eps, degree_of_freedom=dof, inventory="measured")


def test_own_mode_parts_multiply_fidelities_as_tensor_factors() -> None:
    parts = [part("a", 1e-6), part("b", 2e-6), part("c", 0.3)]
    # independent check: the overlap of tensor products is the product of the overlaps
    overlaps = [math.sqrt(1 - p.upper) for p in parts]
    assert EpsilonBudget.combine(parts).total == pytest.approx(1 - np.prod(overlaps) ** 2)
    assert EpsilonBudget.combine(parts[:2]).total <= 3e-6  # ≤ the sum (App. A.2: they add up)


def test_same_degree_of_freedom_parts_add_their_angles() -> None:
    a, b = 1e-6, 4e-6
    total = EpsilonBudget.combine([part("x", a, "qubit"), part("y", b, "qubit")]).total
    # independent check: rotate a qubit by θ_a then θ_b (worst case: same direction)
    theta_a, theta_b = math.asin(math.sqrt(a)), math.asin(math.sqrt(b))
    start = np.array([1.0, 0.0])
    rotate = lambda t: np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])  # noqa: E731
    end = rotate(theta_b) @ rotate(theta_a) @ start
    assert total == pytest.approx(1 - abs(start @ end) ** 2, rel=1e-9)
    # three parts of 1e-6: 3e-6 as tensor factors but 9e-6 by the angle rule (background §2.6)
    assert EpsilonBudget.combine([part(str(i), 1e-6) for i in range(3)]).total == pytest.approx(3e-6, rel=1e-5)
    assert EpsilonBudget.combine([part(str(i), 1e-6, "qubit") for i in range(3)]).total == pytest.approx(9e-6, rel=1e-5)


def test_limits_of_the_combination() -> None:
    assert EpsilonBudget.combine([]).total == 0.0
    assert EpsilonBudget.combine([part("only", 3e-7)]).total == pytest.approx(3e-7)
    assert EpsilonBudget.combine([part("only", 3e-7, "qubit")]).total == pytest.approx(3e-7)
    assert EpsilonBudget.combine([part("q", 0.6, "qubit"), part("r", 0.6, "qubit")]).total == 1.0  # saturates
    with pytest.raises(ValueError):
        part("bad", 1.5)


def example_model() -> SourceModel:
    states = tuple(QubitState(label=label, nominal_phase=phase,
                              phase=Bound(value=phase + 0.01, lower=phase, upper=phase + 0.02, unit="rad"))
                   for label, phase in (("Z0", 0.0), ("Z1", math.pi), ("X0", math.pi / 2)))
    return SourceModel(protocol="three-state", states=states, delta=Bound(value=0.063, lower=0.06, upper=0.07),
                       epsilon=EpsilonBudget.combine([part("trojan_horse", 1e-9), part("pulse_correlations", 1e-7,
                                                                                         "qubit")]),
                       confidence=0.99, total_failure_probability=0.02)


def test_json_round_trip_is_exact(tmp_path) -> None:
    model = example_model()
    path = tmp_path / "model.json"
    model.save(path)
    from qkdlab.model import load_source_model

    assert load_source_model(path) == model
    assert json.loads(path.read_text())["schema_version"] == MODEL_SCHEMA_VERSION


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "invalid JSON"),
    ('{"protocol": "bb84"}', "no schema_version"),
    ('{"schema_version": 99}', "schema version 99"),
    ('{"schema_version": 1, "protocol": "b92"}', "invalid source model"),
])
def test_bad_model_files_are_refused_clearly(tmp_path, text, message) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    from qkdlab.model import load_source_model

    with pytest.raises(DataError, match=message) as info:
        load_source_model(path)
    assert str(path) in str(info.value)
