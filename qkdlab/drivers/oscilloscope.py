"""Keysight InfiniiVision real-time oscilloscopes (1000 X to 4000 X; two or four analog channels).

On a QKD transmitter bench a fast photodiode on a real-time scope, triggered by the pattern clock
on the external trigger input, is how the light is seen pulse by pulse: per-pulse intensity (decoy
levels, pulse correlations), the interferometer read-out of the encoded phases, and the leakage
light between pulses. The driver's job is (a) to set up the channel and timebase so the pattern
window fills the screen, (b) to acquire (averaged) and (c) to transfer the record exactly: 16-bit
WORD samples in an IEEE 488.2 block, scaled with the preamble into seconds and volts.

Sources of the command set
--------------------------
- [verified] Keysight's own InfiniiVision example script (``AnalogWaveformGrab.py``, Keysight
  sample-application copyright, found in a public repository through the ``search`` tool):
  ``:WAVeform:SOURce CHANnel<n>``, ``:WAVeform:FORMat WORD``, ``:WAVeform:BYTeorder LSBFirst``,
  ``:WAVeform:UNSigned``, ``:WAVeform:POINts``/``:WAVeform:POINts?``, ``:WAVeform:POINts:MODE
  NORMal|MAXimum|RAW`` (AVERage and HRESolution records need NORMal), ``:WAVeform:PREamble?`` with
  xincrement, xorigin, xreference at indices 4-6 and yincrement, yorigin, yreference at 7-9,
  ``:WAVeform:DATA?`` (always a definite-length block), ``time = (i - xreference) xincrement +
  xorigin`` and ``volts = (code - yreference) yincrement + yorigin``, ``:ACQuire:TYPE?`` answering
  short forms (``AVER``, ``HRES``), ``:CHANnel<n>:DISPlay``; fewer than 100 requested points is
  refused with -222 and no model offers more than 8,000,000.
- [read, third-party] a command summary "extracted from the InfiniiVision 3000/4000/6000 X-Series
  programmer's guide" and several bench scripts (found with the ``search`` tool), consistent with
  each other: the preamble's 10 fields ``format (0 BYTE, 1 WORD, 4 ASCii), type (0 NORMal, 1 PEAK,
  2 AVERage, 3 HRESolution), points, count, ...``; ``:CHANnel<n>:SCALe``, ``:CHANnel<n>:OFFSet``,
  ``:CHANnel<n>:IMPedance ONEMeg|FIFTy``, ``:TIMebase:SCALe``, ``:TIMebase:POSition``,
  ``:TIMebase:REFerence LEFT|CENTer|RIGHt``, ``:ACQuire:TYPE NORMal|AVERage|HRESolution|PEAK``,
  ``:ACQuire:COUNt`` (2..65536), ``:TRIGger:MODE EDGE``, ``:TRIGger:SWEep AUTO|NORMal``,
  ``:TRIGger:EDGE:SOURce CHANnel<n>|EXTernal|LINE``, ``:TRIGger:EDGE:LEVel``,
  ``:TRIGger:EDGE:SLOPe POSitive|NEGative|EITHer|ALTernate``, ``:DIGitize <source>[,<source>]``,
  ``*OPC?``, ``:SYSTem:ERRor?`` answering ``+0,"No error"``.
- [RECALL, not checked against the guide] the short-form replies of the enum queries (``FIFT``,
  ``ONEM``, ``CENT``, ``RIGH``, ``EXT``, ``POS``, ``NORM``); ``:CHANnel<n>:OFFSet`` being the voltage
  at the centre of the screen; ``:TIMebase:REFerence LEFT`` putting the reference point *one
  division* in from the left edge (CENTer at 5, RIGHt one division from the right edge), so the
  screen starts at ``position - 1 div`` with LEFT; the ranges checked here (1 mV/div..5 V/div,
  timebase 200 ps/div..50 s/div); the clipping convention below.

Clipping convention (implemented, [RECALL] for the real instrument): with ``:WAVeform:UNSigned 1``
and WORD format, a sample the ADC saw beyond the screen is transferred at a rail, code 0 (below)
or 65535 (above); ``Waveform.clipped`` flags both rails, so a clipped sample is never mistaken for
a measured voltage. (Some firmware also uses code 0 for a "hole", a sample with no data: flagged
too, which is the safe side.)

No bench safety limit applies (the scope drives nothing); instrument ranges are checked before
anything is sent, as everywhere in qkdlab.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pint

from ..errors import ConfigError, ProtocolError, SettingRangeError
from ..units import Q_, to_si
from .base import Channel, Control, Identity, SCPIInstrument, control
from .transport import Transport

__all__ = ["KeysightInfiniiVision", "KeysightInfiniiVisionChannel", "Waveform", "Preamble", "Impedance",
           "TimebaseReference", "AcquireType", "TriggerSource", "TriggerSlope", "TriggerSweep",
           "parse_preamble", "decode_word_block", "SCREEN_DIVISIONS", "VERTICAL_DIVISIONS", "CODE_MIN", "CODE_MAX"]

#: Horizontal divisions of the screen (the timebase window is 10 × scale).
SCREEN_DIVISIONS = 10
#: Vertical divisions of the screen (full scale is 8 × V/div around the offset).
VERTICAL_DIVISIONS = 8
#: WORD-format (unsigned) codes of the ADC rails: samples at either are flagged as clipped.
CODE_MIN, CODE_MAX = 0, 65535
#: Points the instrument will transfer at least / at most (fewer than 100 is refused with -222).
MIN_POINTS, MAX_POINTS = 100, 8_000_000
#: Largest ``:WAV:POIN`` of the InfiniiVision 1000 X-series (2-channel DSOX1102G ...): PyMeasure
#: ``keysight/keysightDSOX1102G.py`` (``waveform_points`` values end at 62 500).
MAX_POINTS_1000X = 62_500


@dataclass(frozen=True)
class ScopeSpec:
    """What limits a model: analog channels and the largest waveform transfer."""

    channels: int
    max_points: int


def scope_spec(model: str) -> ScopeSpec:
    """Limits from an InfiniiVision model number: the channel count is its last digit (DSOX1102G: 2,
    DSOX3104T: 4); the 1000 X-series transfers at most 62 500 points, the others 8 M [unverified
    beyond the 1000 X-series]. Anything else is not this driver's instrument: ``ConfigError``."""
    match = re.fullmatch(r"[DM]SO[A-Z]*(\d)(\d{2})(\d)[A-Z]?", model.strip().upper())
    if not match or int(match.group(3)) not in (2, 4):
        raise ConfigError(f"{model!r} is not an InfiniiVision model number (such as DSOX1102G or DSOX3104T); "
                          "pass the right model, or use the driver for your instrument")
    series, channels = int(match.group(1)), int(match.group(3))
    return ScopeSpec(channels, MAX_POINTS_1000X if series == 1 else MAX_POINTS)
#: Divisions from the left screen edge to the time reference point.
_REFERENCE_DIVISIONS = {"LEFT": 1.0, "CENT": 5.0, "RIGH": 9.0}


class Impedance(enum.Enum):
    """Input impedance (``:CHANnel<n>:IMPedance``): 50 ohm for fast photodiodes, or 1 Mohm."""

    FIFT = "FIFT"
    ONEM = "ONEM"
    FIFTY = "FIFT"
    ONEMEG = "ONEM"


class TimebaseReference(enum.Enum):
    """Where the time reference point sits on screen (``:TIMebase:REFerence``)."""

    LEFT = "LEFT"
    CENT = "CENT"
    RIGH = "RIGH"
    CENTER = "CENT"
    RIGHT = "RIGH"


class AcquireType(enum.Enum):
    """Acquisition type (``:ACQuire:TYPE``); AVER averages ``acquire_count`` triggered records."""

    NORM = "NORM"
    AVER = "AVER"
    HRES = "HRES"
    PEAK = "PEAK"
    NORMAL = "NORM"
    AVERAGE = "AVER"
    HRESOLUTION = "HRES"


class TriggerSource(enum.Enum):
    """Edge-trigger source (``:TRIGger:EDGE:SOURce``); EXT is the pattern clock on this bench."""

    CHAN1 = "CHAN1"
    CHAN2 = "CHAN2"
    CHAN3 = "CHAN3"
    CHAN4 = "CHAN4"
    EXT = "EXT"
    LINE = "LINE"
    EXTERNAL = "EXT"


class TriggerSlope(enum.Enum):
    """Edge-trigger slope (``:TRIGger:EDGE:SLOPe``)."""

    POS = "POS"
    NEG = "NEG"
    EITH = "EITH"
    ALT = "ALT"
    POSITIVE = "POS"
    NEGATIVE = "NEG"
    EITHER = "EITH"


class TriggerSweep(enum.Enum):
    """Trigger sweep (``:TRIGger:SWEep``): NORM waits for a real trigger, AUTO free-runs without one."""

    AUTO = "AUTO"
    NORM = "NORM"
    NORMAL = "NORM"


@dataclass(frozen=True)
class Preamble:
    """The 10 fields of ``:WAVeform:PREamble?`` (format 1 = WORD; type 0 NORM, 1 PEAK, 2 AVER, 3 HRES)."""

    format: int
    type: int
    points: int
    count: int
    xincrement: float
    xorigin: float
    xreference: float
    yincrement: float
    yorigin: float
    yreference: float


@dataclass(frozen=True, eq=False)
class Waveform:
    """One transferred record: sample times (s, from the trigger), volts (V) and a clipping mask.

    ``clipped`` is True for samples at an ADC rail (WORD codes 0 or 65535): their voltage is only
    a bound, never a measurement (see the module docstring). The arrays are read-only.
    """

    times: np.ndarray
    volts: np.ndarray
    clipped: np.ndarray

    def __post_init__(self) -> None:
        for name in ("times", "volts", "clipped"):
            array = np.asarray(getattr(self, name))
            array.flags.writeable = False
            object.__setattr__(self, name, array)
        if not (self.times.shape == self.volts.shape == self.clipped.shape):
            raise ValueError(f"times {self.times.shape}, volts {self.volts.shape} and clipped "
                             f"{self.clipped.shape} must have one shape")

    @property
    def time_q(self) -> pint.Quantity:
        """The sample times as a pint quantity (s)."""
        return Q_(self.times, "s")

    @property
    def volts_q(self) -> pint.Quantity:
        """The samples as a pint quantity (V)."""
        return Q_(self.volts, "V")

    @property
    def any_clipped(self) -> bool:
        """Whether any sample sits at an ADC rail (choose a larger V/div or another offset)."""
        return bool(self.clipped.any())


def parse_preamble(reply: str) -> Preamble:
    """Parse a ``:WAVeform:PREamble?`` reply; ``ProtocolError`` unless it holds 10 numbers."""
    fields = [f.strip() for f in reply.strip().split(",")]
    if len(fields) != 10:
        raise ProtocolError(f":WAV:PRE? answered {reply!r}: expected 10 comma-separated fields, got {len(fields)}")
    try:
        ints = [int(float(f)) for f in fields[:4]]
        floats = [float(f) for f in fields[4:]]
    except ValueError:
        raise ProtocolError(f":WAV:PRE? answered {reply!r}: not 10 numbers") from None
    preamble = Preamble(*ints, *floats)  # type: ignore[arg-type]
    if not all(math.isfinite(v) for v in floats) or preamble.xincrement <= 0 or preamble.yincrement <= 0:
        raise ProtocolError(f":WAV:PRE? answered {reply!r}: increments must be positive and finite")
    return preamble


def _block_payload(raw: bytes, command: str) -> bytes:
    """The payload of a complete IEEE 488.2 definite-length block (``#<n><length><bytes>``)."""
    if len(raw) < 2 or raw[:1] != b"#" or not raw[1:2].isdigit() or raw[1:2] == b"0":
        raise ProtocolError(f"reply to {command!r} is not a definite-length block: {raw[:20]!r}")
    digits = raw[1] - 0x30
    header = raw[2:2 + digits]
    if len(header) != digits or not header.isdigit():
        raise ProtocolError(f"reply to {command!r} has a malformed block header {raw[:2 + digits]!r}")
    length = int(header)
    payload = raw[2 + digits:2 + digits + length]
    if len(payload) != length:
        raise ProtocolError(f"reply to {command!r}: block announced {length} bytes, got {len(payload)}")
    if raw[2 + digits + length:].strip():
        raise ProtocolError(f"reply to {command!r}: unexpected bytes after the block")
    return payload


def decode_word_block(payload: bytes, preamble: Preamble) -> Waveform:
    """Scale unsigned little-endian WORD samples with the preamble into a ``Waveform``."""
    if preamble.format != 1:
        raise ProtocolError(f"preamble says format {preamble.format}, but WORD (1) was requested")
    if len(payload) % 2:
        raise ProtocolError(f"WORD block of {len(payload)} bytes is not a whole number of samples")
    codes = np.frombuffer(payload, dtype="<u2")
    if codes.size != preamble.points:
        raise ProtocolError(f"block holds {codes.size} samples but the preamble announced {preamble.points}")
    index = np.arange(codes.size, dtype=float)
    times = (index - preamble.xreference) * preamble.xincrement + preamble.xorigin
    volts = (codes.astype(float) - preamble.yreference) * preamble.yincrement + preamble.yorigin
    clipped = (codes == CODE_MIN) | (codes == CODE_MAX)
    return Waveform(times, volts, clipped)


class KeysightInfiniiVisionChannel(Channel):
    """One analog input (1..4). Offset is the voltage at the centre of the screen."""

    parent: KeysightInfiniiVision

    scale = control(
        ":CHAN{ch}:SCAL?", ":CHAN{ch}:SCAL {value:.6g}",
        "Control the vertical scale (V/div); the screen spans 8 divisions around the offset.",
        unit="V", limits=(1e-3, 5.0))
    offset = control(
        ":CHAN{ch}:OFFS?", ":CHAN{ch}:OFFS {value:.6g}",
        "Control the vertical offset: the voltage at the centre of the screen (V).",
        unit="V", limits=(-50.0, 50.0))
    display = control(
        ":CHAN{ch}:DISP?", ":CHAN{ch}:DISP {value}",
        "Control whether the channel is on (True/False).", values={True: 1, False: 0}, cast=int)
    impedance = control(
        ":CHAN{ch}:IMP?", ":CHAN{ch}:IMP {value}",
        "Control the input impedance (``Impedance``: FIFT for 50 ohm photodiodes, ONEM).",
        values=Impedance, cast=str)


class KeysightInfiniiVision(SCPIInstrument):
    """Keysight InfiniiVision 3000T / 4000X oscilloscope (channels ``ch1``..``ch4``).

    Typical use on the bench: photodiodes on ch1 (output monitor) and ch2 (interferometer), the
    pattern clock on the external trigger, then ``scope.acquire([1, 2], averages=64,
    window_start=0, window_duration=80e-9)`` for one averaged pattern per channel.
    """

    interface: ClassVar[str] = "visa"
    default_settings: ClassVar[dict[str, Any]] = {
        "timeout": 10.0, "write_termination": "\n", "read_termination": "\n"}
    channel_classes: ClassVar[tuple[type, ...]] = (KeysightInfiniiVisionChannel,)
    #: How long ``digitize`` waits for the acquisition by default (s); averaging many slow
    #: triggers takes a while.
    digitize_timeout: ClassVar[float] = 60.0

    timebase_scale = control(
        ":TIM:SCAL?", ":TIM:SCAL {value:.6g}",
        "Control the horizontal scale (s/div); the record spans 10 divisions.",
        unit="s", limits=(200e-12, 50.0))
    timebase_position = control(
        ":TIM:POS?", ":TIM:POS {value:.6g}",
        "Control the time from the trigger to the reference point (s).", unit="s", limits=(-500.0, 500.0))
    timebase_reference = control(
        ":TIM:REF?", ":TIM:REF {value}",
        "Control where the reference point sits (``TimebaseReference``: LEFT, one division in; "
        "CENT; RIGH, one division from the right).", values=TimebaseReference, cast=str)
    acquire_type = control(
        ":ACQ:TYPE?", ":ACQ:TYPE {value}",
        "Control the acquisition type (``AcquireType``: NORM, AVER, HRES, PEAK).", values=AcquireType, cast=str)
    acquire_count = control(
        ":ACQ:COUN?", ":ACQ:COUN {value:d}",
        "Control how many triggered records AVER averages (2..65536).", cast=int, limits=(2, 65536))
    trigger_source = control(
        ":TRIG:EDGE:SOUR?", ":TRIG:EDGE:SOUR {value}",
        "Control the edge-trigger source (``TriggerSource``; EXT = the pattern clock).",
        values=TriggerSource, cast=str)
    trigger_level = control(
        ":TRIG:EDGE:LEV?", ":TRIG:EDGE:LEV {value:.6g}",
        "Control the edge-trigger level of the selected source (V).", unit="V", limits=(-50.0, 50.0))
    trigger_slope = control(
        ":TRIG:EDGE:SLOP?", ":TRIG:EDGE:SLOP {value}",
        "Control the edge-trigger slope (``TriggerSlope``: POS, NEG, EITH, ALT).", values=TriggerSlope, cast=str)
    trigger_sweep = control(
        ":TRIG:SWE?", ":TRIG:SWE {value}",
        "Control the sweep (``TriggerSweep``): NORM waits for the trigger, AUTO free-runs without one.",
        values=TriggerSweep, cast=str)

    def __init__(self, resource: str | Transport, name: str | None = None, *, model: str | None = None,
                 **kwargs: Any) -> None:
        """``model`` ("DSOX1102G") sets the channel count and largest transfer; without it they come
        from ``*IDN?`` once ``identify()`` has run (every scan's bench record calls it first)."""
        self.spec = scope_spec(model) if model is not None else None
        super().__init__(resource, name, **kwargs)
        self.ch1 = KeysightInfiniiVisionChannel(self, 1)
        self.ch2 = KeysightInfiniiVisionChannel(self, 2)
        self.ch3 = KeysightInfiniiVisionChannel(self, 3)
        self.ch4 = KeysightInfiniiVisionChannel(self, 4)

    @property
    def channels(self) -> list[KeysightInfiniiVisionChannel]:
        """The analog inputs: four, or as many as the known model has."""
        inputs = [self.ch1, self.ch2, self.ch3, self.ch4]
        return inputs[: self.spec.channels] if self.spec is not None else inputs

    def channel(self, channel: int | KeysightInfiniiVisionChannel) -> KeysightInfiniiVisionChannel:
        """The channel object for 1..4 (1..2 on a two-channel model), or a channel object itself."""
        count = len(self.channels)
        number = channel.id if isinstance(channel, KeysightInfiniiVisionChannel) else channel
        if isinstance(number, (int, np.integer)) and not isinstance(number, bool) and 1 <= number <= count:
            return self.channels[int(number) - 1]
        raise SettingRangeError(f"{self.name}: channel {channel!r} does not exist; use 1..{count}")

    def identify(self) -> Identity:
        """``*IDN?``; the model it names sets the channel count and largest transfer if not given."""
        identity = super().identify()
        if self.spec is None:
            self.spec = scope_spec(identity.model)
        return identity

    # -- acquisition ------------------------------------------------------------------------------
    def digitize(self, channels: Iterable[int], timeout: float | None = None) -> None:
        """Acquire once (averaged in AVER mode) on ``channels`` and wait until it is complete.

        ``:DIGitize CHAN1,CHAN2`` then ``*OPC?`` (the scope answers when the acquisition is done;
        ``timeout`` s, default ``digitize_timeout``, covers averaging slow triggers) and an
        error-queue check. Afterwards the acquisition is stopped, so the records stay put for
        ``read_waveform``.
        """
        ids = [self.channel(ch).id for ch in channels]
        if not ids:
            raise SettingRangeError(f"{self.name}: digitize needs at least one channel; nothing was sent")
        command = ":DIG " + ",".join(f"CHAN{ch}" for ch in ids)
        with self.transaction():
            self.write(command)
            previous = self.transport.timeout
            self.transport.timeout = max(previous, self.digitize_timeout if timeout is None else float(timeout))
            try:
                self.wait_complete()
            finally:
                self.transport.timeout = previous
            if self.check_errors_on_set:
                self.check_errors(command)

    def read_waveform(self, channel: int, points: int | None = None) -> Waveform:
        """Transfer the last acquired record of ``channel`` as a ``Waveform`` (s, V, clipping mask).

        Sends ``:WAV:SOUR CHAN<n>``, ``:WAV:FORM WORD``, ``:WAV:BYT LSBF``, ``:WAV:UNS 1``,
        ``:WAV:POIN:MODE NORM`` (the mode every acquisition type supports) and, with ``points``,
        ``:WAV:POIN <points>`` (100..8,000,000; the scope may return fewer: the preamble says how
        many), checks the error queue, then reads ``:WAV:PRE?`` and the ``:WAV:DATA?`` block,
        all under one lock so no other thread can change the source in between.
        """
        ch = self.channel(channel)
        self._check_points(points)
        setup = [f":WAV:SOUR CHAN{ch.id}", ":WAV:FORM WORD", ":WAV:BYT LSBF", ":WAV:UNS 1", ":WAV:POIN:MODE NORM"]
        if points is not None:
            setup.append(f":WAV:POIN {int(points)}")
        with self.transaction():
            for command in setup:
                self.write(command)
            if self.check_errors_on_set:
                self.check_errors(";".join(setup))
            preamble = parse_preamble(self.ask(":WAV:PRE?"))
            payload = self.query_block(":WAV:DATA?")
        return decode_word_block(payload, preamble)

    def acquire(self, channels: Iterable[int], *, averages: int = 1, window_start: Any = 0.0,
                window_duration: Any, points: int | None = None) -> dict[int, Waveform]:
        """Set the window and averaging, digitize ``channels`` and read them: {channel: Waveform}.

        The screen is made to start at ``window_start`` (s after the trigger) and to span
        ``window_duration`` (s): scale = duration / 10, reference LEFT (one division in from the
        left edge, so position = window_start + one division). ``averages`` > 1 selects AVER with
        that count, 1 selects NORM. Everything is validated before anything is sent.
        """
        ids = [self.channel(ch).id for ch in channels]
        start = _seconds(window_start, "window_start", self.name)
        duration = _seconds(window_duration, "window_duration", self.name)
        if duration <= 0:
            raise SettingRangeError(f"{self.name}: window_duration must be positive; nothing was sent")
        scale = duration / SCREEN_DIVISIONS
        position = start + _REFERENCE_DIVISIONS["LEFT"] * scale
        cls = type(self)
        Control.to_native(cls.timebase_scale, self, scale)
        Control.to_native(cls.timebase_position, self, position)
        if isinstance(averages, bool) or not float(averages).is_integer() or not 1 <= averages <= 65536:
            raise SettingRangeError(f"{self.name}: averages={averages!r} must be a whole number in 1..65536; "
                                    "nothing was sent")
        self._check_points(points)
        if not ids:
            raise SettingRangeError(f"{self.name}: acquire needs at least one channel; nothing was sent")
        with self.transaction():
            self.timebase_reference = TimebaseReference.LEFT
            self.timebase_scale = scale
            self.timebase_position = position
            if averages > 1:
                self.acquire_count = int(averages)
                self.acquire_type = AcquireType.AVER
            else:
                self.acquire_type = AcquireType.NORM
            self.digitize(ids)
            return {ch: self.read_waveform(ch, points) for ch in ids}

    def _check_points(self, points: int | None) -> None:
        """Refuse a points request the instrument would refuse (-222), before anything is sent."""
        if points is None:
            return
        top = self.spec.max_points if self.spec is not None else MAX_POINTS
        if (isinstance(points, bool) or not isinstance(points, (int, float, np.integer))
                or not float(points).is_integer() or not MIN_POINTS <= points <= top):
            raise SettingRangeError(f"{self.name}: points={points!r} must be a whole number in "
                                    f"{MIN_POINTS}..{top}; nothing was sent")

    # -- binary transfer ---------------------------------------------------------------------------
    def query_block(self, command: str) -> bytes:
        """Send a query and return its IEEE 488.2 definite-length block payload (bytes).

        Read through the transport's message reads: a VISA library reading with the termination
        character enabled stops at a 0x0A *data* byte, so pieces are joined (with the stripped
        terminator put back) until the announced length has arrived. With recovery: a timed-out
        transfer is asked again.
        """
        transport = self.transport

        def exchange() -> bytes:
            with transport.lock:
                transport.write(command)
                raw = transport.read().encode("latin-1")  # read() decodes bytes 1:1 (ascii or latin-1)
                expected = _block_length(raw)
                term = transport.read_termination.encode("latin-1")
                while expected is not None and len(raw) < expected:
                    raw += term + transport.read().encode("latin-1")
                return raw

        raw = self._with_recovery(exchange, command)
        return _block_payload(raw, command)


def _block_length(raw: bytes) -> int | None:
    """Total length (header + payload) a block announces, or None if ``raw`` is not a block header."""
    match = re.match(rb"#([1-9])", raw)
    if not match:
        return None
    digits = int(match.group(1))
    header = raw[2:2 + digits]
    if len(header) != digits or not header.isdigit():
        return None
    return 2 + digits + int(header)


def _seconds(value: Any, what: str, name: str) -> float:
    try:
        return to_si(value, "s")
    except (pint.DimensionalityError, pint.UndefinedUnitError, ValueError, TypeError) as exc:
        raise SettingRangeError(f"{name}: {what}={value!r} is not a time ({exc}); nothing was sent") from None
