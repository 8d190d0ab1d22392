"""Keysight (Agilent) 81577A-class variable optical attenuator modules in an 8163B/8164B mainframe.

On a QKD transmitter bench the VOA sits after the fixed attenuator, in front of the single-photon
detectors: it sets the mean photon number that reaches them, and its shutter is the quickest way
to take the light off the detectors. So the driver's job is (a) exact attenuation settings with
their read-back, and (b) never opening the path below the bench's ``min_attenuation``.

Sources of the command set
--------------------------
All [unverified]: taken from third-party code found in the search index (background document
§5.2), not from a Keysight programming guide.

- ``:INP<slot>:CHAN<ch>:ATT <dB>`` / ``:INP<slot>:CHAN<ch>:ATT?``: a Qt front end for a Keysight
  81630B-class attenuator (``':INP2:CHAN1:ATT ' + text + 'dB'`` and the query; index id 38672315887) and
  an ``Agilent8163A`` class (``':INPUT1:CHAN1:att <x>'``; index id 5335767750). Without the channel
  (``INP1:ATT``) in ``voa_agilent.py`` (index id 15381028402), qnngroup/qnnpy
  ``qnnpy/instruments/keysight_n7752a.py`` and a ``Keysight81570A`` driver (index id 36039253141).
- ``:INP<slot>:OFFS <dB>`` / ``?``: the ``Keysight81570A`` driver (``INPut%s:OFFSet %sdB``; its own
  comment says the offset range of -200..200 dB "has not been confirmed").
- ``:INP<slot>:WAV <m>`` / ``?`` in metres without a suffix: the same ``Keysight81570A`` driver
  (it converts nm to m before sending and reads metres back); ``INP1:WAV 1550nm`` in ``voa_agilent.py``.
- ``:OUTP<slot>:STAT ON|OFF`` and ``:OUTP<slot>:STAT?`` answering ``0``/``1``: ``voa_agilent.py``
  (ON/OFF, ``int()`` of the reply), qnnpy ``keysight_n7752a.py`` and the ``Keysight81570A`` driver (0/1).
- The driver sends offset, wavelength and shutter with the module channel
  (``:INP<slot>:CHAN<ch>:OFFS``, ``:INP<slot>:CHAN<ch>:WAV``, ``:OUTP<slot>:CHAN<ch>:STAT``) as it does
  the attenuation [unverified: SCPI's optional ``[:CHANnel<m>]`` node, as the attenuation sources
  write it]: on a dual-channel module the sources' channel-less forms address channel 1 only.
- ``:SLOT<slot>:IDN?`` (the module's own identity, where ``*IDN?`` names the mainframe): a commented
  call in ``voa_agilent.py`` and ``AgilentMainframe.list_modules`` in a "Python wrapper for Agilent
  Lightwave Measurement System Modules" (index id 15498324781).
- Ranges [unverified, from the ``Keysight81570A`` driver's ``CAPABILITY`` table and memory of the
  8157x data sheets]: attenuation 0..60 dB, offset -200..+200 dB, wavelength 1250..1650 nm.

Attenuation and offset [unverified semantics]: no source says how the offset relates to the
filter. The driver takes the displayed attenuation (``:INP:ATT``) to be the filter plus the offset
for its range check and forgets its cached attenuation when the offset changes, but the
``min_attenuation`` safety check does **not** rely on that rule: it holds for both readings of the
offset (the filter applies the displayed value, or the displayed value minus the offset), i.e. it
requires ``min(displayed, displayed - offset) >= min_attenuation``.

Attenuation values are plain floats in dB at the API (pint's ``dB`` is a logarithmic unit: a
string such as ``"10 dB"`` does not parse and arithmetic on it raises, so quantities would only
get in the way). Setters accept ``10``, ``"10 dB"``, ``"10dB"`` or ``Q_(10, "dB")``; the
Control's unit string ``"dB"`` is metadata for snapshots.
"""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar

import pint

from ..errors import ProtocolError, SafetyLimitError, SettingRangeError
from ..units import ureg
from .base import OVERRANGE, Control, control
from .mainframe import Keysight816xModule, on_off

__all__ = ["Keysight81577A", "DecibelControl", "db_value"]

_NUMBER_DB = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(?:dB)?\s*$", re.IGNORECASE)

#: Filter attenuation range of the module (dB) [unverified].
ATTENUATION_RANGE = (0.0, 60.0)
#: Attenuation offset range (dB) [unverified].
OFFSET_RANGE = (-200.0, 200.0)
#: Wavelength range (m) [unverified].
WAVELENGTH_RANGE = (1250e-9, 1650e-9)


def db_value(value: Any, what: str) -> float:
    """A value in dB from a float, ``"10 dB"``/``"10dB"``, or a pint quantity in decibel.

    A linear ratio (a dimensionless quantity) is refused rather than guessed at: 0.5 could be
    meant as 0.5 dB or as a power ratio of 3 dB.
    """
    if isinstance(value, bool):
        raise SettingRangeError(f"{what}: {value!r} is not a value in dB")
    if isinstance(value, pint.Quantity):
        if value.units == ureg.decibel:
            return float(value.magnitude)
        raise SettingRangeError(f"{what}: {value!r} is not in dB; give a float in dB or Q_(x, 'dB')")
    if isinstance(value, str):
        match = _NUMBER_DB.match(value)
        if not match:
            raise SettingRangeError(f"{what}: {value!r} is not a value in dB such as '10 dB'")
        return float(match.group(1))
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SettingRangeError(f"{what}: {value!r} is not a value in dB") from None
    if not math.isfinite(number):
        raise SettingRangeError(f"{what}: {value!r} is not a finite value in dB")
    return number


class DecibelControl(Control):
    """A numeric Control in dB that takes and returns plain floats (see the module docstring)."""

    def to_native(self, obj: Any, value: Any) -> tuple[Any, Any]:
        return super().to_native(obj, db_value(value, f"{obj.name}.{self.name}"))

    def from_reply(self, obj: Any, reply: str, command: str) -> Any:
        text = self.preprocess(reply) if self.preprocess else reply.strip()
        try:
            native = float(text)
        except ValueError:
            raise ProtocolError(f"{obj.name}.{self.name}: reply {reply!r} to {command!r} is not a number; "
                                "the instrument or the link is garbling replies") from None
        if abs(native) >= OVERRANGE:
            raise ProtocolError(f"{obj.name}.{self.name}: reply {reply!r} to {command!r} is the SCPI "
                                "'no value' marker 9.9E37")
        return native / self.scale

    def __set__(self, obj: Any, value: Any) -> None:
        super().__set__(obj, value)
        cached = obj._cache[self.name]
        if isinstance(cached.value, pint.Quantity):  # the base class wraps numbers with the unit
            obj.cache_value(self.name, float(cached.value.magnitude), "set")


class _AttenuationControl(DecibelControl):
    """The displayed attenuation: its range follows the offset, and the least filter attenuation it
    may mean is checked against the bench ``min_attenuation`` before sending."""

    def to_native(self, obj: Any, value: Any) -> tuple[Any, Any]:
        cached, native = super().to_native(obj, value)
        obj.check_min_attenuation(obj.least_filter_attenuation(cached))
        return cached, native


class _OffsetControl(DecibelControl):
    """The attenuation offset: changing it moves the displayed attenuation (the filter stays), so
    the cached attenuation is dropped."""

    def __set__(self, obj: Any, value: Any) -> None:
        before = obj._cache.get(self.name)
        super().__set__(obj, value)
        after = obj._cache.get(self.name)
        if before is None or after is None or before.value != after.value:
            obj._cache.pop("attenuation", None)


class _ShutterControl(Control):
    """The output shutter: opening it re-checks the present filter attenuation against
    ``min_attenuation`` (it may have been changed from the front panel), reading it from the
    instrument rather than trusting the cache."""

    def to_native(self, obj: Any, value: Any) -> tuple[Any, Any]:
        cached, native = super().to_native(obj, value)
        if cached is True and "min_attenuation" in obj.safety_limits:
            obj.check_min_attenuation(obj.least_filter_attenuation(obj.displayed_attenuation()))
        return cached, native


def _attenuation_limits(obj: Keysight81577A) -> tuple[float, float]:
    offset = obj.offset_db()
    return ATTENUATION_RANGE[0] + offset, ATTENUATION_RANGE[1] + offset


class Keysight81577A(Keysight816xModule):
    """A Keysight 81577A (8157x-class) variable optical attenuator in slot ``slot`` of an 8163B/8164B.

    ``slot`` is the mainframe slot of the module (1..4 on an 8164B, 1..2 on an 8163B) and
    ``channel`` the attenuator channel inside it (1 for single-channel modules). Several modules in
    one mainframe share its VISA resource: open one driver per module on the same resource.

    Bench safety limit ``min_attenuation`` (dB): the filter attenuation is never set below it,
    whichever way the offset is applied (see the module docstring); opening the shutter is checked
    too. It protects the single-photon detectors behind the VOA from being flooded when a scan goes
    wrong.
    """

    extra_safety_limits: ClassVar[dict[str, str]] = {"min_attenuation": "dB"}
    #: The filter attenuation range of the 8157x family (0 to 60 dB).
    extra_safety_limit_ranges: ClassVar[dict[str, tuple[float, float]]] = {"min_attenuation": (0.0, 60.0)}
    #: Queries sent outside the properties (for ``qkdlab bench probe``).
    probe_extra_queries = (":SLOT{slot}:IDN?", "*IDN?")

    # Declaration order is also the re-apply order after a reconnect: offset before attenuation
    # (the attenuation means something only once the offset is back), the shutter last.
    wavelength = control(
        ":INP{slot}:CHAN{ch}:WAV?", ":INP{slot}:CHAN{ch}:WAV {value:.9g}",
        "Control the wavelength the attenuation is calibrated for (m), 1250..1650 nm [unverified range].",
        unit="m", limits=WAVELENGTH_RANGE)
    offset = _OffsetControl(
        ":INP{slot}:CHAN{ch}:OFFS?", ":INP{slot}:CHAN{ch}:OFFS {value:.4f}",
        "Control the attenuation offset (dB, plain float) added to the displayed attenuation, "
        "-200..+200 dB [unverified]; the filter does not move when it changes.",
        unit="dB", limits=OFFSET_RANGE, verify_tolerance=1e-4)
    attenuation = _AttenuationControl(
        ":INP{slot}:CHAN{ch}:ATT?", ":INP{slot}:CHAN{ch}:ATT {value:.4f}",
        "Control the displayed attenuation (dB, plain float): the filter attenuation plus the offset; "
        "the filter range is 0..60 dB [unverified].",
        unit="dB", limits=_attenuation_limits, verify_tolerance=1e-4)
    shutter_open = _ShutterControl(
        ":OUTP{slot}:CHAN{ch}:STAT?", ":OUTP{slot}:CHAN{ch}:STAT {value}",
        "Control the output shutter: True lets light through (``ON``; refused below ``min_attenuation``), "
        "False blocks it (``OFF``).",
        values={True: "ON", False: "OFF"}, cast=str, preprocess=on_off)

    def check_min_attenuation(self, filter_db: float) -> None:
        """Raise ``SafetyLimitError`` if a filter attenuation of ``filter_db`` breaks ``min_attenuation``."""
        limit = self.safety_limits.get("min_attenuation")
        if limit is not None and filter_db < limit - 1e-9:
            raise SafetyLimitError(
                f"{self.name}: filter attenuation {filter_db:g} dB is below the bench safety limit "
                f"min_attenuation = {limit:g} dB (set in the bench config); nothing was sent")

    def offset_db(self) -> float:
        """Get the attenuation offset in dB: the cached value, else read once from the instrument."""
        cached = self._cache.get("offset")
        if cached is not None:
            return float(cached.value)
        return float(self.offset)

    def displayed_attenuation(self) -> float:
        """Measure the displayed attenuation (dB) without caching it, so a cached *set* value (which
        a reconnect re-applies) is not replaced by a read one."""
        ctl = type(self).attenuation
        command = self.format_command(ctl.get_cmd)
        return float(ctl.from_reply(self, self.ask(command), command))

    def least_filter_attenuation(self, displayed: float) -> float:
        """The smallest filter attenuation (dB) a displayed value may mean: the offset rule is
        unverified, so both ``displayed`` and ``displayed - offset`` are taken as possible."""
        return min(displayed, displayed - self.offset_db())

    @property
    def filter_attenuation(self) -> float:
        """Measure the attenuation the filter applies (dB), taking it as displayed minus offset
        [unverified rule; the safety check uses ``least_filter_attenuation`` instead]."""
        return self.displayed_attenuation() - self.offset_db()

    def open_shutter(self) -> None:
        """Let light through (``shutter_open = True``, with its ``min_attenuation`` check)."""
        self.shutter_open = True

    def close_shutter(self) -> None:
        """Block the light (always allowed)."""
        self.shutter_open = False
