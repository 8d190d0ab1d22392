"""Emulator of an ID Quantique ID210 gated single-photon detector.

It speaks the command set ``qkdlab.drivers.detector`` uses (see that module for the source, a
third-party class, and why every command is [unverified]), keeps the instrument's settings, and
writes them into ``model.detectors[n]`` (option ``detector=1|2``, default 1) so the physics sees
them. Count readings come from ``model.detector_counts(n, integration_s)``: each counter query
integrates one fresh window of the integration time on the virtual clock (no wall-clock wait) and
reports detections or gates divided by the integration time, so an efficiency-versus-trigger-delay
scan sees the model's mode-dependent efficiency.

How the instrument's modes map onto the physics model (a gated model of the detector):

- INTERNAL_GATING and FREE_GATING: gates at the frequency setting (the model caps the gate rate at
  the pulse rate and assumes the gates are aligned with the pulses);
- EXTERNAL_GATING: the bench's pulse clock drives the trigger input, so one gate per pulse;
- FREE_RUNNING: always sensitive — modelled as one gate per pulse period, centred on the pulse
  arrival time, so every pulse and all the leakage light between pulses can be detected whatever
  the trigger delay; the gate counter reads 0;
- DISABLED: no detections and no gates.

Emulator policies where the real instrument's behaviour is unknown [unverified]:

- commands are matched case-insensitively on their full names (no SCPI short forms);
- an out-of-range or off-step value is ignored (the setting keeps its old value) and error -222
  is queued in a ``SYST:ERR?`` queue the driver never reads — the driver's read-back check is
  what notices; an unknown token gives -224, an unknown command -113;
- ``Counter:Detection?``/``Gate?``/``Clock?`` answer "value,std,2σ relative uncertainty,min,max"
  (option ``counter_reply="list"``, the default) computed over the windows read since the last
  settings change, or the value alone (``counter_reply="value"``);
- in TOTALIZE counting mode the readings are counts accumulated since the mode was selected;
  CURRENT and LAST frequency modes behave alike (every query integrates a new window);
- the clock counter reads the pulse-clock frequency (the bench wires the pulse clock to the
  trigger input), or 0 Hz with option ``clock_connected=False``.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from .base import ScpiArgumentError, ScpiEmulator

__all__ = ["IDQID210Emulator"]

_MODES = ("DISABLED", "INTERNAL_GATING", "EXTERNAL_GATING", "FREE_RUNNING", "FREE_GATING")
_COUNTING = {"FREQUENCY": "Frequency", "TOTALIZE": "Totalize"}
_FREQUENCY_MODES = {"CURRENT": "Current", "LAST": "Last"}
_HISTORY = 100


def _integer(args: str) -> int:
    """An integer argument (the ID210 takes native integers: ps, ns, tenths ...)."""
    text = args.strip()
    try:
        value = float(text)
    except ValueError:
        raise ScpiArgumentError(f"not a number: {args!r}", code=-120) from None
    if not math.isfinite(value) or value != int(value):
        raise ScpiArgumentError(f"not an integer: {args!r}", code=-120)
    return int(value)


def _one_two_five(value: int) -> bool:
    if value <= 0:
        return False
    mantissa = value / 10 ** int(math.floor(math.log10(value) + 1e-12))
    return any(abs(mantissa - m) < 1e-9 for m in (1.0, 2.0, 5.0))


class IDQID210Emulator(ScpiEmulator):
    """A simulated ID210. Options: ``detector`` (1 or 2), ``serial``, ``counter_reply``, ``clock_connected``."""

    idn: ClassVar[str] = "ID Quantique,ID210,SIM0001,1.0"

    def __init__(self, model: Any, name: str, **options: Any) -> None:
        self.detector = int(options.get("detector", 1))
        if self.detector not in model.detectors:
            raise ValueError(f"{name}: detector {self.detector} does not exist in the model "
                             f"(detectors {sorted(model.detectors)})")
        self.counter_reply = str(options.get("counter_reply", "list"))
        if self.counter_reply not in ("list", "value"):
            raise ValueError(f"{name}: counter_reply must be 'list' or 'value', not {self.counter_reply!r}")
        self.clock_connected = bool(options.get("clock_connected", True))
        self.idn = f"ID Quantique,ID210,{options.get('serial', 'SIM0001')},1.0"
        self._commands: dict[str, Callable[[str], str | None]] = {
            "DETECTOR:MODE": self._set_mode, "DETECTOR:MODE?": self._get_mode,
            "DETECTOR:EFFICIENCY": self._setter("efficiency", self._check_efficiency),
            "DETECTOR:EFFICIENCY?": self._getter("efficiency"),
            "DETECTOR:DEAD_TIME": self._setter("dead_time_ns", self._check_dead_time),
            "DETECTOR:DEAD_TIME?": self._getter("dead_time_ns"),
            "DETECTOR:GATE_WIDTH": self._setter("gate_width_ps", lambda v: 1000 <= v <= 25000),
            "DETECTOR:GATE_WIDTH?": self._getter("gate_width_ps"),
            "DETECTOR:TRIGGER_DELAY": self._setter("trigger_delay_ps", lambda v: 0 <= v <= 20009),
            "DETECTOR:TRIGGER_DELAY?": self._getter("trigger_delay_ps"),
            "DETECTOR:FREQUENCY": self._setter("frequency_hz", lambda v: 1000 <= v <= 10**9 and _one_two_five(v)),
            "DETECTOR:FREQUENCY?": self._getter("frequency_hz"),
            "COUNTER:INTEGRATION_TIME": self._setter("integration_tenths", lambda v: 2 <= v <= 1000 and v % 2 == 0),
            "COUNTER:INTEGRATION_TIME?": self._getter("integration_tenths"),
            "COUNTER:COUNTING_MODE": self._set_counting_mode,
            "COUNTER:COUNTING_MODE?": lambda args: self.counting_mode,
            "COUNTER:FREQUENCY_MODE": self._set_frequency_mode,
            "COUNTER:FREQUENCY_MODE?": lambda args: self.frequency_mode,
            "COUNTER:DETECTION?": lambda args: self._read_counter("detection"),
            "COUNTER:GATE?": lambda args: self._read_counter("gate"),
            "COUNTER:CLOCK?": lambda args: self._read_counter("clock"),
        }
        super().__init__(model, name, **options)

    # -- state -----------------------------------------------------------------------------------
    def reset(self) -> None:
        """Power-on settings [unverified: the real defaults are not documented in our source]."""
        self.mode = "INTERNAL_GATING"
        self.efficiency = 100            # tenths of a percent
        self.dead_time_ns = 10_000
        self.gate_width_ps = 2_000
        self.trigger_delay_ps = 0
        self.frequency_hz = 1_000_000
        self.integration_tenths = 10
        self.counting_mode = "Frequency"
        self.frequency_mode = "Last"
        self._settings_changed()

    def _settings_changed(self) -> None:
        """Settings changed: statistics restart and the model sees the new state."""
        self._history: dict[str, collections.deque[float]] = {
            name: collections.deque(maxlen=_HISTORY) for name in ("detection", "gate", "clock")}
        self._totals = {"detection": 0, "gate": 0, "clock": 0}
        self._publish()

    def _publish(self) -> None:
        """Write the physical state into ``model.detectors[n]`` (holding the model lock)."""
        model = self.model
        with model.lock:
            state = model.detectors[self.detector]
            state.enabled = self.mode != "DISABLED"
            state.efficiency_setting = self.efficiency / 1000.0
            state.dead_time_s = self.dead_time_ns * 1e-9
            if self.mode == "FREE_RUNNING":
                period = model.pulse_period_s()
                state.gate_width_s = period
                state.trigger_delay_s = model.params.detector_arrival_s[self.detector - 1] - period / 2.0
                state.gate_frequency_hz = math.inf
            else:
                state.gate_width_s = self.gate_width_ps * 1e-12
                state.trigger_delay_s = self.trigger_delay_ps * 1e-12
                state.gate_frequency_hz = math.inf if self.mode == "EXTERNAL_GATING" else float(self.frequency_hz)

    # -- dispatch: full command names, any case ------------------------------------------------------
    def _dispatch(self, header: str, args: str) -> str | None:
        handler = self._commands.get(header.strip().lstrip(":").upper())
        if handler is None:
            return super()._dispatch(header, args)  # *IDN?, *RST, *CLS, SYST:ERR?, or -113
        try:
            return handler(args)
        except ScpiArgumentError as exc:
            names = {-120: "Numeric data error", -222: "Data out of range", -224: "Illegal parameter value"}
            self.push_error(exc.code, f"{names.get(exc.code, 'Illegal parameter value')}; {exc}")
            return None

    def _setter(self, attr: str, valid: Callable[[int], bool]) -> Callable[[str], None]:
        def handler(args: str) -> None:
            value = _integer(args)
            if not valid(value):
                raise ScpiArgumentError(f"{attr} {value} out of range", code=-222)
            setattr(self, attr, value)
            self._settings_changed()
        return handler

    def _getter(self, attr: str) -> Callable[[str], str]:
        return lambda args: str(getattr(self, attr))

    @staticmethod
    def _check_efficiency(value: int) -> bool:
        return 50 <= value <= 250 and value % 25 == 0

    @staticmethod
    def _check_dead_time(value: int) -> bool:
        return 100 <= value <= 100_000 and value % 100 == 0

    def _set_mode(self, args: str) -> None:
        token = args.strip().upper()
        if token.isdigit() and int(token) < len(_MODES):
            token = _MODES[int(token)]
        if token not in _MODES:
            raise ScpiArgumentError(f"unknown mode {args!r}", code=-224)
        self.mode = token
        self._settings_changed()

    def _get_mode(self, args: str) -> str:
        return self.mode

    def _set_counting_mode(self, args: str) -> None:
        token = args.strip().upper()
        if token not in _COUNTING:
            raise ScpiArgumentError(f"unknown counting mode {args!r}", code=-224)
        self.counting_mode = _COUNTING[token]
        self._settings_changed()

    def _set_frequency_mode(self, args: str) -> None:
        token = args.strip().upper()
        if token not in _FREQUENCY_MODES:
            raise ScpiArgumentError(f"unknown frequency mode {args!r}", code=-224)
        self.frequency_mode = _FREQUENCY_MODES[token]
        self._settings_changed()

    # -- counters --------------------------------------------------------------------------
    def _window(self) -> dict[str, int]:
        """Integrate one window on the virtual clock: detections, gates and clock edges in it."""
        integration = self.integration_tenths / 10.0
        model = self.model
        with model.lock:
            self._publish()  # the pulse period (free running) may have changed since the last setting
            detections, gates = model.detector_counts(self.detector, integration)
            clock = int(round(integration / model.pulse_period_s())) if self.clock_connected else 0
        if self.mode == "DISABLED":
            detections, gates = 0, 0
        elif self.mode == "FREE_RUNNING":
            gates = 0
        return {"detection": detections, "gate": gates, "clock": clock}

    def _read_counter(self, counter: str) -> str:
        counts = self._window()[counter]
        if self.counting_mode == "Totalize":
            self._totals[counter] += counts
            value = float(self._totals[counter])
        else:
            value = counts / (self.integration_tenths / 10.0)
        history = self._history[counter]
        history.append(value)
        if self.counter_reply == "value":
            return f"{value:.10g}"
        samples = np.fromiter(history, dtype=float)
        std = float(samples.std(ddof=1)) if samples.size > 1 else 0.0
        relative = 2.0 * std / value if value > 0 else 0.0
        return f"{value:.10g},{std:.6g},{relative:.6g},{samples.min():.10g},{samples.max():.10g}"
