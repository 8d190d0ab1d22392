"""Optical spectrum analysers: Yokogawa AQ6370 series (AQ6370C/D; the AQ637x family is said to share the tree [unverified]).

Sources of the command set
--------------------------
- PyMeasure ``yokogawa/aq6370.py`` [read]: ``:SENSe:WAVelength:CENTer|SPAN|STARt|STOP`` in m,
  ``:SENSe:BWIDth:RESolution`` in m with the discrete values 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2 nm,
  ``:SENSe:SWEep:POINts`` (51..50001) and ``:SENSe:SWEep:POINts:AUTO``, ``:INITiate:SMODe`` (1
  SINGle, 2 REPeat, 3 AUTO, 4 SEGMent), ``:INITiate:IMMediate``, ``:ABORt``, ``:TRACe:X? TRA``
  (wavelengths, m) and ``:TRACe:Y? TRA`` (levels, dBm on a logarithmic level axis).
- Yokogawa AQ6370 remote-control manual (IM AQ6370C-17EN), recalled, [unverified]: ``:FORMat:DATA
  ASCii`` (comma-separated trace data), ``:DISPlay:TRACe:Y1:SPACing LOGarithmic`` (level axis in
  dBm), ``:SENSe:AVERage:COUNt`` (1..999 averages per point), sweep completion as bit 0 of
  ``:STATus:OPERation:EVENt?`` (the manual's recommended poll; ``*OPC?`` is not reliable during
  a sweep on older firmware). These are marked unverified until checked on an instrument.

The driver works in SI: wavelengths in m, resolution in m, levels read in dBm and returned in W.
On connect it forces ASCII trace data and a logarithmic level axis, so a front-panel change to a
linear axis (whose unit would differ) cannot turn a number into a different quantity; a trace
whose X and Y lengths differ, or differ from the sweep's point count, raises ``ProtocolError``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ProtocolError, SettingRangeError, Timeout
from ..units import Q_
from .base import Control, SCPIInstrument, control

__all__ = ["YokogawaAQ6370", "Spectrum", "RESOLUTIONS_M"]

#: Resolution settings of the AQ6370 (m); the instrument refuses others.
RESOLUTIONS_M = (0.02e-9, 0.05e-9, 0.1e-9, 0.2e-9, 0.5e-9, 1e-9, 2e-9)
_SWEEP_MODES = {"single": 1, "repeat": 2, "auto": 3, "segment": 4}


@dataclass(frozen=True)
class Spectrum:
    """One trace: wavelengths (pint, m), power within the resolution bandwidth (pint, W), the resolution (m)."""

    wavelengths: Any
    power: Any
    resolution: Any


def _floats(reply: str, what: str, name: str) -> np.ndarray:
    try:
        return np.array([float(v) for v in reply.strip().split(",") if v.strip()], dtype=float)
    except ValueError:
        raise ProtocolError(f"{name}: {what} reply {reply[:60]!r} is not comma-separated numbers; the link is "
                            "garbling replies or the data format is not ASCII") from None


class _DiscreteControl(Control):
    """A control in SI units that also accepts only the instrument's discrete settings."""

    def __init__(self, *args: Any, allowed: tuple[float, ...], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.allowed = allowed

    def to_native(self, obj: Any, value: Any) -> tuple[Any, Any]:
        cached, native = super().to_native(obj, value)
        match = [a for a in self.allowed if abs(cached - a) <= 1e-6 * a]
        if not match:
            raise SettingRangeError(f"{obj.name}.{self.name} = {cached:g} {self.unit} is not a setting of the "
                                    f"instrument; use one of {[f'{a:g}' for a in self.allowed]}; nothing was sent")
        return match[0], match[0] * self.scale


class YokogawaAQ6370(SCPIInstrument):
    """Yokogawa AQ6370 optical spectrum analyser (trace A)."""

    default_settings = {"timeout": 20.0, "write_termination": "\n", "read_termination": "\n"}

    centre = control(":SENSe:WAVelength:CENTer?", ":SENSe:WAVelength:CENTer {value:.9e}",
                     "Control the centre wavelength of the sweep (m).", unit="m", limits=(600e-9, 1700e-9))
    span = control(":SENSe:WAVelength:SPAN?", ":SENSe:WAVelength:SPAN {value:.9e}",
                   "Control the wavelength span (m; 0 is a zero-span measurement).", unit="m", limits=(0.0, 1100e-9))
    resolution = _DiscreteControl(":SENSe:BWIDth:RESolution?", ":SENSe:BWIDth:RESolution {value:.3e}",
                                  "Control the resolution bandwidth (m): 0.02, 0.05, 0.1, 0.2, 0.5, 1 or 2 nm.",
                                  unit="m", allowed=RESOLUTIONS_M)
    points = control(":SENSe:SWEep:POINts?", ":SENSe:SWEep:POINts {value:d}",
                     "Control the number of points of a sweep (51..50001; the automatic choice is switched off).",
                     cast=int, limits=(51, 50001))
    averages = control(":SENSe:AVERage:COUNt?", ":SENSe:AVERage:COUNt {value:d}",
                       "Control the averages per point (1..999).", cast=int, limits=(1, 999))
    sweep_mode = control(":INITiate:SMODe?", ":INITiate:SMODe {value}",
                         "Control the sweep mode ('single', 'repeat', 'auto', 'segment').", values=_SWEEP_MODES,
                         cast=int)

    def __init__(self, resource: Any, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(resource, name, **kwargs)
        for command in (":FORMat:DATA ASCii", ":DISPlay:TRACe:Y1:SPACing LOGarithmic",
                        ":SENSe:SWEep:POINts:AUTO 0"):
            self.write(command)
            self.check_errors(command)

    def sweep(self, timeout_s: float = 120.0, poll_s: float = 0.05) -> None:
        """One single sweep: start it and poll the operation register until it completes."""
        with self.transaction():
            self.sweep_mode = "single"
            self.write("*CLS")
            self.write(":INITiate:IMMediate")
            self.check_errors(":INITiate:IMMediate")
        deadline = time.monotonic() + timeout_s
        while True:
            reply = self.ask(":STATus:OPERation:EVENt?").strip()
            try:
                done = int(float(reply)) & 1
            except ValueError:
                raise ProtocolError(f"{self.name}: :STATus:OPERation:EVENt? answered {reply!r}, "
                                    "expected an integer") from None
            if done:
                return
            if time.monotonic() > deadline:
                raise Timeout(f"{self.name}: the sweep did not complete within {timeout_s:g} s; "
                              "shorten the span, raise the resolution or lower the averages")
            time.sleep(poll_s)

    def trace(self) -> Spectrum:
        """Read trace A: wavelengths (m) and levels (dBm, converted to W within the resolution)."""
        with self.transaction():
            x = _floats(self.ask(":TRACe:X? TRA"), "trace X", self.name)
            y = _floats(self.ask(":TRACe:Y? TRA"), "trace Y", self.name)
            n = int(self.points)
            resolution = self.resolution
        if x.size != y.size or x.size != n:
            raise ProtocolError(f"{self.name}: trace has {x.size} wavelengths and {y.size} levels for a {n}-point "
                                "sweep; the transfer was cut short — read it again")
        return Spectrum(Q_(x, "m"), Q_(1e-3 * 10.0 ** (y / 10.0), "W"), resolution)

    def measure(self, *, centre: Any, span: Any, resolution: Any, points: int, averages: int = 1) -> Spectrum:
        """Set the sweep, run one and read it; every setting is validated before anything is sent."""
        cls = type(self)
        for ctl, value in ((cls.centre, centre), (cls.span, span), (cls.resolution, resolution),
                           (cls.points, points), (cls.averages, averages)):
            ctl.to_native(self, value)
        with self.transaction():
            self.centre = centre
            self.span = span
            self.resolution = resolution
            self.points = points
            self.averages = averages
            self.sweep()
            return self.trace()
