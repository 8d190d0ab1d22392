"""Emulator of a Keysight 816x laser-source module (default: an 81600B) in an 8163B/8164B mainframe.

It speaks the SCPI subset ``qkdlab.drivers.laser`` uses and writes the laser's physical state into
the shared model: option ``role="source"`` (default) drives ``model.source`` (the transmitter
laser feeding the intensity modulator), ``role="probe"`` drives ``model.probe`` (the laser injected
backwards for back-reflection tests). See the driver's docstring for the sources of the command
set; all of it is [unverified].

Behaviour and emulator policies [unverified]:

- ``:SOUR<slot>:POW <value>`` takes a number in the display unit (``:SOUR:POW:UNIT W|DBM``, or
  ``1``/``0``) or with an explicit suffix (``W``, ``MW``, ``UW``, ``NW``, ``DBM``); ``:SOUR:POW?``
  answers in the display unit; ``:SOUR:POW:UNIT?`` answers ``1`` for W and ``0`` for dBm;
- the module's ranges are options ``wavelength_range`` (m, default 1260..1640 nm) and
  ``power_range`` (W, default 0.1..5 mW, the 81600B figures seen in third-party code); values
  outside them give -222 "Data out of range";
- the module sits in slot ``slot`` (option, default 1); other slots give -241 "Hardware missing";
- power-on/``*RST``: output off, 1 mW, 1550 nm (the model's defaults), display unit dBm, output
  path HIGH;
- option ``locked`` (default False) starts the laser locked: ``:SOUR:POW:STAT ON`` then queues -221
  until ``:LOCK 0,<lock_password>`` (option, default 1234, PyMeasure's ``LOCK_PW``).
"""

from __future__ import annotations

import math
import re
from typing import Any

from ...units import dbm_to_watt, watt_to_dbm
from ..physics import LaserState
from .base import ScpiArgumentError, parse_bool, parse_number, scpi
from .mainframe import Keysight816xModuleEmulator, fmt

__all__ = ["Keysight816xLaserEmulator"]

_DBM = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:E[+-]?\d+)?)\s*DBM\s*$", re.IGNORECASE)


class Keysight816xLaserEmulator(Keysight816xModuleEmulator):
    """A simulated 816x laser module; options ``role`` ("source"/"probe"), ``slot``, ``module``,
    ``serial``, ``wavelength_range``, ``power_range``."""

    what = "laser module"

    def __init__(self, model: Any, name: str, **options: Any) -> None:
        self.role = str(options.get("role", "source"))
        if self.role not in ("source", "probe"):
            raise ValueError(f"{name}: role {self.role!r} must be 'source' (transmitter laser) or 'probe'")
        options = {"serial": "DE00000002", **options}
        self.locked = bool(options.get("locked", False))
        self.lock_password = str(options.get("lock_password", "1234"))
        self.wavelength_range = tuple(float(v) for v in options.get("wavelength_range", (1260e-9, 1640e-9)))
        self.power_range = tuple(float(v) for v in options.get("power_range", (100e-6, 5e-3)))
        super().__init__(model, name, **options)

    def reset(self) -> None:
        """Power-on/``*RST`` settings (see the module docstring)."""
        self.enabled = False
        self.power_w = 1e-3
        self.wavelength_m = 1550e-9
        self.unit_watt = False
        self.path = "HIGH"
        self._publish()

    # -- helpers -------------------------------------------------------------------------------
    @property
    def laser(self) -> LaserState:
        """The model's laser this module drives."""
        return self.model.source if self.role == "source" else self.model.probe

    def _publish(self) -> None:
        with self.model.lock:
            state = self.laser
            state.enabled = self.enabled
            state.power_w = self.power_w
            state.wavelength_m = self.wavelength_m

    def _parse_power(self, args: str) -> float:
        """A power argument in W: explicit dBm or W suffixes, else the display unit; MIN/MAX."""
        lo, hi = self.power_range
        match = _DBM.match(args)
        if match:
            return dbm_to_watt(float(match.group(1)))
        text = args.strip().upper()
        if text in ("MIN", "MINIMUM"):
            return lo
        if text in ("MAX", "MAXIMUM"):
            return hi
        has_suffix = bool(re.search(r"[A-Z]\s*$", text))
        value = parse_number(args, units=("W",))
        if has_suffix or self.unit_watt:
            return value
        return dbm_to_watt(value)

    # -- power ---------------------------------------------------------------------------------
    @scpi("SOURce{slot}:POWer[:LEVel][:IMMediate][:AMPLitude]")
    def _set_power(self, args: str, slot: int) -> None:
        if not self._here(slot):
            return
        watts = self._parse_power(args)
        lo, hi = self.power_range
        # compare with a relative margin: a setpoint given in dBm may round just outside
        if not (lo * (1 - 1e-9) <= watts <= hi * (1 + 1e-9)):
            raise ScpiArgumentError(f"power {watts:g} W outside [{lo:g}, {hi:g}] W", code=-222)
        self.power_w = min(max(watts, lo), hi)
        self._publish()

    @scpi("SOURce{slot}:POWer[:LEVel][:IMMediate][:AMPLitude]?")
    def _get_power(self, args: str, slot: int) -> str | None:
        if not self._here(slot):
            return None
        return fmt(self.power_w if self.unit_watt else watt_to_dbm(self.power_w))

    @scpi("SOURce{slot}:POWer:UNIT")
    def _set_unit(self, args: str, slot: int) -> None:
        if not self._here(slot):
            return
        text = args.strip().upper()
        if text in ("W", "WATT", "1"):
            self.unit_watt = True
        elif text in ("DBM", "0"):
            self.unit_watt = False
        else:
            raise ScpiArgumentError(f"power unit {args!r} is not W or DBM", code=-224)

    @scpi("SOURce{slot}:POWer:UNIT?")
    def _get_unit(self, args: str, slot: int) -> str | None:
        return ("1" if self.unit_watt else "0") if self._here(slot) else None

    @scpi("SOURce{slot}:POWer:STATe")
    def _set_state(self, args: str, slot: int) -> None:
        if not self._here(slot):
            return
        enabled = parse_bool(args)
        if enabled and self.locked:
            raise ScpiArgumentError("laser locked", code=-221)
        self.enabled = enabled
        self._publish()

    @scpi("SOURce{slot}:POWer:STATe?")
    def _get_state(self, args: str, slot: int) -> str | None:
        return ("1" if self.enabled else "0") if self._here(slot) else None

    # -- wavelength ----------------------------------------------------------------------------
    @scpi("SOURce{slot}:WAVelength[:CW]")
    def _set_wav(self, args: str, slot: int) -> None:
        if not self._here(slot):
            return
        lo, hi = self.wavelength_range
        value = parse_number(args, minimum=lo, maximum=hi, default=1550e-9, units=("M",))
        if not math.isfinite(value):
            raise ScpiArgumentError(f"wavelength {args!r}", code=-222)
        self.wavelength_m = self.check_range("wavelength", value, lo, hi)
        self._publish()

    @scpi("SOURce{slot}:WAVelength[:CW]?")
    def _get_wav(self, args: str, slot: int) -> str | None:
        return fmt(self.wavelength_m) if self._here(slot) else None

    # -- lock and output path ------------------------------------------------------------------
    @scpi("LOCK")
    def _set_lock(self, args: str) -> None:
        state, _, password = args.partition(",")
        if password.strip() != self.lock_password:
            raise ScpiArgumentError("wrong lock password", code=-224)
        self.locked = parse_bool(state)

    @scpi("LOCK?")
    def _get_lock(self, args: str) -> str:
        return "1" if self.locked else "0"

    @scpi("OUTPut{slot}:PATH")
    def _set_path(self, args: str, slot: int) -> None:
        if self._here(slot):
            path = args.strip().upper()
            if path not in ("HIGH", "LOWS", "BHR", "BLR"):
                raise ScpiArgumentError(f"output path {args!r}", code=-224)
            self.path = path

    @scpi("OUTPut{slot}:PATH?")
    def _get_path(self, args: str, slot: int) -> str | None:
        return self.path if self._here(slot) else None
