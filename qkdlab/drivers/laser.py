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

- [read] PyMeasure ``pymeasure/instruments/keysight/keysightN7776C.py`` (N7776C tunable laser):
  ``SOUR0:POW:STAT 0|1``, ``SOUR0:POW %f mW``/``dBm``, ``SOUR0:POW:UNIT 0|1`` (0 = dBm, 1 = mW/W),
  ``sour0:wav %fnm``, ``:LOCK?`` / ``:LOCK <0|1>,<password>`` with the default password ``1234``,
  and the N7776C wavelength range 1480..1620 nm (``WL_RANGE``).
- [unverified, recalled from the 8164B/N777xC programming guides, not checked against a copy]
  ``:OUTP<slot>:PATH HIGH|LOWS|BHR|BLR`` selecting the output of a two-output source (high-power
  or low-SSE output, or both); sent only when the user sets ``output_path``, never read by a set.

What the driver sends
---------------------
- power set: ``:SOUR<slot>:POW <W>W`` — the explicit ``W`` suffix makes the number mean watts
  whatever the display unit is (``:SOUR:POW:UNIT``), so a front-panel dBm setting cannot turn
  "0.001" into 0.001 dBm;
- power query: ``:SOUR<slot>:POW:UNIT?`` then ``:SOUR<slot>:POW?``, converted to W when the
  display unit is dBm — a read that leaves the user's display unit alone;
- wavelength: ``:SOUR<slot>:WAV <m>`` without a suffix (metres are the default unit), read back in m;
- output: ``:SOUR<slot>:POW:STAT ON|OFF``, read back as ``0``/``1``;
- lock: with ``lock_password`` configured, switching on first asks ``:LOCK?`` and, if locked, sends
  ``:LOCK 0,<password>``; without it a refused switch-on asks ``:LOCK?`` (optional, feature-detected)
  to say why.

Ranges
------
The wavelength range is the module's own: given as ``wavelength_range``, or looked up from the
model the module reports (``:SLOT<slot>:IDN?``) in ``MODULE_WAVELENGTH_RANGES``; an unknown model
is refused with a message asking for ``wavelength_range`` (a 1260..1640 nm default would let an
N7776C be sent to 1300 nm).

Safety
------
``max_laser_power`` (W, bench config) bounds the power setpoint; it is checked before anything is
sent when the power is set and again when the output is switched on (the setpoint may have been
changed from the front panel: with a limit configured the present setpoint is read first).
"""

from __future__ import annotations

import enum
import math
from typing import Any

from ..errors import ConfigError, InstrumentReportedError, ProtocolError
from ..units import as_quantity, dbm_to_watt
from .base import OVERRANGE, Control, control
from .mainframe import Keysight816xModule, on_off
from .transport import Transport

__all__ = ["Keysight816xLaser", "OutputPath", "MODULE_WAVELENGTH_RANGES", "DEFAULT_POWER_RANGE"]

#: Wavelength range (m) per module model. N7776C: PyMeasure ``keysightN7776C.py`` (``WL_RANGE``);
#: 81600B: the "Python wrapper for Agilent Lightwave Measurement System Modules" (index id
#: 15498324781) [unverified; an 81600B option may cover less].
MODULE_WAVELENGTH_RANGES: dict[str, tuple[float, float]] = {
    "N7776C": (1480e-9, 1620e-9),
    "81600B": (1260e-9, 1640e-9),
}
#: Power setpoint range (W) when none is given: 0.1 mW .. 20 mW (81689A upper end) [unverified].
#: A module with a narrower range refuses the rest itself (-222, reported after the setting).
DEFAULT_POWER_RANGE = (100e-6, 20e-3)


class OutputPath(enum.Enum):
    """Output of a two-output source (``:OUTP:PATH``) [unverified]: high power, low SSE, or both."""

    HIGH = "HIGH"
    LOWS = "LOWS"
    BHR = "BHR"
    BLR = "BLR"


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
    """The laser output: switching on re-checks the power setpoint against ``max_laser_power`` and
    unlocks a locked laser when the bench config gives its ``lock_password``."""

    def to_native(self, obj: Any, value: Any) -> tuple[Any, Any]:
        cached, native = super().to_native(obj, value)
        if cached is True and "max_laser_power" in obj.safety_limits:
            # read, not the cache: the front panel may have changed it
            present = type(obj).power.read_watts(obj)
            obj.check_safety("max_laser_power", present, "W", what="power setpoint (checked before switching on)")
        if cached is True and obj.lock_password is not None:
            obj.unlock()
        return cached, native

    def __set__(self, obj: Any, value: Any) -> None:
        try:
            super().__set__(obj, value)
        except InstrumentReportedError as exc:
            if value and obj.ask_optional(":LOCK?") in ("1", "+1"):
                raise InstrumentReportedError(
                    exc.code, f"{exc.message}; the laser is locked (:LOCK? = 1): give the bench config's "
                    "lock_password for this laser, or unlock it at the front panel", exc.command, obj.name) from exc
            raise


def _power_limits(obj: Keysight816xLaser) -> tuple[float, float]:
    return obj.power_range


def _wavelength_limits(obj: Keysight816xLaser) -> tuple[float, float]:
    return obj.wavelength_range


class Keysight816xLaser(Keysight816xModule):
    """A Keysight 816x laser-source module in slot ``slot`` of an 8163B/8164B mainframe (or an N777xC).

    ``slot``: 0 for the 8164B's large (back) laser slot or a stand-alone N777xC, 1..4 for the front
    slots. ``wavelength_range`` (m) is the module's range; without it the range of the model the
    module reports is used (``MODULE_WAVELENGTH_RANGES``). ``power_range`` (W) bounds the setpoint.
    ``lock_password`` (bench config setting) lets switching on release the laser lock.
    """

    # Declaration order is the re-apply order after a reconnect: the output last.
    wavelength = control(
        ":SOUR{slot}:WAV?", ":SOUR{slot}:WAV {value:.9g}",
        "Control the laser wavelength (m), within the module's range.", unit="m", limits=_wavelength_limits)
    power = _PowerControl(
        ":SOUR{slot}:POW?", ":SOUR{slot}:POW {value:.6E}W",
        "Control the optical power setpoint (W), whatever unit the front panel displays.",
        unit="W", limits=_power_limits, safety="max_laser_power")
    output_path = control(
        ":OUTP{slot}:PATH?", ":OUTP{slot}:PATH {value}",
        "Control which output of a two-output source emits (``OutputPath``: HIGH, LOWS, BHR, BLR) [unverified].",
        values=OutputPath, cast=str, optional_query=True)
    output = _OutputControl(
        ":SOUR{slot}:POW:STAT?", ":SOUR{slot}:POW:STAT {value}",
        "Control the laser output (True: ``ON``, emitting); switching on re-checks ``max_laser_power``.",
        values={True: "ON", False: "OFF"}, cast=str, preprocess=on_off)

    #: Queries sent outside the properties (for ``qkdlab bench probe``).
    probe_extra_queries = (":SOUR{slot}:POW:UNIT?", ":SLOT{slot}:IDN?", "*IDN?")
    optional_queries = (":LOCK?",)

    def __init__(self, resource: str | Transport, name: str | None = None, *, slot: int = 1,
                 wavelength_range: tuple[float, float] | None = None,
                 power_range: tuple[float, float] = DEFAULT_POWER_RANGE, lock_password: int | None = None,
                 **kwargs: Any) -> None:
        ranges = {"power_range": power_range}
        if wavelength_range is not None:
            ranges["wavelength_range"] = wavelength_range
        for what, (lo, hi) in ranges.items():
            if not (0 <= lo < hi):
                raise ConfigError(f"{name or 'keysight816xlaser'}: {what} {(lo, hi)!r} is not (low, high) "
                                  "with 0 <= low < high in SI units")
        self._wavelength_range = None if wavelength_range is None else tuple(float(v) for v in wavelength_range)
        self.power_range = (float(power_range[0]), float(power_range[1]))
        self.lock_password = None if lock_password is None else int(lock_password)
        super().__init__(resource, name, slot=slot, **kwargs)

    @property
    def wavelength_range(self) -> tuple[float, float]:
        """The module's wavelength range (m): as given, else from the model it reports (asked once)."""
        if self._wavelength_range is None:
            model = self.identify().model.strip().upper()
            if model not in MODULE_WAVELENGTH_RANGES:
                raise ConfigError(f"{self.name}: no wavelength range known for module {model!r}; give "
                                  "wavelength_range: [low, high] (m) in the bench config settings")
            self._wavelength_range = MODULE_WAVELENGTH_RANGES[model]
        return self._wavelength_range

    def unlock(self) -> None:
        """Release the laser lock (``:LOCK 0,<lock_password>``) if ``:LOCK?`` says it is locked."""
        if self.lock_password is None:
            raise ConfigError(f"{self.name}: no lock_password configured; unlock the laser at the front panel")
        if self.ask_optional(":LOCK?") in ("0", "+0"):
            return
        with self.transaction():
            self.write(f":LOCK 0,{self.lock_password}")
            self.check_errors(":LOCK 0,<password>")

    def turn_on(self) -> None:
        """Switch the output on (``output = True``, with its safety check)."""
        self.output = True

    def turn_off(self) -> None:
        """Switch the output off (always allowed)."""
        self.output = False
