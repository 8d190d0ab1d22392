"""Keysight (Agilent) 816x laser-source modules (81600B tunable, 8165x fixed ...) in an 8163B/8164B.

On a QKD transmitter bench one such module is the CW source that the intensity modulator carves
into pulses, another the probe laser injected backwards for Trojan-horse back-reflection tests.
The driver's job: set power and wavelength in SI units whatever the front panel's display unit
is, and never command more optical power than the bench's ``max_laser_power``.

Sources of the command set
--------------------------
All [unverified]: third-party code found with the search tool (code corpus), not a Keysight
programming guide.

- jtambasco/photonic-coupling-drivers ``drivers/lasers/agilent_8164B_laser.py`` (class
  ``LaserAgilent8164B``): ``sour0:pow:stat 1`` / ``sour0:pow:stat?`` (``bool(int(reply))``),
  ``sour0:pow %fw`` and ``sour0:pow %fdbm`` (power with an explicit unit suffix), ``sour0:pow?``,
  ``sour0:wav %sM`` / ``sour0:wav?`` (metres), ``sour0:pow:unit W|dBm`` and ``sour0:pow:unit?``
  answering ``0`` for dBm and ``1`` for W.
- "Python wrapper for Agilent Lightwave Measurement System Modules" (index id 15498324781, class
  ``AgilentLaser``): ``:sour<slot>:pow:stat 0|1``, ``:sour<slot>:pow:unit?`` (0 = dBm), ``sour<slot>:pow
  <value><unit>``, ``:sour<slot>:wav <value>m``, ``:slot<slot>:idn?`` for the module identity, and
  module ranges, e.g. 81600B 1260..1640 nm, 0.1..5 mW.
- Further uses of ``sour1:pow:stat 1`` / ``:SOUR1:POW:STAT ON`` / ``sour<n>:pow:stat?`` in lab scripts
  (search "sour1:pow:stat": flying-pisces/edwa ``src/signal_laser.py`` for an HP8164A
  (``:SOUR1:POW:STAT ON``, ``:SOUR1:POW?``), a Qt GUI reading the first character of the
  ``sour1:pow:stat?`` reply as 0/1, an N7711A front end).

What the driver sends
---------------------
- power set: ``:SOUR<slot>:POW <W>W`` — the explicit ``W`` suffix makes the number mean watts
  whatever the display unit is (``:SOUR:POW:UNIT``), so a front-panel dBm setting cannot turn
  "0.001" into 0.001 dBm;
- power query: ``:SOUR<slot>:POW:UNIT?`` then ``:SOUR<slot>:POW?``, converted to W when the
  display unit is dBm — a read that leaves the user's display unit alone;
- wavelength: ``:SOUR<slot>:WAV <m>`` without a suffix (metres are the default unit), read back in m;
- output: ``:SOUR<slot>:POW:STAT ON|OFF``, read back as ``0``/``1``.

Safety
------
``max_laser_power`` (W, bench config) bounds the power setpoint; it is checked before anything is
sent when the power is set and again when the output is switched on (the setpoint may have been
changed from the front panel: with a limit configured the present setpoint is read first).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from ..errors import ConfigError, ProtocolError
from ..units import as_quantity, dbm_to_watt
from .base import OVERRANGE, Control, Identity, SCPIInstrument, control
from .transport import Transport

__all__ = ["Keysight816xLaser", "DEFAULT_WAVELENGTH_RANGE", "DEFAULT_POWER_RANGE"]

#: Wavelength range (m) when none is given: the widest of the modules seen (81600B) [unverified].
DEFAULT_WAVELENGTH_RANGE = (1260e-9, 1640e-9)
#: Power setpoint range (W) when none is given: 0.1 mW .. 20 mW (81689A upper end) [unverified].
#: A module with a narrower range refuses the rest itself (-222, reported after the setting).
DEFAULT_POWER_RANGE = (100e-6, 20e-3)


def _on_off(reply: str) -> str:
    """SCPI boolean replies ``0``/``1`` (or ``+0``/``+1``, ``ON``/``OFF``) as ``ON``/``OFF``."""
    text = reply.strip().upper()
    return {"1": "ON", "+1": "ON", "0": "OFF", "+0": "OFF"}.get(text, text)


class _PowerControl(Control):
    """Laser power in W: set with an explicit ``W`` suffix, read in the display unit and converted."""

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        value = as_quantity(self.read_watts(obj), "W")
        obj.cache_value(self.name, value, "get")
        return value

    def read_watts(self, obj: Any) -> float:
        """Read the setpoint in W without touching the cache (so a safety check does not turn a
        cached *set* value, which a reconnect re-applies, into a *read* one)."""
        with obj.transaction():
            unit_cmd = obj.format_command(":SOUR{slot}:POW:UNIT?")
            unit_reply = obj.ask(unit_cmd).strip()
            try:
                unit_code = int(float(unit_reply))
            except ValueError:
                unit_code = -1
            if unit_code not in (0, 1):
                raise ProtocolError(f"{obj.name}: reply {unit_reply!r} to {unit_cmd!r} is not 0 (dBm) or 1 (W)")
            command = obj.format_command(self.get_cmd)
            reply = obj.ask(command)
        try:
            native = float(reply.strip())
        except ValueError:
            raise ProtocolError(f"{obj.name}.{self.name}: reply {reply!r} to {command!r} is not a number; "
                                "the instrument or the link is garbling replies") from None
        if abs(native) >= OVERRANGE or not math.isfinite(native):
            raise ProtocolError(f"{obj.name}.{self.name}: reply {reply!r} to {command!r} is not a power")
        return dbm_to_watt(native) if unit_code == 0 else native


class _OutputControl(Control):
    """The laser output: switching on re-checks the power setpoint against ``max_laser_power``."""

    def to_native(self, obj: Any, value: Any) -> tuple[Any, Any]:
        cached, native = super().to_native(obj, value)
        if cached is True and "max_laser_power" in obj.safety_limits:
            # read, not the cache: the front panel may have changed it
            present = type(obj).power.read_watts(obj)
            obj.check_safety("max_laser_power", present, "W", what="power setpoint (checked before switching on)")
        return cached, native


def _power_limits(obj: Keysight816xLaser) -> tuple[float, float]:
    return obj.power_range


def _wavelength_limits(obj: Keysight816xLaser) -> tuple[float, float]:
    return obj.wavelength_range


class Keysight816xLaser(SCPIInstrument):
    """A Keysight 816x laser-source module in slot ``slot`` of an 8163B/8164B mainframe.

    ``slot``: 0 for the 8164B's large (back) laser slot, 1..4 for the front slots. ``wavelength_range``
    and ``power_range`` (SI) are the module's limits; the defaults are the widest seen in
    third-party code (see the module docstring), so give the module's own for a tight check.
    """

    interface: ClassVar[str] = "visa"
    default_settings: ClassVar[dict[str, Any]] = {
        "timeout": 5.0, "write_termination": "\n", "read_termination": "\n"}

    # Declaration order is the re-apply order after a reconnect: the output last.
    wavelength = control(
        ":SOUR{slot}:WAV?", ":SOUR{slot}:WAV {value:.9g}",
        "Control the laser wavelength (m).", unit="m", limits=_wavelength_limits)
    power = _PowerControl(
        ":SOUR{slot}:POW?", ":SOUR{slot}:POW {value:.6E}W",
        "Control the optical power setpoint (W), whatever unit the front panel displays.",
        unit="W", limits=_power_limits, safety="max_laser_power")
    output = _OutputControl(
        ":SOUR{slot}:POW:STAT?", ":SOUR{slot}:POW:STAT {value}",
        "Control the laser output (True: ``ON``, emitting); switching on re-checks ``max_laser_power``.",
        values={True: "ON", False: "OFF"}, cast=str, preprocess=_on_off)

    def __init__(self, resource: str | Transport, name: str | None = None, *, slot: int = 1,
                 wavelength_range: tuple[float, float] = DEFAULT_WAVELENGTH_RANGE,
                 power_range: tuple[float, float] = DEFAULT_POWER_RANGE, **kwargs: Any) -> None:
        if int(slot) < 0:
            raise ConfigError(f"{name or 'keysight816xlaser'}: slot {slot!r} is not a mainframe slot (0..4)")
        for what, (lo, hi) in (("wavelength_range", wavelength_range), ("power_range", power_range)):
            if not (0 <= lo < hi):
                raise ConfigError(f"{name or 'keysight816xlaser'}: {what} {(lo, hi)!r} is not (low, high) "
                                  "with 0 <= low < high in SI units")
        self.slot = int(slot)
        self.wavelength_range = (float(wavelength_range[0]), float(wavelength_range[1]))
        self.power_range = (float(power_range[0]), float(power_range[1]))
        super().__init__(resource, name, **kwargs)

    def format_command(self, template: str, **fields: Any) -> str:
        return template.format(slot=self.slot, **fields)

    def turn_on(self) -> None:
        """Switch the output on (``output = True``, with its safety check)."""
        self.output = True

    def turn_off(self) -> None:
        """Switch the output off (always allowed)."""
        self.output = False

    def identify(self) -> Identity:
        """Ask the module itself what it is (``:SLOT<slot>:IDN?``); ``*IDN?`` would name the mainframe."""
        return Identity.from_idn(self.ask(f":SLOT{self.slot}:IDN?"))

    def mainframe_identity(self) -> Identity:
        """Ask the mainframe what it is (``*IDN?``)."""
        return Identity.from_idn(self.ask("*IDN?"))
