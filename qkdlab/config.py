"""Bench configuration: YAML -> validated models.

A bench config names each instrument once, with everything needed to open it and to keep it safe::

    name: my transmitter bench
    instruments:
      awg:                                  # the name used everywhere (bench["awg"], scan files)
        driver: keysight_33500b             # a key of qkdlab.drivers.DRIVERS
        resource: USB0::0x0957::0x5707::MY00000001::INSTR   # VISA address, serial port/URL, or serial number
        visa_library: "@py"                 # optional; pyvisa library spec ("" = system default)
        settings: {timeout: 5}              # optional; transport settings (timeout s, baudrate, ...)
        limits: {max_drive_voltage: 2 V}    # optional; bench safety limits, checked before sending
        alias: modulator AWG                # optional; a human label
        sim: {}                             # optional; options of the simulated instrument (--sim)
    simulation:                             # optional; ground truth used with --sim
      seed: 1
      parameters: {im_extinction_ratio_db: 28}   # fields of qkdlab.sim.physics.SimParameters
    scans:                                  # optional; per-scan default parameters of this bench
      detector-efficiency: {monitor_to_detector_loss: 48.05, detectors: "spd1, spd2"}

Errors point at the bad key and say what is expected (``ConfigError``).
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .drivers import DRIVERS, driver_class
from .errors import ConfigError
from .yamlfile import describe_validation, read_yaml

__all__ = ["InstrumentConfig", "SimulationConfig", "BenchConfig", "load_config", "parse_config",
           "builtin_sim_config", "BUILTIN_SIM_CONFIG"]

#: pyvisa backends a bench config may name ("" = the system VISA library).
VISA_BACKENDS = frozenset({"", "@py", "@qkdsim", "@sim", "@ivi"})
#: Environment variable through which a user may name a VISA library by path.
VISA_LIBRARY_ENV = "QKDLAB_VISA_LIBRARY"

#: The packaged simulated bench (``qkdlab bench check --sim``, ``qkdlab demo``).
BUILTIN_SIM_CONFIG = "sim_bench.yaml"


class InstrumentConfig(BaseModel):
    """One instrument of the bench."""

    model_config = ConfigDict(extra="forbid")

    driver: str
    resource: str = Field(min_length=1)
    visa_library: str = ""
    settings: dict[str, Any] = Field(default_factory=dict)
    limits: dict[str, str | float] = Field(default_factory=dict)
    alias: str | None = None
    sim: dict[str, Any] = Field(default_factory=dict)

    @field_validator("driver")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if value not in DRIVERS:
            raise ValueError(f"unknown driver {value!r}; expected one of {sorted(DRIVERS)}")
        return value

    @field_validator("visa_library")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        """Only pyvisa's named backends: a library *path* would make pyvisa load (and run) that
        shared library, and a config file passed around a lab must not be able to run code.
        A path is accepted only from the command line (``--visa-library``) or the environment
        (``QKDLAB_VISA_LIBRARY``), where the user names it explicitly."""
        definitions, _, backend = value.rpartition("@")
        if backend == "sim" and definitions.endswith((".yaml", ".yml")):
            return value  # pyvisa-sim with a YAML definitions file: data, not code
        if value not in VISA_BACKENDS:
            raise ValueError(f"{value!r} is not a known VISA backend; a bench config may name one of "
                             f"{sorted(b or '(empty: the system VISA)' for b in VISA_BACKENDS)} or "
                             "'<definitions>.yaml@sim'; to use a VISA library "
                             "at a path, give it with --visa-library or QKDLAB_VISA_LIBRARY")
        return value

    @model_validator(mode="after")
    def _known_limits(self) -> InstrumentConfig:
        if self.limits:
            driver = driver_class(self.driver)
            known, ranges = driver.safety_limit_units(), driver.safety_limit_ranges()
            from .units import to_si

            for key, value in self.limits.items():
                if key not in known:
                    raise ValueError(f"limits.{key}: driver {self.driver} has no safety limit {key!r}; "
                                     f"expected one of {sorted(known) or 'none'}")
                unit = known[key] or "dimensionless"
                try:
                    limit = to_si(value, known[key])
                except Exception:
                    example = f"2 {known[key]}" if known[key] else "2"
                    raise ValueError(f"limits.{key}: {value!r} is not a value in {unit} (write e.g. "
                                     f"'{example}')") from None
                if not math.isfinite(limit) or (key.startswith("max_") and limit <= 0):
                    raise ValueError(f"limits.{key}: {value!r} must be a positive, finite {unit} value (a limit on "
                                     "a magnitude)")
                bounds = ranges.get(key)
                if bounds is not None and not bounds[0] <= limit <= bounds[1]:
                    raise ValueError(f"limits.{key}: {value!r} lies outside the {self.driver} range "
                                     f"{bounds[0]:g}..{bounds[1]:g} {known[key]}; a safety limit must lie within "
                                     "what the instrument can do (check the value and its unit)")
        return self


class SimulationConfig(BaseModel):
    """Ground truth of the simulated bench."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    parameters: dict[str, Any] = Field(default_factory=dict)

    @field_validator("parameters")
    @classmethod
    def _known_parameters(cls, value: dict[str, Any]) -> dict[str, Any]:
        from .sim.physics import SimParameters

        SimParameters.from_dict(value)  # raises ValueError naming unknown keys
        return value


class BenchConfig(BaseModel):
    """A whole bench: its instruments and, optionally, the simulation that stands in for it."""

    model_config = ConfigDict(extra="forbid")

    name: str = "bench"
    instruments: dict[str, InstrumentConfig] = Field(min_length=1)
    simulation: SimulationConfig = Field(default_factory=SimulationConfig)
    #: Per-scan parameter defaults (``scans.<kind>.<parameter>``). They are checked against the
    #: scans' own parameter specs where they are consumed
    #: (:func:`qkdlab.scans.check_config_scan_defaults`), so the config layer knows no scans.
    scans: dict[str, dict[str, Any]] = Field(default_factory=dict)


def parse_config(data: Any, source: str = "<config>") -> BenchConfig:
    """Validate a mapping (e.g. parsed YAML) into a ``BenchConfig``; ``ConfigError`` names each bad key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with an 'instruments' key, got {type(data).__name__}")
    try:
        return BenchConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: invalid bench config: {describe_validation(exc, 'config')}") from None


def load_config(path: str | Path) -> BenchConfig:
    """Read and validate a bench config YAML file."""
    path = Path(path)
    data = read_yaml(path, "bench config")
    return parse_config(data, str(path))


def builtin_sim_config() -> BenchConfig:
    """The packaged simulated bench config."""
    text = resources.files("qkdlab.configs").joinpath(BUILTIN_SIM_CONFIG).read_text(encoding="utf-8")
    return parse_config(yaml.safe_load(text), f"qkdlab/configs/{BUILTIN_SIM_CONFIG}")
