"""Keysight (Agilent) 33500B / 33600A Trueform function and arbitrary waveform generators.

On a QKD transmitter bench the AWG drives the modulators: channel 1 the intensity modulator (pulse
carving, decoy levels), channel 2 the phase modulator (encoding). Patterns are uploaded as
arbitrary waveforms and played at a sample rate equal to the pulse rate (``play_waveform``), so the
driver's job is (a) a fast, exact binary upload and (b) never putting more voltage on a modulator
than the bench allows.

Sources of the command set
--------------------------
- [read] PyMeasure ``pymeasure/instruments/agilent/agilent33500.py``: ``SOUR{ch}:FUNC`` (SIN, SQU,
  TRI, RAMP, PULS, PRBS, NOIS, ARB, DC),
  ``SOUR{ch}:FREQ``, ``SOUR{ch}:VOLT``, ``SOUR{ch}:VOLT:OFFS``, ``OUTP{ch}``, ``OUTP{ch}:LOAD``,
  ``SOUR{ch}:FUNC:ARB``, ``SOUR{ch}:FUNC:ARB:SRAT``, ``SOUR{ch}:DATA:VOL:CLE``,
  ``SOUR{ch}:DATA:ARB:DAC <name>, ...`` (ASCII only there), ``SOUR{ch}:BURS:STAT/MODE/NCYC``,
  ``TRIG{ch}:SOUR``, ``*TRG``.
- [read] QCoDeS ``instrument_drivers/Keysight/KeysightAgilent_33XXX.py``: the same SOURce/OUTPut
  tree, ``VOLTage:UNIT VPP|VRMS|DBM``, ``9.9E37`` read as infinity (``OUTP:LOAD?`` with INF).
- [unverified] Keysight Trueform programming guide (33500B/33600A Operating and Service Guide), as
  cited by third-party scripts, for the *binary* upload: ``FORM:BORD SWAP`` (little-endian), then
  ``SOUR{ch}:DATA:ARB:DAC <name>,#<n><len><int16 bytes>``, then ``*OPC?`` and ``SYST:ERR?``;
  DAC codes -32767..+32767; at least 8 points; names of up to 12 characters (letter first,
  letters/digits/underscore); 1 Msample of standard arbitrary memory (more with memory options).
- [unverified] Model limits recalled from the Keysight data sheets, not checked against a copy:
  sine up to 20 MHz (33509B-33512B) or 30 MHz (33519B-33522B), 80 MHz (33611A/12A) or 120 MHz
  (33621A/22A); arbitrary sample rate up to 160/250 MSa/s (33500B) and 660 MSa/s / 1 GSa/s
  (33600A); 1 mVpp..10 Vpp and |offset| + Vpp/2 <= 5 V into 50 ohm (doubled into high Z).
  Unknown members of a family get the family's lowest figures (conservative).
- Pattern timing (issue 20), per command:

  - ``SOUR{ch}:FUNC:ARB:FILT NORM|STEP|OFF`` / ``?``: [read] PyMeasure ``agilent33500.py``
    (``arb_filter``); third-party scripts select STEP ("pulse optimised filter", index id
    52518930166) or OFF for pulse patterns (ids 55691167234, 41736722036). The instrument's
    power-on NORMal filter interpolates band-limited between samples: with one sample per pulse
    it rings into the inter-pulse time, so ``play_waveform`` sets ``pattern_filter`` (STEP
    unless chosen otherwise) and scans record it.
  - ``FUNC:ARB:SYNC`` (restart both arbs together): [unverified, many third-party scripts] e.g.
    index ids 4608971450 ("Synchronize the start points of both waveforms"), 31566869845 (sent
    when loading channel 2), 34642422202 (``sour{ch}:func:arb:sync``, "only on 33500B models").
  - ``OUTP:SYNC ON|OFF``, ``OUTP:SYNC:SOUR CH1|CH2``, ``OUTP:SYNC:MODE NORM|CARR|MARK``:
    [unverified] third-party scripts, index ids 14333500042, 47221122694, 23146684833.
  - ``SOUR{ch}:MARK:POIN <n>`` (sample at which the sync output marks in MARK mode) and
    ``ROSC:SOUR INT|EXT`` (10 MHz reference): [unverified, recalled from the Trueform guide].
  - ``TRIG{ch}:SLOP POS|NEG``: [unverified] third-party script, index id 41736722036 (``TRIG:SLOP POS``
    with ``TRIG:SOUR EXT``).
  - Named waveforms stay in volatile memory: ``upload_waveform`` no longer clears it
    (``DATA:VOL:CLE`` only when the name is already there, or by ``clear_volatile``), so a scan
    switches patterns with ``select_waveform``.
  - Channel count per model [unverified, recalled from the data sheets]: 33509B, 33511B, 33519B,
    33521B, 33611A and 33621A have one channel; ``ch2`` is refused on them.
- [unverified] ``SOUR{ch}:VOLT:UNIT VPP`` sent in the same message as every amplitude set/query:
  our own choice so an instrument left in VRMS or dBm from the front panel can never turn a
  Vpp number into a larger drive than the safety check computed.

Safety
------
``max_drive_voltage`` (V, bench config) bounds the peak ``|offset| + amplitude/2`` the AWG is told
to produce (the displayed values, i.e. into the load it is configured for). It is checked before
anything is sent when the amplitude or the offset is set (with the other value from the cache, or
queried when unknown), when the output is switched on, and by ``play_waveform`` for the final pair
and the order of the two settings. A waveform that does not reach full scale makes this a
conservative bound.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pint

from ..errors import ConfigError, ProtocolError, SettingRangeError
from ..units import as_quantity, to_si
from .base import OVERRANGE, Channel, Control, Identity, SCPIInstrument, control
from .transport import Transport, ieee_block

__all__ = ["Keysight33500B", "Keysight33500BChannel", "Function", "BurstMode", "TriggerSource", "ModelSpec",
           "model_spec", "DAC_FULL_SCALE", "ArbFilter", "SyncMode", "SyncSource", "ReferenceSource", "Slope"]

#: DAC code of a normalised sample of +1 (-1 maps to -32767; -32768 is not used).
DAC_FULL_SCALE = 32767
#: Arbitrary waveform names: a letter, then letters, digits or underscores, 12 characters at most.
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,11}$")
#: Built-in or stored waveforms are selected by their (quoted) mass-memory path instead.
_PATH = re.compile(r"^(?:INT|USB):\\.+\.b?arb$", re.IGNORECASE)
#: The modulator input impedance the amplitude/offset ranges are quoted for.
_REFERENCE_LOAD = 50.0


class Function(enum.Enum):
    """Output function (``SOUR{ch}:FUNC``). Members are the SCPI short forms; long names are aliases."""

    SIN = "SIN"
    SQU = "SQU"
    TRI = "TRI"
    RAMP = "RAMP"
    PULS = "PULS"
    PRBS = "PRBS"
    NOIS = "NOIS"
    DC = "DC"
    ARB = "ARB"
    SINE = "SIN"
    SQUARE = "SQU"
    TRIANGLE = "TRI"
    PULSE = "PULS"
    NOISE = "NOIS"
    ARBITRARY = "ARB"


class BurstMode(enum.Enum):
    """Burst mode (``SOUR{ch}:BURS:MODE``): N cycles per trigger, or output while a gate is true."""

    TRIG = "TRIG"
    GAT = "GAT"
    TRIGGERED = "TRIG"
    GATED = "GAT"


class TriggerSource(enum.Enum):
    """Trigger source (``TRIG{ch}:SOUR``); BUS means ``*TRG`` (``Keysight33500B.trigger()``)."""

    IMM = "IMM"
    EXT = "EXT"
    BUS = "BUS"
    TIM = "TIM"
    IMMEDIATE = "IMM"
    EXTERNAL = "EXT"
    TIMER = "TIM"


class ArbFilter(enum.Enum):
    """Arbitrary-waveform filter (``SOUR{ch}:FUNC:ARB:FILT``): NORMal rings between samples; STEP
    limits overshoot; OFF steps from sample to sample."""

    NORM = "NORM"
    STEP = "STEP"
    OFF = "OFF"
    NORMAL = "NORM"


class SyncMode(enum.Enum):
    """What the rear sync output gives (``OUTP:SYNC:MODE``): NORMal, CARRier or a MARKer pulse."""

    NORM = "NORM"
    CARR = "CARR"
    MARK = "MARK"


class SyncSource(enum.Enum):
    """Which channel the sync output follows (``OUTP:SYNC:SOUR``)."""

    CH1 = "CH1"
    CH2 = "CH2"


class ReferenceSource(enum.Enum):
    """The 10 MHz timebase reference (``ROSC:SOUR``): internal or the rear-panel input."""

    INT = "INT"
    EXT = "EXT"


class Slope(enum.Enum):
    """Edge of the external trigger that starts a burst or advances the waveform (``TRIG{ch}:SLOP``)."""

    POS = "POS"
    NEG = "NEG"


@dataclass(frozen=True)
class ModelSpec:
    """What limits a model's settings (see the module docstring for where the figures come from)."""

    family: str
    max_frequency_hz: float      # sine; other functions are checked by the instrument itself
    max_sample_rate: float       # arbitrary waveforms, Sa/s
    channels: int = 1            # output channels


_FAMILIES = {
    "33500B": ModelSpec("33500B", 20e6, 160e6),
    "33600A": ModelSpec("33600A", 80e6, 660e6),
}
_MODELS = {
    **{m: ModelSpec("33500B", 20e6, 160e6, 2 if m in ("33510B", "33512B") else 1)
       for m in ("33509B", "33510B", "33511B", "33512B")},
    **{m: ModelSpec("33500B", 30e6, 250e6, 2 if m in ("33520B", "33522B") else 1)
       for m in ("33519B", "33520B", "33521B", "33522B")},
    **{m: ModelSpec("33600A", 80e6, 660e6, 2 if m == "33612A" else 1) for m in ("33611A", "33612A")},
    **{m: ModelSpec("33600A", 120e6, 1e9, 2 if m == "33622A" else 1) for m in ("33621A", "33622A")},
}


def model_spec(model: str) -> ModelSpec:
    """Limits for a model number ("33522B") or family ("33600A"); unknown family members get the
    family's lowest limits. Anything else is not this driver's instrument: ``ConfigError``."""
    key = model.strip().upper()
    if key in _MODELS:
        return _MODELS[key]
    if key in _FAMILIES:
        return _FAMILIES[key]
    if key.startswith("335"):
        return _FAMILIES["33500B"]
    if key.startswith("336"):
        return _FAMILIES["33600A"]
    raise ConfigError(f"{model!r} is not a Keysight 33500B/33600A model; pass model='33522B' (or the right "
                      "model number) to Keysight33500B, or use the driver for your instrument")


def _load_scale(load_ohm: float) -> float:
    """Displayed-voltage factor of a load setting relative to 50 ohm: 1 at 50 ohm, 2 into high Z."""
    if math.isinf(load_ohm):
        return 2.0
    return 2.0 * load_ohm / (load_ohm + _REFERENCE_LOAD)


def _quantity_or_float(value: Any, unit: str, what: str) -> float:
    try:
        return to_si(value, unit)
    except (pint.DimensionalityError, pint.UndefinedUnitError, ValueError, TypeError) as exc:
        raise SettingRangeError(f"{what}: {value!r} is not a value in {unit} ({exc})") from None


# -- controls with AWG-specific checks ------------------------------------------------------------

class _InfinityControl(Control):
    """A numeric control that also takes infinity: sent as ``INF``, read back as ``9.9E+37``.

    Used for the output load (high Z) and the burst count (infinite burst).
    """

    def __init__(self, *args: Any, number_format: str = "{:.6g}", integer: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.number_format = number_format
        self.integer = integer

    def to_native(self, obj: Any, value: Any) -> tuple[Any, Any]:
        si = _quantity_or_float(value, self.unit, f"{obj.name}.{self.name}")
        if si == math.inf:
            return math.inf, "INF"
        cached, native = super().to_native(obj, si)
        if self.integer:
            if si != int(si):
                raise SettingRangeError(f"{obj.name}.{self.name} = {si!r} must be a whole number; nothing was sent")
            return int(si), str(int(si))
        return cached, self.number_format.format(native)

    def from_reply(self, obj: Any, reply: str, command: str) -> Any:
        try:
            number = float(reply.strip())
        except ValueError:
            number = None
        if number is not None and abs(number) >= OVERRANGE:
            return as_quantity(math.inf, self.unit) if self.unit else math.inf
        value = super().from_reply(obj, reply, command)
        return int(value) if self.integer else value


class _PatternControl(Control):
    """A setting that changes what a channel plays: the two arbs are no longer known to be aligned."""

    def __set__(self, obj: Any, value: Any) -> None:
        super().__set__(obj, value)
        obj.parent.arbs_synchronized = False


class _LoadControl(_InfinityControl):
    """The output load setting. Changing it makes the instrument rescale the *displayed* amplitude
    and offset (the physical output stays the same), so their cached values are dropped."""

    def __set__(self, obj: Any, value: Any) -> None:
        before = obj._cache.get(self.name)
        super().__set__(obj, value)
        after = obj._cache.get(self.name)
        if before is None or after is None or before.value != after.value:
            for name in ("amplitude", "offset"):
                obj._cache.pop(name, None)


class _DriveControl(Control):
    """Amplitude or offset: after the range check, the combined peak with the other value is checked
    against the output range and the bench ``max_drive_voltage``, before anything is sent."""

    def to_native(self, obj: Any, value: Any) -> tuple[Any, Any]:
        cached, native = super().to_native(obj, value)
        obj.check_drive(**{self.name: cached})
        return cached, native


class _OutputControl(_PatternControl):
    """The output switch: switching on re-checks the present amplitude/offset against the limit
    (they may have been set from the front panel, or rescaled by a load change)."""

    def to_native(self, obj: Any, value: Any) -> tuple[Any, Any]:
        cached, native = super().to_native(obj, value)
        if cached is True:
            obj.check_drive()
        return cached, native


class _ArbNameControl(_PatternControl):
    """The selected arbitrary waveform: a volatile-memory name (sent as is) or a quoted file path."""

    def to_native(self, obj: Any, value: Any) -> tuple[Any, Any]:
        name = str(value).strip().strip('"')
        if _NAME.match(name):
            return name, name
        if _PATH.match(name):
            return name, f'"{name}"'
        raise SettingRangeError(
            f"{obj.name}.{self.name} = {value!r} is neither a waveform name (a letter, then letters, digits "
            r"or '_', 12 characters at most) nor a path such as 'INT:\BUILTIN\EXP_RISE.ARB'; nothing was sent")


def _unquote(text: str) -> str:
    return text.strip().strip('"')


def _amplitude_limits(ch: Keysight33500BChannel) -> tuple[float, float]:
    scale = _load_scale(ch.load_ohm_setting())
    return 1e-3 * scale, 10.0 * scale


def _offset_limits(ch: Keysight33500BChannel) -> tuple[float, float]:
    scale = _load_scale(ch.load_ohm_setting())
    return -5.0 * scale, 5.0 * scale


class Keysight33500BChannel(Channel):
    """One output channel (1 or 2) of a 33500B/33600A.

    Amplitudes are peak-to-peak volts into the configured load; the load setting only changes how
    the instrument *displays* the voltage at the real load (high Z shows twice the 50 ohm value).
    While the load is unknown to the driver, the 50 ohm ranges apply (the narrower ones).
    """

    parent: Keysight33500B
    probe_extra_queries: ClassVar[tuple[str, ...]] = ("SOUR{ch}:DATA:VOL:CAT?",)

    function = _PatternControl(
        "SOUR{ch}:FUNC?", "SOUR{ch}:FUNC {value}",
        "Control the output function (``Function``: SIN, SQU, TRI, RAMP, PULS, PRBS, NOIS, DC, ARB).",
        values=Function, cast=str)
    frequency = control(
        "SOUR{ch}:FREQ?", "SOUR{ch}:FREQ {value:.15g}",
        "Control the frequency (Hz), 1 uHz up to the model's sine maximum; the instrument itself "
        "refuses frequencies its present function cannot reach (e.g. ramps).",
        unit="Hz", limits=lambda ch: (1e-6, ch.parent.spec.max_frequency_hz))
    load = _LoadControl(
        "OUTP{ch}:LOAD?", "OUTP{ch}:LOAD {value}",
        "Control the load the output voltages refer to (ohm): 1..10k, or math.inf for high Z.",
        unit="ohm", limits=(1.0, 10e3))
    amplitude = _DriveControl(
        "SOUR{ch}:VOLT:UNIT VPP;:SOUR{ch}:VOLT?", "SOUR{ch}:VOLT:UNIT VPP;:SOUR{ch}:VOLT {value:.6g}",
        "Control the amplitude (V peak-to-peak into the configured load); the unit is forced to Vpp in "
        "the same message so a front-panel VRMS/dBm setting cannot change what the number means.",
        unit="V", limits=_amplitude_limits)
    offset = _DriveControl(
        "SOUR{ch}:VOLT:OFFS?", "SOUR{ch}:VOLT:OFFS {value:.6g}",
        "Control the DC offset (V into the configured load).", unit="V", limits=_offset_limits)
    arb_sample_rate = _PatternControl(
        "SOUR{ch}:FUNC:ARB:SRAT?", "SOUR{ch}:FUNC:ARB:SRAT {value:.15g}",
        "Control the arbitrary-waveform sample rate (Sa/s, given as Hz); one sample per pulse slot.",
        unit="Hz", limits=lambda ch: (1e-6, ch.parent.spec.max_sample_rate))
    arb_waveform = _ArbNameControl(
        "SOUR{ch}:FUNC:ARB?", "SOUR{ch}:FUNC:ARB {value}",
        "Control which arbitrary waveform the ARB function plays (a name in volatile memory).",
        cast=str, preprocess=_unquote)
    arb_filter = control(
        "SOUR{ch}:FUNC:ARB:FILT?", "SOUR{ch}:FUNC:ARB:FILT {value}",
        "Control the arbitrary-waveform filter (``ArbFilter``: NORM rings between samples, STEP, OFF).",
        values=ArbFilter, cast=str)
    marker_point = control(
        "SOUR{ch}:MARK:POIN?", "SOUR{ch}:MARK:POIN {value:d}",
        "Control the sample of the arbitrary waveform at which the sync output marks (MARK mode) [unverified].",
        cast=int, limits=(0, 16_000_000), optional_query=True)
    trigger_slope = control(
        "TRIG{ch}:SLOP?", "TRIG{ch}:SLOP {value}",
        "Control the external-trigger edge (``Slope``: POS or NEG) [unverified].",
        values=Slope, cast=str, optional_query=True)
    burst_state = control(
        "SOUR{ch}:BURS:STAT?", "SOUR{ch}:BURS:STAT {value}",
        "Control burst mode on/off (True/False).", values={True: 1, False: 0}, cast=int)
    burst_mode = control(
        "SOUR{ch}:BURS:MODE?", "SOUR{ch}:BURS:MODE {value}",
        "Control the burst mode (``BurstMode``: TRIG, N cycles per trigger; GAT, external gate).",
        values=BurstMode, cast=str)
    burst_cycles = _InfinityControl(
        "SOUR{ch}:BURS:NCYC?", "SOUR{ch}:BURS:NCYC {value}",
        "Control the number of cycles per burst (1..100,000,000, or math.inf).",
        limits=(1, 1e8), integer=True)
    trigger_source = control(
        "TRIG{ch}:SOUR?", "TRIG{ch}:SOUR {value}",
        "Control the trigger source (``TriggerSource``: IMM, EXT, BUS for ``*TRG``, TIM).",
        values=TriggerSource, cast=str)

    # Last, so re-applying setpoints after a reconnect switches the output on after everything else.
    output = _OutputControl(
        "OUTP{ch}?", "OUTP{ch} {value}",
        "Control the output switch (True/False); switching on re-checks the drive safety limit.",
        values={True: 1, False: 0}, cast=int)

    # -- drive-voltage bookkeeping ----------------------------------------------------------------
    def load_ohm_setting(self) -> float:
        """Get the load the driver last saw set or read (ohm); 50 ohm while unknown."""
        cached = self._cache.get("load")
        return float(cached.value.to("ohm").magnitude) if cached is not None else _REFERENCE_LOAD

    def _present_volts(self, name: str, query: bool) -> float | None:
        cached = self._cache.get(name)
        if cached is not None:
            return float(cached.value.to("V").magnitude)
        if query:
            return float(getattr(self, name).to("V").magnitude)
        return None

    def check_drive(self, amplitude: float | None = None, offset: float | None = None) -> None:
        """Refuse a drive whose peak ``|offset| + amplitude/2`` breaks the bench limit or the output range.

        Values not given come from the cache; when a ``max_drive_voltage`` limit is configured and a
        value is not cached it is queried (a read, nothing is set). Raises ``SafetyLimitError`` or
        ``SettingRangeError``; sends no setting.
        """
        limited = "max_drive_voltage" in self.parent.safety_limits
        amp = amplitude if amplitude is not None else self._present_volts("amplitude", limited)
        off = offset if offset is not None else self._present_volts("offset", limited)
        if amp is None or off is None:
            return  # no bench limit and the other value unknown: the instrument checks its own envelope
        peak = abs(off) + amp / 2.0
        self.check_safety("max_drive_voltage", peak, "V", what="peak drive |offset| + amplitude/2")
        load = self.load_ohm_setting()
        envelope = 5.0 * _load_scale(load)
        if peak > envelope * (1 + 1e-12):
            raise SettingRangeError(
                f"{self.name}: |offset| + amplitude/2 = {peak:g} V exceeds the output range {envelope:g} V "
                f"into {'high Z' if math.isinf(load) else f'{load:g} ohm'}; nothing was sent")

    # -- waveform memory ---------------------------------------------------------------------------
    def volatile_catalog(self) -> list[str]:
        """Get the names of the waveforms in this channel's volatile memory (``DATA:VOL:CAT?``)."""
        reply = self.ask(f"SOUR{self.id}:DATA:VOL:CAT?")
        return [_unquote(item) for item in reply.split(",") if _unquote(item)]

    def upload_waveform(self, name: str, samples: Sequence[float] | np.ndarray) -> None:
        """Upload ``samples`` (floats in [-1, 1]) as waveform ``name``; see ``Keysight33500B.upload_waveform``."""
        self.parent.upload_waveform(self.id, name, samples)

    def play_waveform(self, name: str, samples: Sequence[float] | np.ndarray, sample_rate: Any,
                      amplitude: Any, offset: Any = 0.0) -> None:
        """Upload and play a waveform on this channel; see ``Keysight33500B.play_waveform``."""
        self.parent.play_waveform(self.id, name, samples, sample_rate, amplitude, offset)


class Keysight33500B(SCPIInstrument):
    """Keysight 33500B / 33600A Trueform waveform generator (``ch1``, and ``ch2`` on two-channel models).

    ``model`` ("33522B", "33622A", or a family "33500B"/"33600A") sets the frequency, sample rate
    and channel limits; without it the model is read from ``*IDN?`` the first time a limit is
    needed (or when ``identify()`` is called). ``max_waveform_samples`` is the arbitrary memory per
    waveform (1,000,000 standard; raise it for instruments with a memory option).
    ``pattern_filter`` is the arb filter ``play_waveform`` sets for pulse patterns (STEP: one
    sample per pulse must not ring into the light between pulses).
    """

    interface: ClassVar[str] = "visa"
    default_settings: ClassVar[dict[str, Any]] = {
        "timeout": 5.0, "write_termination": "\n", "read_termination": "\n"}
    channel_classes: ClassVar[tuple[type, ...]] = (Keysight33500BChannel,)
    extra_safety_limits: ClassVar[dict[str, str]] = {"max_drive_voltage": "V"}
    #: The largest peak drive of the output stage: ±10 V into high impedance (±5 V into 50 Ω).
    extra_safety_limit_ranges: ClassVar[dict[str, tuple[float, float]]] = {"max_drive_voltage": (0.0, 10.0)}
    probe_extra_queries: ClassVar[tuple[str, ...]] = ("*IDN?", "FORM:BORD?")
    #: Points of the smallest waveform the instrument accepts.
    min_waveform_samples: ClassVar[int] = 8

    sync_output = control(
        "OUTP:SYNC?", "OUTP:SYNC {value}",
        "Control the rear sync output (True/False): the pattern clock for a time tagger or scope [unverified].",
        values={True: 1, False: 0}, cast=int)
    sync_source = control(
        "OUTP:SYNC:SOUR?", "OUTP:SYNC:SOUR {value}",
        "Control which channel the sync output follows (``SyncSource``: CH1, CH2) [unverified].",
        values=SyncSource, cast=str)
    sync_mode = control(
        "OUTP:SYNC:MODE?", "OUTP:SYNC:MODE {value}",
        "Control the sync output mode (``SyncMode``: NORM, CARR, MARK at ``marker_point``) [unverified].",
        values=SyncMode, cast=str, optional_query=True)
    reference_source = control(
        "ROSC:SOUR?", "ROSC:SOUR {value}",
        "Control the 10 MHz timebase reference (``ReferenceSource``: INT, EXT) [unverified].",
        values=ReferenceSource, cast=str, optional_query=True)

    def __init__(self, resource: str | Transport, name: str | None = None, *, model: str | None = None,
                 max_waveform_samples: int = 1_000_000, pattern_filter: ArbFilter | str = ArbFilter.STEP,
                 **kwargs: Any) -> None:
        self._spec = model_spec(model) if model is not None else None
        self.model = model
        self.max_waveform_samples = int(max_waveform_samples)
        self.pattern_filter = ArbFilter[pattern_filter.upper()] if isinstance(pattern_filter, str) else pattern_filter
        #: True once ``synchronize_arbs`` restarted both arbs together, until a channel changes pattern.
        self.arbs_synchronized = False
        super().__init__(resource, name, **kwargs)
        self.ch1 = Keysight33500BChannel(self, 1)
        self.ch2 = Keysight33500BChannel(self, 2)

    @property
    def channels(self) -> list[Keysight33500BChannel]:
        """The output channels: both while the model is unknown, only ``ch1`` on one-channel models."""
        if self._spec is not None and self._spec.channels < 2:
            return [self.ch1]
        return [self.ch1, self.ch2]

    def channel(self, channel: int | Keysight33500BChannel) -> Keysight33500BChannel:
        """The channel object for 1 or 2 (or a channel object itself); 2 is refused on one-channel
        models once the model is known (given, or read by ``identify``/a range check; while it is
        unknown the instrument's own -114 reports a missing channel after the setting)."""
        number = channel.id if isinstance(channel, Keysight33500BChannel) else channel
        if number not in (1, 2):
            raise SettingRangeError(f"{self.name}: channel {channel!r} does not exist; use 1 or 2")
        if number == 2 and self._spec is not None and self._spec.channels < 2:
            raise SettingRangeError(f"{self.name}: the {self.model} has one channel; channel 2 does not exist")
        return self.ch1 if number == 1 else self.ch2

    # -- model ------------------------------------------------------------------------------------
    def identify(self) -> Identity:
        identity = super().identify()
        if self._spec is None:
            self._spec = model_spec(identity.model)
            self.model = identity.model
        return identity

    @property
    def spec(self) -> ModelSpec:
        """The model's limits; asks ``*IDN?`` once if no model was given."""
        if self._spec is None:
            self.identify()
        assert self._spec is not None
        return self._spec

    # -- triggering -------------------------------------------------------------------------------
    def trigger(self) -> None:
        """Send a software trigger (``*TRG``) to channels whose trigger source is BUS; check errors."""
        with self.transaction():
            self.write("*TRG")
            if self.check_errors_on_set:
                self.check_errors("*TRG")

    # -- arbitrary waveforms ----------------------------------------------------------------------
    def dac_codes(self, name: str, samples: Sequence[float] | np.ndarray) -> np.ndarray:
        """Validate a waveform and convert it to little-endian int16 DAC codes (sends nothing).

        ``samples`` are floats in [-1, 1] (full scale); -1 and +1 become -32767 and +32767.
        """
        if not isinstance(name, str) or not _NAME.match(name):
            raise SettingRangeError(
                f"{self.name}: waveform name {name!r} must start with a letter and hold only letters, digits "
                "and '_', 12 characters at most; nothing was sent")
        try:
            data = np.asarray(samples, dtype=float)
        except (TypeError, ValueError) as exc:
            raise SettingRangeError(f"{self.name}: waveform {name!r} is not an array of real numbers ({exc})") from None
        if data.ndim != 1:
            raise SettingRangeError(f"{self.name}: waveform {name!r} must be one-dimensional, not shape {data.shape}")
        n = data.size
        if not self.min_waveform_samples <= n <= self.max_waveform_samples:
            raise SettingRangeError(
                f"{self.name}: waveform {name!r} has {n} samples; the instrument takes "
                f"{self.min_waveform_samples}..{self.max_waveform_samples}; nothing was sent")
        if not np.all(np.isfinite(data)):
            raise SettingRangeError(f"{self.name}: waveform {name!r} contains NaN or infinity; nothing was sent")
        lo, hi = float(data.min()), float(data.max())
        if lo < -1.0 or hi > 1.0:
            raise SettingRangeError(
                f"{self.name}: waveform {name!r} spans [{lo:g}, {hi:g}]; samples must lie in [-1, 1] "
                "(scale the pattern, set the voltage with the amplitude); nothing was sent")
        return np.rint(data * DAC_FULL_SCALE).astype("<i2")

    def upload_waveform(self, channel: int, name: str, samples: Sequence[float] | np.ndarray) -> None:
        """Upload ``samples`` (floats in [-1, 1]) to ``channel``'s volatile memory as ``name``.

        Validated first (8..max_waveform_samples points, values in [-1, 1], a valid name); then,
        under one lock: the catalogue (``SOUR<ch>:DATA:VOL:CAT?``), ``FORM:BORD SWAP``,
        ``SOUR<ch>:DATA:VOL:CLE`` only if ``name`` is already there (the instrument refuses to
        overwrite a name, and has no single-waveform delete we could confirm), the data
        (``SOUR<ch>:DATA:ARB:DAC <name>,<int16 IEEE block>``), ``*OPC?`` and an error-queue check.
        Other waveforms stay, so a scan can switch patterns with ``select_waveform``. The waveform
        is not selected; see ``play_waveform``.
        """
        ch = self.channel(channel)
        codes = self.dac_codes(name, samples)
        self._upload_codes(ch, name, codes)

    def _upload_codes(self, ch: Keysight33500BChannel, name: str, codes: np.ndarray) -> None:
        command = f"SOUR{ch.id}:DATA:ARB:DAC {name},"
        block = ieee_block(codes)
        with self.transaction():
            present = {n.upper() for n in ch.volatile_catalog()}
            self.write("FORM:BORD SWAP")
            if name.upper() in present:
                self.log.info("%s: waveform %s is in ch%s's memory already; clearing the memory to replace it",
                              self.name, name, ch.id)
                self.write(f"SOUR{ch.id}:DATA:VOL:CLE")
                ch._cache.pop("arb_waveform", None)  # the selection may have been cleared with it
            self.write_block(command, block)
            # Loading a long waveform takes the instrument a while; give *OPC? time for it.
            previous = self.transport.timeout
            self.transport.timeout = max(previous, 10.0 + 1e-5 * codes.size)
            try:
                self.wait_complete()
            finally:
                self.transport.timeout = previous
            self.check_errors(command.rstrip(","))

    def play_waveform(self, channel: int, name: str, samples: Sequence[float] | np.ndarray, sample_rate: Any,
                      amplitude: Any, offset: Any = 0.0, arb_filter: ArbFilter | str | None = None) -> None:
        """Upload a pattern and play it: select it, ARB function, filter, sample rate, amplitude,
        offset, output on, and restart both arbs together when the other channel plays one too.

        This is how modulator drive patterns are played: one sample per pulse slot at
        ``sample_rate`` (Sa/s), ``amplitude`` (Vpp) spanning samples -1..+1 around ``offset`` (V),
        with the arb filter ``arb_filter`` (default ``pattern_filter``, STEP). Everything (waveform,
        ranges, the final ``|offset| + amplitude/2`` against the bench limit) is validated before
        anything is sent; amplitude and offset are set in the order whose intermediate state has
        the lower peak, so no step exceeds the limit when start and end do not.
        """
        ch = self.channel(channel)
        codes = self.dac_codes(name, samples)
        cls = Keysight33500BChannel
        rate = Control.to_native(cls.arb_sample_rate, ch, sample_rate)[0]
        amp = Control.to_native(cls.amplitude, ch, amplitude)[0]
        off = Control.to_native(cls.offset, ch, offset)[0]
        filt = Control.to_native(cls.arb_filter, ch, arb_filter or self.pattern_filter)[0]
        ch.check_drive(amplitude=amp, offset=off)
        limited = "max_drive_voltage" in self.safety_limits
        amp0 = ch._present_volts("amplitude", limited)
        off0 = ch._present_volts("offset", limited)
        amplitude_first = True
        if amp0 is not None and off0 is not None:
            amplitude_first = abs(off0) + amp / 2.0 <= abs(off) + amp0 / 2.0
        self._upload_codes(ch, name, codes)
        ch.arb_waveform = name
        ch.function = Function.ARB
        ch.arb_filter = filt
        ch.arb_sample_rate = rate
        if amplitude_first:
            ch.amplitude = amp
            ch.offset = off
        else:
            ch.offset = off
            ch.amplitude = amp
        ch.output = True
        self._after_pattern_change(ch)

    def synchronize_arbs(self) -> None:
        """Restart both channels' arbitrary waveforms at their first sample together (``FUNC:ARB:SYNC``).

        Without it the IM and PM patterns on ch1/ch2 run with an unknown offset after any upload
        or selection; ``play_waveform`` calls it whenever the other channel plays a pattern too.
        """
        with self.transaction():
            self.write("FUNC:ARB:SYNC")
            if self.check_errors_on_set:
                self.check_errors("FUNC:ARB:SYNC")
        self.arbs_synchronized = True

    def select_waveform(self, channel: int, name: str) -> None:
        """Play waveform ``name``, already in ``channel``'s volatile memory, without uploading it again."""
        ch = self.channel(channel)
        ch.arb_waveform = name
        self._after_pattern_change(ch)

    def clear_volatile(self, channel: int) -> None:
        """Delete every waveform in ``channel``'s volatile memory (``SOUR<ch>:DATA:VOL:CLE``)."""
        ch = self.channel(channel)
        with self.transaction():
            self.write(f"SOUR{ch.id}:DATA:VOL:CLE")
            if self.check_errors_on_set:
                self.check_errors(f"SOUR{ch.id}:DATA:VOL:CLE")
        ch._cache.pop("arb_waveform", None)
        self.arbs_synchronized = False

    def _after_pattern_change(self, ch: Keysight33500BChannel) -> None:
        """A channel changed pattern: resynchronise when the other channel plays a pattern too."""
        self.arbs_synchronized = False
        others = [c for c in self.channels if c is not ch]
        for other in others:
            function, output = other._cache.get("function"), other._cache.get("output")
            if function is not None and function.value is Function.ARB and output is not None and output.value:
                self.synchronize_arbs()

    def snapshot(self, update: bool = False) -> dict[str, Any]:
        """Settings snapshot, plus whether the two arbs were last started together."""
        out = super().snapshot(update=update)
        out["arbs synchronized"] = {"value": self.arbs_synchronized, "unit": "", "label": "arbs synchronized",
                                    "time_unix_s": None, "source": "driver"}
        return out

    def read_byte_order(self) -> str:
        """Get the binary byte order (``FORM:BORD?``): 'NORM' (big-endian) or 'SWAP' (little-endian)."""
        reply = self.ask("FORM:BORD?").strip().upper()
        if reply not in ("NORM", "SWAP"):
            raise ProtocolError(f"{self.name}: FORM:BORD? answered {reply!r}, expected NORM or SWAP")
        return reply
