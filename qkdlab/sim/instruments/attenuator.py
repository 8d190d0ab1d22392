"""Emulator of a Keysight 81577A-class variable optical attenuator module in an 8163B/8164B mainframe.

It speaks the SCPI subset ``qkdlab.drivers.attenuator`` uses (long and short forms, with or
without the ``:CHANnel<n>`` node) and writes the physical state into the shared model:
``model.voa_attenuation_db`` is the filter attenuation (displayed attenuation minus offset) and
``model.voa_enabled`` the shutter (``probe_attenuation_db``/``probe_voa_enabled`` for a VOA on the
probe path, option ``path="probe"``). See the driver's docstring for where the command set comes
from; all of it is [unverified].

Emulator policies where the real instrument's reaction is unknown [unverified]:

- slot handling and identity as every 816x module (``qkdlab.sim.instruments.mainframe``); a
  channel other than 1 queues -114 "Header suffix out of range";
- the displayed attenuation includes the offset; changing the offset keeps the filter where it
  is; a displayed attenuation whose filter value falls outside 0..60 dB, an offset outside
  -200..200 dB or a wavelength outside 1250..1650 nm is refused with -222 "Data out of range";
- power-on/``*RST`` state: 0 dB, offset 0 dB, 1550 nm, shutter open (the bench model's own
  default, so adding the VOA to a bench does not change what the detectors see).
"""

from __future__ import annotations

from typing import Any

from .base import parse_bool, parse_number, scpi
from .mainframe import Keysight816xModuleEmulator, fmt

__all__ = ["Keysight81577AEmulator"]

_ATTENUATION = (0.0, 60.0)
_OFFSET = (-200.0, 200.0)
_WAVELENGTH = (1250e-9, 1650e-9)


class Keysight81577AEmulator(Keysight816xModuleEmulator):
    """A simulated 81577A in an 8163B; options ``slot`` (default 1), ``serial``, ``mainframe``, and
    ``path``: "detectors" (default, the VOA before the single-photon detectors) or "probe" (the VOA
    that sets the probe power injected into the transmitter output)."""

    default_module = "81577A"
    what = "attenuator"

    def __init__(self, model: Any, name: str, **options: Any) -> None:
        options = {"mainframe": "8163B", **options}
        self.path = str(options.get("path", "detectors"))
        if self.path not in ("detectors", "probe"):
            raise ValueError(f"{name}: path {self.path!r} must be 'detectors' or 'probe'")
        super().__init__(model, name, **options)

    def reset(self) -> None:
        """Power-on/``*RST`` settings (see the module docstring)."""
        self.attenuation_db = 0.0       # displayed: filter + offset
        self.offset_db = 0.0
        self.wavelength_m = 1550e-9
        self.shutter_open = True
        self._publish()

    # -- helpers -------------------------------------------------------------------------------
    @property
    def filter_db(self) -> float:
        """The attenuation the filter really applies."""
        return self.attenuation_db - self.offset_db

    def _publish(self) -> None:
        with self.model.lock:
            if self.path == "probe":
                self.model.probe_attenuation_db = self.filter_db
                self.model.probe_voa_enabled = self.shutter_open
            else:
                self.model.voa_attenuation_db = self.filter_db
                self.model.voa_enabled = self.shutter_open

    def _address(self, slot: int, ch: int = 1) -> bool:
        """True if the header addresses this module; queue the mainframe's error otherwise."""
        if not self._here(slot):
            return False
        if ch != 1:
            self.push_error(-114, f"Header suffix out of range; channel {ch}")
            return False
        return True

    # -- attenuation -------------------------------------------------------------------------
    @scpi("INPut{slot}[:CHANnel{ch}]:ATTenuation")
    def _set_att(self, args: str, slot: int, ch: int) -> None:
        if not self._address(slot, ch):
            return
        lo, hi = (_ATTENUATION[0] + self.offset_db, _ATTENUATION[1] + self.offset_db)
        value = parse_number(args, minimum=lo, maximum=hi, default=lo, units=("DB",))
        self.attenuation_db = self.check_range("attenuation", value, lo, hi)
        self._publish()

    @scpi("INPut{slot}[:CHANnel{ch}]:ATTenuation?")
    def _get_att(self, args: str, slot: int, ch: int) -> str | None:
        return fmt(self.attenuation_db) if self._address(slot, ch) else None

    @scpi("INPut{slot}[:CHANnel{ch}]:OFFSet")
    def _set_offset(self, args: str, slot: int, ch: int) -> None:
        if not self._address(slot, ch):
            return
        value = parse_number(args, minimum=_OFFSET[0], maximum=_OFFSET[1], default=0.0, units=("DB",))
        value = self.check_range("offset", value, *_OFFSET)
        filter_db = self.filter_db
        self.offset_db = value
        self.attenuation_db = filter_db + value   # the filter stays where it is
        self._publish()

    @scpi("INPut{slot}[:CHANnel{ch}]:OFFSet?")
    def _get_offset(self, args: str, slot: int, ch: int) -> str | None:
        return fmt(self.offset_db) if self._address(slot, ch) else None

    # -- wavelength --------------------------------------------------------------------------
    @scpi("INPut{slot}[:CHANnel{ch}]:WAVelength")
    def _set_wav(self, args: str, slot: int, ch: int) -> None:
        if not self._address(slot, ch):
            return
        value = parse_number(args, minimum=_WAVELENGTH[0], maximum=_WAVELENGTH[1], default=1550e-9,
                             units=("M",))
        self.wavelength_m = self.check_range("wavelength", value, *_WAVELENGTH)

    @scpi("INPut{slot}[:CHANnel{ch}]:WAVelength?")
    def _get_wav(self, args: str, slot: int, ch: int) -> str | None:
        return fmt(self.wavelength_m) if self._address(slot, ch) else None

    # -- shutter -----------------------------------------------------------------------------
    @scpi("OUTPut{slot}[:CHANnel{ch}][:STATe]")
    def _set_shutter(self, args: str, slot: int, ch: int) -> None:
        if not self._address(slot, ch):
            return
        self.shutter_open = parse_bool(args)
        self._publish()

    @scpi("OUTPut{slot}[:CHANnel{ch}][:STATe]?")
    def _get_shutter(self, args: str, slot: int, ch: int) -> str | None:
        return ("1" if self.shutter_open else "0") if self._address(slot, ch) else None
