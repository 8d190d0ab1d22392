"""What every characterization scan shares: parameters, the run session, faults, progress.

A scan is a function ``run_<kind>(bench, store, *, progress=None, **params)`` that

1. resolves its parameters (:func:`resolve_parameters`): explicit values, then the bench
   config's ``scans: {<kind>: {...}}`` defaults (a lab states its bench's calibration constants
   and instrument names once), then the scan's own defaults;
2. opens a :class:`ScanSession`, which records the bench config and every instrument's identity
   and settings, declares the run's datasets, and captures the drivers' warnings (timeouts,
   reconnects) as events of the run;
3. measures point by point through :meth:`ScanSession.measure`, which turns an instrument that
   stays unreachable after the driver's own retry-and-reconnect into a recorded *gap* and goes
   on — or ends the run ``failed`` after ``max_consecutive_failures`` gaps in a row;
4. puts the bench back (callbacks registered with :meth:`ScanSession.on_exit`), then writes the
   final status: completed, aborted (Ctrl-C) or failed (with the reason). Every point taken
   before stays in the file.
"""

from __future__ import annotations

import math

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np
import pint
import yaml

from ..errors import ConfigError, InstrumentError, QkdlabError
from ..store import DataGroup, FlushPolicy, RunSummary, RunWriter, Store
from ..units import Q_, to_si

__all__ = ["Parameter", "resolve_parameters", "ScanSession", "Progress", "NullProgress", "ScanFailed",
           "PowerReader", "instrument", "bench_record"]

T = TypeVar("T")
log = logging.getLogger(__name__)


class ScanFailed(QkdlabError):
    """A scan could not go on (an instrument stayed unreachable); the run is marked failed."""


# -- parameters --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Parameter:
    """One scan parameter: its default, type, unit (for physical values) and a one-line help.

    Physical values are held as floats in ``unit`` (``"dB"`` values as plain floats) and recorded
    in the run with that unit. ``multiple`` parameters are lists ("1, 2, 3" on the command line).
    """

    name: str
    default: Any
    help: str
    unit: str | None = None
    type: type = float
    multiple: bool = False
    choices: tuple[str, ...] | None = None
    #: Smallest accepted value (default: 1 for counts, 0 for times, none otherwise).
    minimum: float | None = None

    def parse(self, value: Any) -> Any:
        """Convert a user value (number, quantity, or text such as "200 ps") to the held form.

        ``None`` stays ``None``: a parameter without a default that the scan must be given.
        """
        if value is None:
            return None
        if self.multiple:
            items = [v for v in value.split(",") if v.strip()] if isinstance(value, str) else list(value)
            return [self._one(v) for v in items]
        return self._one(value)

    def _one(self, value: Any) -> Any:
        if self.type is bool:
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError(f"expected true/false, got {value!r}")
                return lowered in ("1", "true", "yes", "on")
            return bool(value)
        if self.type is str:
            text = str(value).strip()
            if self.choices and text not in self.choices:
                raise ValueError(f"expected one of {list(self.choices)}, got {text!r}")
            return text
        if self.unit is not None:
            number = to_si(value.strip() if isinstance(value, str) else value, self.unit)
        else:
            number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"expected a finite number, got {value!r}")
        minimum = self.minimum
        if minimum is None:
            minimum = 1 if self.type is int else (0.0 if self.unit == "s" else None)
        if minimum is not None and number < minimum:
            raise ValueError(f"must be at least {minimum:g}{' ' + self.unit if self.unit else ''}, got {value!r}")
        if self.type is int:
            if number != int(number):
                raise ValueError(f"expected a whole number, got {value!r}")
            return int(number)
        return float(number)

    def record(self, value: Any) -> Any:
        """The value as stored in the run (quantities carry the unit)."""
        if value is not None and self.unit and self.unit != "dB" and self.type is float:
            return Q_(np.asarray(value, dtype=float), self.unit)
        return value

    def describe(self) -> str:
        unit = f" [{self.unit}]" if self.unit else ""
        return f"{self.help}{unit} (default {self.default})"


def resolve_parameters(kind: str, specs: Sequence[Parameter], config_defaults: Mapping[str, Any] | None,
                       given: Mapping[str, Any]) -> dict[str, Any]:
    """Explicit values over the config's ``scans.<kind>`` defaults over the scan's defaults."""
    known = {p.name: p for p in specs}
    merged: dict[str, tuple[Any, str]] = {}
    for source, values in (("the bench config's scans section", config_defaults or {}), ("the call", given)):
        for key, value in values.items():
            if key not in known:
                raise ConfigError(f"scan {kind}: unknown parameter {key!r} (from {source}); "
                                  f"parameters: {', '.join(sorted(known))}")
            if value is not None:
                merged[key] = (value, source)
    resolved = {}
    for name, spec in known.items():
        value, source = merged.get(name, (spec.default, "the default"))
        try:
            resolved[name] = spec.parse(value)
        except (ValueError, TypeError, pint.errors.PintError) as exc:
            unit = f" in {spec.unit}" if spec.unit else ""
            raise ConfigError(f"scan {kind}: parameter {name}={value!r} (from {source}) is not valid{unit}: {exc}") from None
    return resolved


# -- instruments ----------------------------------------------------------------------------------------
def instrument(bench: Any, name: str, role: str, parameter: str) -> Any:
    """The open instrument ``name`` of the bench, or an error saying which parameter to fix."""
    if name not in bench.instruments:
        raise ConfigError(f"the scan needs a {role}: parameter {parameter}={name!r} names no open instrument of "
                          f"bench {bench.config.name!r} (instruments: {', '.join(sorted(bench.instruments))}); "
                          f"set {parameter} on the command line or in the config's scans section")
    return bench.instruments[name]


class PowerReader:
    """Reads one power-meter head named ``"meter"`` or ``"meter:slot,channel"`` (8163B heads), in W."""

    def __init__(self, bench: Any, ref: str, parameter: str) -> None:
        name, _, head = ref.partition(":")
        self.ref = ref
        self.meter = instrument(bench, name, "power meter", parameter)
        self.head: tuple[int, int] | None = None
        if head:
            try:
                slot, chan = (int(x) for x in head.split(","))
            except ValueError:
                raise ConfigError(f"{parameter}={ref!r}: write a mainframe head as 'name:slot,channel', "
                                  "e.g. 'pm_lab:1,1'") from None
            self.head = (slot, chan)
            self.channel = self.meter.head(slot, chan)
        else:
            self.channel = self.meter

    def read(self) -> float:
        power = self.meter.power(*self.head) if self.head else self.meter.power
        return float(power.to("W").magnitude)

    def set_averaging(self, seconds: float) -> None:
        """Average over about ``seconds`` (PM100: a count of ~3 ms samples; 8163B: averaging time)."""
        if hasattr(self.channel, "averaging_time"):
            self.channel.averaging_time = seconds
        elif hasattr(self.channel, "averaging_count"):
            self.channel.averaging_count = max(1, int(round(seconds / 3e-3)))


def bench_record(bench: Any) -> tuple[str, dict[str, dict[str, Any]]]:
    """The bench config as YAML and every open instrument's identity and settings (queried now).

    An instrument that fails to answer is recorded with its error rather than stopping the scan:
    the record is metadata, the scan's own instruments fail loudly where they are used.
    """
    config_text = yaml.safe_dump(bench.config.model_dump(mode="json"), sort_keys=False)
    record: dict[str, dict[str, Any]] = {}
    for name, inst in bench.instruments.items():
        cfg = bench.config.instruments[name]
        entry: dict[str, Any] = {"driver": cfg.driver, "resource": cfg.resource, "alias": cfg.alias}
        try:
            entry["identity"] = str(inst.identify())
            entry["settings"] = inst.snapshot(update=True)
        except QkdlabError as exc:
            entry["error"] = str(exc)
        record[name] = entry
    return config_text, record


# -- progress --------------------------------------------------------------------------------------------
class Progress(Protocol):
    """What a scan reports: the number of points to take, then each point taken."""

    def start(self, total: int, description: str) -> None: ...

    def advance(self, points: int = 1) -> None: ...


class NullProgress:
    """Reports nothing (library use, tests)."""

    def start(self, total: int, description: str) -> None:
        pass

    def advance(self, points: int = 1) -> None:
        pass


# -- the session ------------------------------------------------------------------------------------------
class _EventCapture(logging.Handler):
    """Copies the drivers' warnings and reconnect notices into the run's events."""

    def __init__(self, session: ScanSession) -> None:
        super().__init__(level=logging.INFO)
        self.session = session

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING or "reconnect" in record.getMessage():
            try:
                self.session.run.event(f"{record.name}: {record.getMessage()}", record.levelname)
            except QkdlabError:
                pass  # the store already failed; the scan will report that


_CAPTURED_LOGGERS = ("qkdlab.instrument", "qkdlab.io")


class ScanSession:
    """One scan's run: metadata, declared data, fault handling, bench restore, final status."""

    def __init__(self, bench: Any, store: Store, kind: str, parameters: Mapping[str, Any],
                 specs: Sequence[Parameter], groups: Sequence[DataGroup], *, default: str | None = None,
                 progress: Progress | None = None, flush: FlushPolicy | None = None,
                 max_consecutive_failures: int = 3, title: str = "") -> None:
        self.bench = bench
        self.store = store
        self.kind = kind
        self.parameters = dict(parameters)
        self.specs = {p.name: p for p in specs}
        self.groups = groups
        self.default = default
        self.progress = progress or NullProgress()
        self.flush = flush
        self.max_consecutive_failures = max_consecutive_failures
        self.title = title
        self.gaps = 0
        self._consecutive = 0
        self._cleanups: list[tuple[str, Callable[[], Any]]] = []
        self._handler = _EventCapture(self)
        self._levels: dict[str, int] = {}
        self.run: RunWriter

    def __enter__(self) -> ScanSession:
        config_text, record = bench_record(self.bench)
        recorded = {k: self.specs[k].record(v) if k in self.specs else v for k, v in self.parameters.items()}
        recorded["simulated_bench"] = bool(getattr(self.bench, "simulate", False))
        self.run = self.store.new_run(self.kind, self.groups, default=self.default, parameters=recorded,
                                      bench_config=config_text, instruments=record, title=self.title,
                                      flush=self.flush)
        for name in _CAPTURED_LOGGERS:
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            if logger.getEffectiveLevel() > logging.INFO:
                logger.setLevel(logging.INFO)
            logger.addHandler(self._handler)
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        for description, cleanup in reversed(self._cleanups):
            try:
                cleanup()
            except Exception as problem:  # restoring must reach every step; the failure is recorded
                self.run.event(f"could not {description}: {problem}", "ERROR")
        for name, level in self._levels.items():
            logger = logging.getLogger(name)
            logger.removeHandler(self._handler)
            logger.setLevel(level)
        self.run.__exit__(exc_type, exc, tb)

    # -- during the scan -----------------------------------------------------------------------
    def on_exit(self, description: str, cleanup: Callable[[], Any]) -> None:
        """Run ``cleanup`` when the scan ends, however it ends (last registered runs first)."""
        self._cleanups.append((description, cleanup))

    def wait(self, seconds: float) -> None:
        """Let the bench settle (real time on hardware, the virtual clock on the simulated bench)."""
        self.bench.wait(seconds)

    def measure(self, what: str, action: Callable[[], T]) -> T | None:
        """Run one measurement; an instrument failure becomes a recorded gap (``None``).

        The drivers already retry and reconnect (bounded); an error that reaches here means the
        instrument stayed unreachable for this point. After ``max_consecutive_failures`` gaps in
        a row the scan stops with :class:`ScanFailed` and the run is marked failed.
        """
        try:
            value = action()
        except InstrumentError as exc:
            self.gaps += 1
            self._consecutive += 1
            self.run.event(f"gap: {what} failed: {exc}", "ERROR")
            if self._consecutive >= self.max_consecutive_failures:
                raise ScanFailed(f"{self.kind}: {self._consecutive} points in a row failed; last: {what}: {exc}") from exc
            return None
        self._consecutive = 0
        return value

    def append(self, group: str, **values: Any) -> None:
        """Store one point and report progress."""
        self.run.append(group, **values)
        self.progress.advance()

    def summary(self) -> RunSummary:
        """The run as listed after it finished."""
        return next(r for r in self.store.runs() if r.name == self.run.name)
