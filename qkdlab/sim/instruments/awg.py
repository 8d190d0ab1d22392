"""Emulator of a Keysight 33500B / 33600A Trueform waveform generator (two channels).

It speaks the SCPI subset ``qkdlab.drivers.awg`` uses (long and short forms), keeps the state of
each channel, and writes the physical output into ``model.awg[ch]`` (ch1 drives the intensity
modulator, ch2 the phase modulator) whenever it changes, so the rest of the bench sees it.

Behaviour copied from the instrument (see the driver's docstring for the sources; [unverified]
where the guide was not at hand):

- amplitude/offset ranges follow the load setting (1 mVpp..10 Vpp and |offset| + Vpp/2 <= 5 V into
  50 ohm, doubled into high Z); changing the load rescales the *displayed* amplitude and offset
  while the physical output stays the same;
- ``VOLT:UNIT VPP|VRMS|DBM`` changes the unit amplitudes are given and read in (VRMS/dBm only for
  sine, square, triangle and ramp; dBm not into high Z);
- ``FORM:BORD NORM`` (default, big-endian) or ``SWAP`` (little-endian) sets the byte order of
  binary blocks; ``DATA:ARB:DAC`` takes int16 codes (-32767..32767), ``DATA:ARB`` float32
  (-1..1), both also as comma-separated ASCII;
- waveforms live in a per-channel volatile catalogue (``DATA:VOL:CAT?``, ``DATA:VOL:CLE``);
  after a clear, or at power-on, the channel plays the built-in ``EXP_RISE`` waveform.

Pattern timing (issue 20) [the instrument's behaviour as the Trueform guide describes it, from
memory; the numbers are this emulator's model]:

- ``FUNC:ARB:FILT NORM|STEP|OFF`` (power-on NORMal) is published to the model, whose pulse
  train lets the NORMal filter's band-limited interpolation ring into the inter-pulse time
  (``qkdlab.sim.physics.ARB_FILTER_RINGING``); STEP and OFF do not;
- the two channels' arbs run from independent starts: after any change of either channel's
  pattern, sample rate, function or output, while both play arbs, channel 2 runs a fixed number
  of samples (option ``unsync_skew``, default 3) behind channel 1 until ``FUNC:ARB:SYNC`` restarts
  them together; the model sees that offset (``AwgChannel.pattern_offset``) and ``synchronized``
  says which state holds, so unsynchronised playback is visible to a test;
- ``OUTP:SYNC``, ``OUTP:SYNC:SOUR``, ``OUTP:SYNC:MODE``, ``SOUR:MARK:POIN``, ``ROSC:SOUR`` and
  ``TRIG:SLOP`` keep their settings (no physics);
- one-channel models (33509B, 33511B, 33519B, 33521B, 33611A, 33621A) answer -114 for channel 2.

Emulator policies where the real instrument's exact reaction is unknown [unverified]: an amplitude
or offset that breaks the |offset| + Vpp/2 envelope is refused with -221 "Settings conflict"
(the instrument may instead adjust the other value); uploading a name that already exists is
refused with -221; an unknown waveform name, fewer than 8 points or a bad name give -224; more
points than the memory holds give -223 "Too much data"; the built-in EXP_RISE shape is an
approximation (1 - exp(-5t), scaled to -1..1).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..physics import AwgChannel
from .base import ScpiArgumentError, ScpiEmulator, parse_bool, parse_ieee_block, parse_number, scpi

__all__ = ["Keysight33500BEmulator"]

_REFERENCE_LOAD = 50.0
_FULL_SCALE = 32767
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,11}$")
_BUILTIN_PATH = "INT:\\BUILTIN\\EXP_RISE.ARB"
_BUILTINS = {"EXP_RISE": _BUILTIN_PATH.upper(), _BUILTIN_PATH.upper(): _BUILTIN_PATH.upper()}

#: model -> (sine max Hz, ramp max Hz, max sample rate Sa/s, arbitrary memory points)
_MODELS: dict[str, tuple[float, float, float, int]] = {
    "33509B": (20e6, 200e3, 160e6, 1_000_000), "33510B": (20e6, 200e3, 160e6, 1_000_000),
    "33511B": (20e6, 200e3, 160e6, 1_000_000), "33512B": (20e6, 200e3, 160e6, 1_000_000),
    "33519B": (30e6, 200e3, 250e6, 1_000_000), "33520B": (30e6, 200e3, 250e6, 1_000_000),
    "33521B": (30e6, 200e3, 250e6, 1_000_000), "33522B": (30e6, 200e3, 250e6, 1_000_000),
    "33611A": (80e6, 800e3, 660e6, 4_000_000), "33612A": (80e6, 800e3, 660e6, 4_000_000),
    "33621A": (120e6, 800e3, 1e9, 4_000_000), "33622A": (120e6, 800e3, 1e9, 4_000_000),
}
#: Vpp -> Vrms divisors of the functions whose RMS value the instrument can display.
_CREST = {"SIN": 2.0 * math.sqrt(2.0), "SQU": 2.0, "TRI": 2.0 * math.sqrt(3.0), "RAMP": 2.0 * math.sqrt(3.0)}
_FUNCTIONS = {"SIN": "SIN", "SINUSOID": "SIN", "SQU": "SQU", "SQUARE": "SQU", "TRI": "TRI", "TRIANGLE": "TRI",
              "RAMP": "RAMP",
              "PULS": "PULS", "PULSE": "PULS", "PRBS": "PRBS", "NOIS": "NOIS", "NOISE": "NOIS", "DC": "DC",
              "ARB": "ARB", "ARBITRARY": "ARB"}
_ONE_CHANNEL = ("33509B", "33511B", "33519B", "33521B", "33611A", "33621A")
_FILTERS = {"NORM": "NORM", "NORMAL": "NORM", "STEP": "STEP", "OFF": "OFF"}
_BURST_MODES = {"TRIG": "TRIG", "TRIGGERED": "TRIG", "GAT": "GAT", "GATED": "GAT"}
_TRIGGER_SOURCES = {"IMM": "IMM", "IMMEDIATE": "IMM", "EXT": "EXT", "EXTERNAL": "EXT", "BUS": "BUS",
                    "TIM": "TIM", "TIMER": "TIM"}


def _exp_rise() -> np.ndarray:
    t = np.linspace(0.0, 1.0, 1000)
    rise = (1.0 - np.exp(-5.0 * t)) / (1.0 - math.exp(-5.0))
    return np.rint((2.0 * rise - 1.0) * _FULL_SCALE).astype(np.int16)


def _fmt(value: float) -> str:
    """Numbers as the 33500B prints them: ``+1.000000000000000E+03``; infinity as 9.9E+37."""
    return f"{9.9e37 if math.isinf(value) else value:+.15E}"


def _load_scale(load: float) -> float:
    return 2.0 if math.isinf(load) else 2.0 * load / (load + _REFERENCE_LOAD)


@dataclass
class _Waveform:
    name: str
    codes: np.ndarray                      # int16 DAC codes as received
    _normalised: np.ndarray | None = None

    @property
    def normalised(self) -> np.ndarray:
        """Samples in [-1, 1], computed once (the physics model reads this array)."""
        if self._normalised is None:
            self._normalised = self.codes.astype(np.float64) / _FULL_SCALE
            self._normalised.setflags(write=False)
        return self._normalised


@dataclass
class _Channel:
    function: str = "SIN"
    frequency: float = 1e3
    amplitude_vpp: float = 0.1
    offset: float = 0.0
    load: float = 50.0
    output: bool = False
    unit: str = "VPP"
    arb: str = _BUILTIN_PATH.upper()       # key into the catalogue or the built-ins
    sample_rate: float = 40e3
    burst_state: bool = False
    burst_mode: str = "TRIG"
    burst_cycles: float = 1.0
    trigger_source: str = "IMM"
    trigger_slope: str = "POS"
    arb_filter: str = "NORM"
    marker_point: int = 0
    triggers: int = 0
    volatile: dict[str, _Waveform] = field(default_factory=dict)   # upper-case name -> waveform


class Keysight33500BEmulator(ScpiEmulator):
    """A simulated 33622A (default) or other 33500B/33600A model; options ``model_number``, ``serial``.

    Arbitrary memory per channel defaults to the model's standard memory; ``memory_points``
    overrides it.
    """

    idn: ClassVar[str] = "Keysight Technologies,33622A,MY00000001,A.02.03-3.15-03.64-52-00"

    def __init__(self, model: Any, name: str, **options: Any) -> None:
        self.model_number = str(options.get("model_number", "33622A")).upper()
        if self.model_number not in _MODELS:
            raise ValueError(f"{name}: unknown 33500B/33600A model {self.model_number!r}; known: {sorted(_MODELS)}")
        serial = options.get("serial", "MY00000001")
        self.idn = f"Keysight Technologies,{self.model_number},{serial},A.02.03-3.15-03.64-52-00"
        sine_max, ramp_max, rate_max, memory = _MODELS[self.model_number]
        self.max_frequency = sine_max
        self.max_ramp_frequency = ramp_max
        self.max_sample_rate = rate_max
        self.memory_points = int(options.get("memory_points", memory))
        self.channel_count = 1 if self.model_number in _ONE_CHANNEL else 2
        self.unsync_skew = int(options.get("unsync_skew", 3))
        self._builtin = _Waveform("EXP_RISE", _exp_rise())
        super().__init__(model, name, **options)

    def reset(self) -> None:
        """Power-on/``*RST`` settings; volatile waveforms survive ``*RST`` (not a power cycle)."""
        old = getattr(self, "channels", None)
        self.channels = {ch: _Channel() for ch in range(1, self.channel_count + 1)}
        if old:
            for ch in self.channels:
                self.channels[ch].volatile = old[ch].volatile
        self.byte_order = "NORM"
        self.synchronized = False
        self.sync_output = False
        self.sync_source = "CH1"
        self.sync_mode = "NORM"
        self.reference = "INT"
        for ch in self.channels:
            self._publish(ch)

    # -- helpers ---------------------------------------------------------------------------------
    def _ch(self, ch: int) -> _Channel:
        try:
            return self.channels[ch]
        except KeyError:
            raise ScpiArgumentError(f"channel {ch} does not exist", code=-114) from None

    def _selected(self, state: _Channel) -> _Waveform:
        return state.volatile.get(state.arb) or self._builtin

    def _publish(self, ch: int, *, pattern_changed: bool = True) -> None:
        """Write channel ``ch``'s physical output into the shared model.

        A change of what a channel plays ends the synchronisation of the two arbs (see the module
        docstring); channel 2 then runs ``unsync_skew`` samples behind while both play arbs.
        """
        if pattern_changed:
            self.synchronized = False
        state = self.channels[ch]
        wave = self._selected(state).normalised
        both = all(c.function == "ARB" and c.output for c in self.channels.values()) and len(self.channels) == 2
        with self.model.lock:
            if len(self.channels) == 2:
                self.model.awg[2].pattern_offset = 0 if (self.synchronized or not both) else self.unsync_skew
            self.model.awg[ch].arb_filter = state.arb_filter
            out: AwgChannel = self.model.awg[ch]
            out.output = state.output
            out.function = state.function
            out.frequency_hz = state.frequency
            out.amplitude_vpp = state.amplitude_vpp
            out.offset_v = state.offset
            out.load_ohm = state.load
            out.arb_waveform = wave
            out.arb_sample_rate = state.sample_rate

    def _envelope(self, state: _Channel, amplitude: float, offset: float) -> None:
        limit = 5.0 * _load_scale(state.load)
        if abs(offset) + amplitude / 2.0 > limit * (1 + 1e-12):
            raise ScpiArgumentError(
                f"|offset| + amplitude/2 = {abs(offset) + amplitude / 2.0:g} V exceeds {limit:g} V", code=-221)

    def _to_vpp(self, state: _Channel, value: float) -> float:
        if state.unit == "VPP":
            return value
        crest = _CREST[state.function]
        if state.unit == "VRMS":
            return value * crest
        watts = 1e-3 * 10.0 ** (value / 10.0)
        return math.sqrt(watts * state.load) * crest

    def _from_vpp(self, state: _Channel, vpp: float) -> float:
        if state.unit == "VPP":
            return vpp
        vrms = vpp / _CREST[state.function]
        if state.unit == "VRMS":
            return vrms
        return 10.0 * math.log10(vrms**2 / state.load / 1e-3)

    def _unit_possible(self, state: _Channel, unit: str) -> bool:
        if unit == "VPP":
            return True
        if state.function not in _CREST:
            return False
        return not (unit == "DBM" and math.isinf(state.load))

    # -- function and frequency -------------------------------------------------------------------
    @scpi("[SOURce{ch}:]FUNCtion[:SHAPe]")
    def _function(self, args: str, ch: int) -> None:
        state = self._ch(ch)
        key = args.strip().upper()
        if key not in _FUNCTIONS:
            raise ScpiArgumentError(f"unknown function {args!r}", code=-224)
        state.function = _FUNCTIONS[key]
        if not self._unit_possible(state, state.unit):
            state.unit = "VPP"
            self.push_error(-221, "Settings conflict; amplitude unit set to VPP")
        if state.function in ("RAMP", "TRI") and state.frequency > self.max_ramp_frequency:
            state.frequency = self.max_ramp_frequency
            self.push_error(-221, "Settings conflict; frequency reduced to the ramp maximum")
        self._publish(ch)

    @scpi("[SOURce{ch}:]FUNCtion[:SHAPe]?")
    def _function_q(self, args: str, ch: int) -> str:
        return self._ch(ch).function

    @scpi("[SOURce{ch}:]FREQuency[:FIXed]")
    def _frequency(self, args: str, ch: int) -> None:
        state = self._ch(ch)
        top = self.max_ramp_frequency if state.function in ("RAMP", "TRI") else self.max_frequency
        value = parse_number(args, minimum=1e-6, maximum=top, default=1e3, units=("HZ",))
        state.frequency = self.check_range("frequency", value, 1e-6, top)
        self._publish(ch)

    @scpi("[SOURce{ch}:]FREQuency[:FIXed]?")
    def _frequency_q(self, args: str, ch: int) -> str:
        return _fmt(self._ch(ch).frequency)

    # -- voltages -------------------------------------------------------------------------------------
    @scpi("[SOURce{ch}:]VOLTage[:LEVel][:IMMediate][:AMPLitude]")
    def _amplitude(self, args: str, ch: int) -> None:
        state = self._ch(ch)
        scale = _load_scale(state.load)
        lo, hi = 1e-3 * scale, 10.0 * scale
        text = args.strip().upper()
        if text in ("MIN", "MINIMUM", "MAX", "MAXIMUM", "DEF", "DEFAULT"):
            vpp = parse_number(text, minimum=lo, maximum=hi, default=0.1)
        else:
            value = parse_number(args, units=("V", "VPP", "VRMS", "DBM"))
            vpp = self._to_vpp(state, value)
        self.check_range("amplitude", vpp, lo * (1 - 1e-12), hi * (1 + 1e-12))
        self._envelope(state, vpp, state.offset)
        state.amplitude_vpp = vpp
        self._publish(ch)

    @scpi("[SOURce{ch}:]VOLTage[:LEVel][:IMMediate][:AMPLitude]?")
    def _amplitude_q(self, args: str, ch: int) -> str:
        state = self._ch(ch)
        return _fmt(self._from_vpp(state, state.amplitude_vpp))

    @scpi("[SOURce{ch}:]VOLTage[:LEVel][:IMMediate]:OFFSet")
    def _offset(self, args: str, ch: int) -> None:
        state = self._ch(ch)
        limit = 5.0 * _load_scale(state.load)
        value = parse_number(args, minimum=-limit, maximum=limit, default=0.0, units=("V",))
        self.check_range("offset", value, -limit * (1 + 1e-12), limit * (1 + 1e-12))
        self._envelope(state, state.amplitude_vpp, value)
        state.offset = value
        self._publish(ch)

    @scpi("[SOURce{ch}:]VOLTage[:LEVel][:IMMediate]:OFFSet?")
    def _offset_q(self, args: str, ch: int) -> str:
        return _fmt(self._ch(ch).offset)

    @scpi("[SOURce{ch}:]VOLTage:UNIT")
    def _unit(self, args: str, ch: int) -> None:
        state = self._ch(ch)
        unit = args.strip().upper()
        if unit not in ("VPP", "VRMS", "DBM"):
            raise ScpiArgumentError(f"unknown amplitude unit {args!r}", code=-224)
        if not self._unit_possible(state, unit):
            raise ScpiArgumentError(f"{unit} is not available for {state.function} into this load", code=-221)
        state.unit = unit

    @scpi("[SOURce{ch}:]VOLTage:UNIT?")
    def _unit_q(self, args: str, ch: int) -> str:
        return self._ch(ch).unit

    # -- output ------------------------------------------------------------------------------------------
    @scpi("OUTPut{ch}[:STATe]")
    def _output(self, args: str, ch: int) -> None:
        self._ch(ch).output = parse_bool(args)
        self._publish(ch)

    @scpi("OUTPut{ch}[:STATe]?")
    def _output_q(self, args: str, ch: int) -> str:
        return "1" if self._ch(ch).output else "0"

    @scpi("OUTPut{ch}:LOAD")
    def _load(self, args: str, ch: int) -> None:
        state = self._ch(ch)
        text = args.strip().upper()
        if text in ("INF", "INFINITY"):
            load = math.inf
        else:
            load = self.check_range("load", parse_number(args, minimum=1.0, maximum=10e3, default=50.0,
                                                         units=("OHM",)), 1.0, 10e3)
        # The physical output stays the same; the displayed voltages follow the new load.
        factor = _load_scale(load) / _load_scale(state.load)
        state.load = load
        state.amplitude_vpp *= factor
        state.offset *= factor
        if not self._unit_possible(state, state.unit):
            state.unit = "VPP"
        self._publish(ch)

    @scpi("OUTPut{ch}:LOAD?")
    def _load_q(self, args: str, ch: int) -> str:
        return _fmt(self._ch(ch).load)

    # -- arbitrary waveforms -----------------------------------------------------------------------------
    @scpi("FORMat:BORDer")
    def _border(self, args: str) -> None:
        order = args.strip().upper()
        if order in ("NORM", "NORMAL"):
            self.byte_order = "NORM"
        elif order in ("SWAP", "SWAPPED"):
            self.byte_order = "SWAP"
        else:
            raise ScpiArgumentError(f"byte order {args!r} is not NORM or SWAP", code=-224)

    @scpi("FORMat:BORDer?")
    def _border_q(self, args: str) -> str:
        return self.byte_order

    @scpi("[SOURce{ch}:]FUNCtion:ARBitrary")
    def _select_arb(self, args: str, ch: int) -> None:
        state = self._ch(ch)
        key = args.strip().strip('"').upper()
        if key in state.volatile:
            state.arb = key
        elif key in _BUILTINS:
            state.arb = _BUILTINS[key]
        else:
            raise ScpiArgumentError(f"arb waveform {args.strip()!r} is not in channel {ch}'s memory", code=-224)
        self._publish(ch)

    @scpi("[SOURce{ch}:]FUNCtion:ARBitrary?")
    def _select_arb_q(self, args: str, ch: int) -> str:
        state = self._ch(ch)
        wave = state.volatile.get(state.arb)
        return f'"{wave.name if wave is not None else _BUILTIN_PATH}"'

    @scpi("[SOURce{ch}:]FUNCtion:ARBitrary:FILTer")
    def _filter(self, args: str, ch: int) -> None:
        key = args.strip().upper()
        if key not in _FILTERS:
            raise ScpiArgumentError(f"unknown arb filter {args!r}", code=-224)
        self._ch(ch).arb_filter = _FILTERS[key]
        self._publish(ch, pattern_changed=False)

    @scpi("[SOURce{ch}:]FUNCtion:ARBitrary:FILTer?")
    def _filter_q(self, args: str, ch: int) -> str:
        return self._ch(ch).arb_filter

    @scpi("[SOURce{ch}:]FUNCtion:ARBitrary:SYNChronize")
    def _sync(self, args: str, ch: int) -> None:
        """Restart both channels' arbs at their first sample together."""
        self.synchronized = True
        for number in self.channels:
            self._publish(number, pattern_changed=False)

    @scpi("[SOURce{ch}:]MARKer:POINt")
    def _marker(self, args: str, ch: int) -> None:
        self._ch(ch).marker_point = int(self.check_range("marker point", parse_number(args), 0, self.memory_points))

    @scpi("[SOURce{ch}:]MARKer:POINt?")
    def _marker_q(self, args: str, ch: int) -> str:
        return str(self._ch(ch).marker_point)

    @scpi("OUTPut:SYNC[:STATe]")
    def _sync_output(self, args: str) -> None:
        self.sync_output = parse_bool(args)

    @scpi("OUTPut:SYNC[:STATe]?")
    def _sync_output_q(self, args: str) -> str:
        return "1" if self.sync_output else "0"

    @scpi("OUTPut:SYNC:SOURce")
    def _sync_source(self, args: str) -> None:
        key = args.strip().upper()
        if key not in ("CH1", "CH2") or int(key[-1]) not in self.channels:
            raise ScpiArgumentError(f"sync source {args!r}", code=-224)
        self.sync_source = key

    @scpi("OUTPut:SYNC:SOURce?")
    def _sync_source_q(self, args: str) -> str:
        return self.sync_source

    @scpi("OUTPut:SYNC:MODE")
    def _sync_mode(self, args: str) -> None:
        key = args.strip().upper()[:4]
        if key not in ("NORM", "CARR", "MARK"):
            raise ScpiArgumentError(f"sync mode {args!r}", code=-224)
        self.sync_mode = key

    @scpi("OUTPut:SYNC:MODE?")
    def _sync_mode_q(self, args: str) -> str:
        return self.sync_mode

    @scpi("ROSCillator:SOURce")
    def _reference(self, args: str) -> None:
        key = args.strip().upper()[:3]
        if key not in ("INT", "EXT"):
            raise ScpiArgumentError(f"reference source {args!r}", code=-224)
        self.reference = key

    @scpi("ROSCillator:SOURce?")
    def _reference_q(self, args: str) -> str:
        return self.reference

    @scpi("TRIGger{ch}:SLOPe")
    def _slope(self, args: str, ch: int) -> None:
        key = args.strip().upper()[:3]
        if key not in ("POS", "NEG"):
            raise ScpiArgumentError(f"trigger slope {args!r}", code=-224)
        self._ch(ch).trigger_slope = key

    @scpi("TRIGger{ch}:SLOPe?")
    def _slope_q(self, args: str, ch: int) -> str:
        return self._ch(ch).trigger_slope

    @scpi("[SOURce{ch}:]FUNCtion:ARBitrary:SRATe")
    def _srate(self, args: str, ch: int) -> None:
        state = self._ch(ch)
        value = parse_number(args, minimum=1e-6, maximum=self.max_sample_rate, default=40e3, units=("HZ",))
        state.sample_rate = self.check_range("sample rate", value, 1e-6, self.max_sample_rate)
        self._publish(ch)

    @scpi("[SOURce{ch}:]FUNCtion:ARBitrary:SRATe?")
    def _srate_q(self, args: str, ch: int) -> str:
        return _fmt(self._ch(ch).sample_rate)

    @scpi("[SOURce{ch}:]DATA:VOLatile:CLEar")
    def _clear_volatile(self, args: str, ch: int) -> None:
        state = self._ch(ch)
        state.volatile.clear()
        state.arb = _BUILTIN_PATH.upper()
        self._publish(ch)

    @scpi("[SOURce{ch}:]DATA:VOLatile:CATalog?")
    def _catalog(self, args: str, ch: int) -> str:
        names = [w.name for w in self._ch(ch).volatile.values()]
        return ",".join(f'"{n}"' for n in names) if names else '""'

    @scpi("[SOURce{ch}:]DATA:ARBitrary:DAC")
    def _data_dac(self, args: str, ch: int) -> None:
        name, data = self._split_data_args(args)
        if data.startswith("#"):
            payload, rest = parse_ieee_block(data.encode("latin-1"))
            self._no_trailing(rest)
            if len(payload) % 2:
                raise ScpiArgumentError("DAC block length must be a whole number of int16 values", code=-161)
            codes = np.frombuffer(payload, "<i2" if self.byte_order == "SWAP" else ">i2")
        else:
            try:
                codes = np.array([int(v) for v in data.split(",")], dtype=np.int64)
            except ValueError:
                raise ScpiArgumentError("DAC values must be integers", code=-120) from None
        if codes.size and (codes.min() < -_FULL_SCALE or codes.max() > _FULL_SCALE):
            raise ScpiArgumentError(f"DAC codes must lie in -{_FULL_SCALE}..{_FULL_SCALE}", code=-222)
        self._store(ch, name, codes.astype(np.int16))

    @scpi("[SOURce{ch}:]DATA:ARBitrary")
    def _data_float(self, args: str, ch: int) -> None:
        name, data = self._split_data_args(args)
        if data.startswith("#"):
            payload, rest = parse_ieee_block(data.encode("latin-1"))
            self._no_trailing(rest)
            if len(payload) % 4:
                raise ScpiArgumentError("float block length must be a whole number of float32 values", code=-161)
            values = np.frombuffer(payload, "<f4" if self.byte_order == "SWAP" else ">f4").astype(np.float64)
        else:
            try:
                values = np.array([float(v) for v in data.split(",")])
            except ValueError:
                raise ScpiArgumentError("waveform values must be numbers", code=-120) from None
        if values.size and not (np.all(np.isfinite(values)) and values.min() >= -1.0 and values.max() <= 1.0):
            raise ScpiArgumentError("waveform values must lie in -1..1", code=-222)
        self._store(ch, name, np.rint(values * _FULL_SCALE).astype(np.int16))

    @staticmethod
    def _split_data_args(args: str) -> tuple[str, str]:
        name, sep, data = args.partition(",")
        name = name.strip().strip('"')
        if not sep or not data.strip():
            raise ScpiArgumentError("missing waveform data", code=-109)
        if not _NAME.match(name):
            raise ScpiArgumentError(f"invalid waveform name {name!r}", code=-224)
        return name, data.lstrip()

    @staticmethod
    def _no_trailing(rest: bytes) -> None:
        if rest.strip():
            raise ScpiArgumentError("unexpected data after the binary block", code=-161)

    def _store(self, ch: int, name: str, codes: np.ndarray) -> None:
        state = self._ch(ch)
        if codes.size < 8:
            raise ScpiArgumentError(f"waveform {name!r} has {codes.size} points; at least 8 are needed", code=-224)
        used = sum(w.codes.size for w in state.volatile.values())
        if used + codes.size > self.memory_points:
            self.push_error(-223, f"Too much data; {used + codes.size} points exceed the "
                                  f"{self.memory_points}-point waveform memory")
            return
        if name.upper() in state.volatile:
            raise ScpiArgumentError(f"waveform {name!r} already exists; clear volatile memory first", code=-221)
        state.volatile[name.upper()] = _Waveform(name, codes)

    def waveform(self, ch: int, name: str) -> np.ndarray:
        """The DAC codes stored under ``name`` on channel ``ch`` (for tests); KeyError if absent."""
        return self.channels[ch].volatile[name.upper()].codes

    # -- burst and trigger ----------------------------------------------------------------------------
    @scpi("[SOURce{ch}:]BURSt:STATe")
    def _burst_state(self, args: str, ch: int) -> None:
        self._ch(ch).burst_state = parse_bool(args)

    @scpi("[SOURce{ch}:]BURSt:STATe?")
    def _burst_state_q(self, args: str, ch: int) -> str:
        return "1" if self._ch(ch).burst_state else "0"

    @scpi("[SOURce{ch}:]BURSt:MODE")
    def _burst_mode(self, args: str, ch: int) -> None:
        key = args.strip().upper()
        if key not in _BURST_MODES:
            raise ScpiArgumentError(f"unknown burst mode {args!r}", code=-224)
        self._ch(ch).burst_mode = _BURST_MODES[key]

    @scpi("[SOURce{ch}:]BURSt:MODE?")
    def _burst_mode_q(self, args: str, ch: int) -> str:
        return self._ch(ch).burst_mode

    @scpi("[SOURce{ch}:]BURSt:NCYCles")
    def _burst_cycles(self, args: str, ch: int) -> None:
        text = args.strip().upper()
        if text in ("INF", "INFINITY"):
            self._ch(ch).burst_cycles = math.inf
            return
        value = parse_number(args, minimum=1, maximum=1e8, default=1)
        if value != int(value):
            raise ScpiArgumentError("burst count must be a whole number", code=-224)
        self._ch(ch).burst_cycles = self.check_range("burst count", value, 1, 1e8)

    @scpi("[SOURce{ch}:]BURSt:NCYCles?")
    def _burst_cycles_q(self, args: str, ch: int) -> str:
        return _fmt(self._ch(ch).burst_cycles)

    @scpi("TRIGger{ch}:SOURce")
    def _trigger_source(self, args: str, ch: int) -> None:
        key = args.strip().upper()
        if key not in _TRIGGER_SOURCES:
            raise ScpiArgumentError(f"unknown trigger source {args!r}", code=-224)
        self._ch(ch).trigger_source = _TRIGGER_SOURCES[key]

    @scpi("TRIGger{ch}:SOURce?")
    def _trigger_source_q(self, args: str, ch: int) -> str:
        return self._ch(ch).trigger_source

    @scpi("*TRG")
    def _trg(self, args: str) -> None:
        """Software trigger: counted on every channel whose trigger source is BUS."""
        for state in self.channels.values():
            if state.trigger_source == "BUS":
                state.triggers += 1

    @scpi("TRIGger{ch}[:IMMediate]")
    def _trigger_now(self, args: str, ch: int) -> None:
        self._ch(ch).triggers += 1
