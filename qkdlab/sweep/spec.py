"""Sweep specs: YAML -> validated pydantic model, errors that name the key.

A spec says what to compute at every point of a grid::

    name: decoy BB84 over a GYS-like link
    protocol: bb84                   # bb84 | three-state
    model: my_source.json            # optional SourceModel (else delta/epsilon/correlations)
    fixed:                           # parameters held constant (qkdlab keyrate's vocabulary)
      fiber_loss: 0.21
      signal: 0.5
    axes:                            # one grid dimension each: a list, or start:stop:step (stop included)
      distance: 0:150:10
      method: [ltqc, gllp]
    optimise:                        # optional: protocol parameters chosen per point, within bounds,
      parameters: {signal: [0.02, 1.0], decoy: [0.001, 0.3]}   # starting from fixed values / defaults
      seed: 1
    chunk_size: 64                   # optional: points per task (default: chosen from the grid)

Every value is checked by building the analysis inputs it produces, so a bad value fails with the
key and the reason before any work starts (:class:`~qkdlab.errors.ConfigError`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ConfigError, QkdlabError
from ..yamlfile import describe_validation, read_yaml
from .parameters import DEFAULTS, OPTIMISABLE, PROTOCOLS, SOURCE_PARAMETERS, known_parameters, point_inputs

__all__ = ["Optimise", "SweepSpec", "parse_spec", "load_spec", "parse_axis"]

#: Parameters whose values are text, not numbers (everything else is a float or null).
_TEXT = {"method", "concentration"}


def parse_axis(value: Any) -> list[Any]:
    """A list as given, or 'start:stop:step' with the stop included (as ``qkdlab keyrate --distance``)."""
    if isinstance(value, str) and value.count(":") == 2:
        try:
            start, stop, step = (float(x) for x in value.split(":"))
        except ValueError:
            raise ValueError(f"{value!r}: give start:stop:step with numbers, e.g. 0:150:10") from None
        if not step > 0 or stop < start:
            raise ValueError(f"{value!r}: the step must be positive and stop ≥ start")
        return [float(x) for x in np.round(np.arange(start, stop + step / 2, step), 9)]
    if isinstance(value, (list, tuple)) and value:
        return list(value)
    raise ValueError(f"{value!r}: give a non-empty list or start:stop:step")


def _number(name: str, value: Any) -> Any:
    """YAML 1.1 reads 2.0e6 (no sign in the exponent) as text: take it as the number it is."""
    if name in _TEXT or not isinstance(value, str):
        return value
    try:
        return float(value)
    except ValueError:
        return value


class Optimise(BaseModel):
    """Protocol parameters to choose per point (maximising the secure key rate) and how."""

    model_config = ConfigDict(extra="forbid")

    parameters: dict[str, tuple[float, float]] = Field(min_length=1)
    seed: int = 0
    starts: int = Field(default=8, ge=0, le=1024)
    max_iterations: int = Field(default=200, ge=1)

    @field_validator("parameters")
    @classmethod
    def _optimisable(cls, value: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for name, (low, high) in value.items():
            if name not in OPTIMISABLE:
                raise ValueError(f"{name!r} cannot be optimised; only protocol parameters can: "
                                 f"{', '.join(OPTIMISABLE)}")
            if not low < high:
                raise ValueError(f"{name}: bounds [{low}, {high}] need low < high")
        return value


class SweepSpec(BaseModel):
    """A design study: protocol, source, fixed parameters, axes, optional optimisation."""

    model_config = ConfigDict(extra="forbid")

    name: str = "sweep"
    protocol: str = "bb84"
    model: str | None = None
    model_json: str | None = Field(default=None, description="the SourceModel, embedded when the spec is loaded")
    fixed: dict[str, Any] = Field(default_factory=dict)
    axes: dict[str, Any] = Field(min_length=1)
    optimise: Optimise | None = None
    chunk_size: int | None = Field(default=None, ge=1)

    @field_validator("protocol")
    @classmethod
    def _protocol(cls, value: str) -> str:
        if value not in PROTOCOLS:
            raise ValueError(f"{value!r}: the sweep evaluates {', '.join(PROTOCOLS)}")
        return value

    @field_validator("fixed")
    @classmethod
    def _numbers(cls, value: dict[str, Any]) -> dict[str, Any]:
        return {name: _number(name, v) for name, v in value.items()}

    @field_validator("axes")
    @classmethod
    def _expand(cls, value: dict[str, Any]) -> dict[str, Any]:
        expanded = {}
        for name, axis in value.items():
            try:
                values = [_number(name, v) for v in parse_axis(axis)]
            except ValueError as exc:
                raise ValueError(f"axes.{name}: {exc}") from None
            if len(set(map(str, values))) != len(values):
                raise ValueError(f"axes.{name}: repeated values {values}")
            expanded[name] = values
        return expanded

    @model_validator(mode="after")
    def _consistent(self) -> SweepSpec:
        known = known_parameters()
        for where, names in (("fixed", self.fixed), ("axes", self.axes),
                             ("optimise.parameters", self.optimise.parameters if self.optimise else {})):
            for name in names:
                if name not in known:
                    raise ValueError(f"{where}.{name}: unknown parameter; expected one of {', '.join(sorted(known))}")
        both = set(self.fixed) & set(self.axes)
        if both:
            raise ValueError(f"axes.{sorted(both)[0]}: also given under fixed; give it in one place")
        if self.optimise:
            swept = set(self.optimise.parameters) & set(self.axes)
            if swept:
                raise ValueError(f"optimise.parameters.{sorted(swept)[0]}: also an axis; an optimised parameter "
                                 "starts from its fixed value (or default) and ranges over its bounds")
            decoy = {"signal", "decoy", "p_signal", "p_decoy"} & set(self.optimise.parameters)
            if decoy and "signal" not in self.fixed and "signal" not in self.optimise.parameters:
                raise ValueError(f"optimise.parameters.{sorted(decoy)[0]}: decoy parameters need a weak-coherent "
                                 "source (give fixed.signal or optimise signal)")
        if self.model is not None and self.model_json is None:
            raise ValueError("model: load the spec with load_spec (it embeds the SourceModel)")
        if self.model_json is not None:
            clash = set(SOURCE_PARAMETERS) & (set(self.fixed) | set(self.axes))
            if clash:
                raise ValueError(f"{sorted(clash)[0]}: give either model or the inline source parameters, not both")
        self._check_values()
        return self

    def _check_values(self) -> None:
        """Build the inputs of each axis value (others at their first value): bad values fail now, by key."""
        base = self.point(tuple(0 for _ in self.axes))
        try:
            self._check_one("fixed", base)
        except ValueError:
            for name, values in self.axes.items():   # the culprit may be an axis's first value
                if len(values) > 1 and self._passes({**base, name: values[1]}):
                    self._check_one(f"axes.{name}[0]", base)
            raise
        for name, values in self.axes.items():
            for i, value in enumerate(values[1:], 1):
                self._check_one(f"axes.{name}[{i}]", {**base, name: value})

    def _passes(self, values: dict[str, Any]) -> bool:
        try:
            self._check_one("", values)
        except ValueError:
            return False
        return True

    def _check_one(self, where: str, values: dict[str, Any]) -> None:
        for name, value in values.items():
            if name in DEFAULTS and name not in _TEXT and name != "correlations" and value is not None \
                    and not isinstance(value, (int, float)):
                raise ValueError(f"{where if where != 'fixed' else 'fixed.' + name}: {name} = {value!r} is not a number")
        try:
            point_inputs(self.protocol, values, self.model_json)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{where}: {exc}") from None

    # the grid
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self.axes.values())

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def point(self, index: tuple[int, ...]) -> dict[str, Any]:
        """The parameters of the grid point at ``index`` (one position per axis)."""
        values = dict(self.fixed)
        for (name, axis), i in zip(self.axes.items(), index):
            values[name] = axis[i]
        return values

    def flat_point(self, flat: int) -> dict[str, Any]:
        return self.point(tuple(int(i) for i in np.unravel_index(flat, self.shape)))

    def source_groups(self, flat: np.ndarray) -> np.ndarray:
        """For each flat index, the number of its source among the grid's sources (0 when the source is fixed).

        Why: the expensive part of a point — the source's overlap SDPs and decompositions — is cached
        per source in each worker process. Points that share a source are therefore cheapest when
        computed one after the other in the same process; the runner orders and chunks by this.
        """
        flat = np.asarray(flat, dtype=np.intp)
        names = list(self.axes)
        source_axes = [k for k, name in enumerate(names) if name in SOURCE_PARAMETERS]
        if not source_axes:
            return np.zeros(flat.shape, dtype=np.intp)
        coords = np.unravel_index(flat, self.shape)
        return np.ravel_multi_index(tuple(coords[k] for k in source_axes),
                                    tuple(self.shape[k] for k in source_axes))

    def canonical(self) -> str:
        """The spec as canonical JSON: what a study file stores and compares on resume.

        The order of the axes (the file's dimensions) and of the optimised parameters (the
        optimiser's coordinates) is part of the spec; the order of the fixed values is not.
        """
        data = self.model_dump(mode="json")
        data["fixed"] = dict(sorted(data["fixed"].items()))
        return json.dumps(data, separators=(",", ":"))

    def digest(self) -> str:
        return hashlib.sha256(self.canonical().encode()).hexdigest()


def parse_spec(data: Any, source: str = "<spec>", base: Path | None = None) -> SweepSpec:
    """Validate a mapping (parsed YAML, or a stored canonical spec) into a :class:`SweepSpec`.

    A ``model`` path (relative to ``base``) is read and embedded, so the study records the exact
    source and workers on other machines need no access to the file.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with an 'axes' key, got {type(data).__name__}")
    data = dict(data)
    if data.get("model") is not None and data.get("model_json") is None:
        from ..calibration import load_source_model

        path = Path(str(data["model"]))
        if base is not None and not path.is_absolute():
            path = base / path
        try:
            data["model_json"] = load_source_model(path).to_json()
        except (QkdlabError, ValueError, OSError) as exc:
            raise ConfigError(f"{source}: model: {exc}") from None
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: invalid sweep spec: {describe_validation(exc, 'spec')}") from None


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a sweep spec YAML file."""
    path = Path(path)
    data = read_yaml(path, "sweep spec")
    return parse_spec(data, str(path), path.parent)
