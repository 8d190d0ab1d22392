"""Emulator of a Keysight InfiniiVision 3000T / 4000X oscilloscope with fast photodiodes on its inputs.

It speaks the SCPI subset ``qkdlab.drivers.oscilloscope`` uses (long and short forms; see the
driver's docstring for the sources) and turns the model's instantaneous optical power into what
the scope would transfer:

- options: ``channels`` maps an input ("1".."4") to a model port (default ``{"1": "monitor",
  "2": "interferometer"}``; inputs without a port see no light) and ``photodiode_gain_v_per_w``
  the photodiode + amplifier gain per input in V/W (default ``{"1": 5e4, "2": 5e3}``);
- the record spans the 10 divisions of the timebase window: the left edge is at
  ``position - r · scale`` with r = 1, 5, 9 divisions for reference LEFT, CENTer, RIGHt; sample i
  of n (``:WAVeform:POINts``, default 1000) is at ``left + i · 10 · scale / n``;
- a sample is ``gain · model.optical_waveform(port, t)`` plus Gaussian noise of 0.4 % of the full
  screen (8 div × V/div) per sample, divided by √count in AVERage mode, drawn from a generator
  seeded from ``model.rng`` at ``:DIGitize`` (so a bench seed reproduces every record);
- quantised over the screen (offset ± 4 div) into 16-bit WORD codes (yincrement = 8 div × scale /
  65536, yreference 32768 unsigned or 0 signed, yorigin = offset) or 8-bit BYTE codes, clipped to
  the rails 0 and 65535 (255 for BYTE): the convention the driver flags as ``clipped``;
- ``:DIGitize`` advances the virtual clock by count (AVERage) or 1 pattern lengths, holding
  ``model.lock``; nothing sleeps.

Emulator policies where the real instrument was not consulted [unverified]: every trigger source
is treated as synchronous with the pattern start (the pattern clock on EXTernal is the only
trigger wired on the simulated bench), so t = 0 is always the start of slot 0; the record is
computed when first transferred after ``:DIGitize`` (the bench does not change in between in any
sensible use; the noise is fixed at ``:DIGitize``); ``:DIGitize`` turns on the channels it
acquires; ``:WAVeform:DATA?`` before any acquisition of that source queues -230 "Data corrupt or
stale" and sends nothing; ASCii format is not emulated (-224); PEAK and HRESolution records are
generated like NORMal ones.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...drivers.transport import ieee_block
from .base import ScpiArgumentError, ScpiEmulator, parse_bool, parse_number, scpi

__all__ = ["KeysightInfiniiVisionEmulator"]

#: Noise per sample as a fraction of the full screen (8 divisions).
NOISE_FRACTION_OF_SCREEN = 0.004
_REFERENCE_DIVISIONS = {"LEFT": 1.0, "CENT": 5.0, "RIGH": 9.0}
_IMPEDANCES = {"FIFT": "FIFT", "FIFTY": "FIFT", "ONEM": "ONEM", "ONEMEG": "ONEM"}
_REFERENCES = {"LEFT": "LEFT", "CENT": "CENT", "CENTER": "CENT", "RIGH": "RIGH", "RIGHT": "RIGH"}
_ACQ_TYPES = {"NORM": "NORM", "NORMAL": "NORM", "AVER": "AVER", "AVERAGE": "AVER", "HRES": "HRES",
              "HRESOLUTION": "HRES", "PEAK": "PEAK"}
_ACQ_TYPE_CODES = {"NORM": 0, "PEAK": 1, "AVER": 2, "HRES": 3}
_SOURCES = {**{f"CHAN{n}": f"CHAN{n}" for n in range(1, 5)}, **{f"CHANNEL{n}": f"CHAN{n}" for n in range(1, 5)},
            "EXT": "EXT", "EXTERNAL": "EXT", "LINE": "LINE"}
_SLOPES = {"POS": "POS", "POSITIVE": "POS", "NEG": "NEG", "NEGATIVE": "NEG", "EITH": "EITH", "EITHER": "EITH",
           "ALT": "ALT", "ALTERNATE": "ALT"}
_SWEEPS = {"AUTO": "AUTO", "NORM": "NORM", "NORMAL": "NORM"}
_FORMATS = {"WORD": "WORD", "BYTE": "BYTE", "ASC": "ASC", "ASCII": "ASC"}
_BYTE_ORDERS = {"LSBF": "LSBF", "LSBFIRST": "LSBF", "MSBF": "MSBF", "MSBFIRST": "MSBF"}
_POINTS_MODES = {"NORM": "NORM", "NORMAL": "NORM", "MAX": "MAX", "MAXIMUM": "MAX", "RAW": "RAW"}
_CHANNEL_ARG = re.compile(r"^CHAN(?:NEL)?([1-4])$", re.IGNORECASE)


def _choice(args: str, table: dict[str, str], what: str) -> str:
    word = args.strip().upper()
    if word not in table:
        raise ScpiArgumentError(f"{what} {args.strip()!r} is not one of {sorted(set(table.values()))}")
    return table[word]


def _fmt(value: float) -> str:
    return f"{value:+.10E}"


@dataclass(frozen=True)
class _Acquisition:
    """What ``:DIGitize`` fixed for one channel: the screen settings and the noise seed."""

    v_scale: float
    v_offset: float
    t_scale: float
    t_position: float
    reference: str
    acq_type: str
    count: int
    seed: int


class KeysightInfiniiVisionEmulator(ScpiEmulator):
    """A DSOX3104T with photodiodes on its inputs. Options ``channels`` and ``photodiode_gain_v_per_w``."""

    idn = "KEYSIGHT TECHNOLOGIES,DSOX3104T,MY60000001,07.50.2021102830"

    def __init__(self, model: Any, name: str, *, channels: dict[str, str] | None = None,
                 photodiode_gain_v_per_w: dict[str, float] | None = None, **options: Any) -> None:
        mapping = channels if channels is not None else {"1": "monitor", "2": "interferometer"}
        gains = {"1": 5e4, "2": 5e3, **{str(k): v for k, v in (photodiode_gain_v_per_w or {}).items()}}
        self.ports = {int(k): str(v) for k, v in mapping.items()}
        self.gains = {int(k): float(v) for k, v in gains.items()}
        for ch in (*self.ports, *self.gains):
            if not 1 <= ch <= 4:
                raise ValueError(f"{name}: oscilloscope input {ch} does not exist; use 1..4")
        super().__init__(model, name, **options)

    def reset(self) -> None:
        self.inputs = {ch: {"scale": 1.0, "offset": 0.0, "display": ch == 1, "impedance": "ONEM"}
                       for ch in range(1, 5)}
        self.t_scale = 100e-6
        self.t_position = 0.0
        self.reference = "CENT"
        self.acq_type = "NORM"
        self.acq_count = 8
        self.trigger = {"mode": "EDGE", "source": "CHAN1", "level": 0.0, "slope": "POS", "sweep": "AUTO"}
        self.wave = {"source": 1, "format": "BYTE", "byteorder": "MSBF", "unsigned": True, "points": 1000,
                     "mode": "NORM"}
        self.acquisitions: dict[int, _Acquisition] = {}

    # -- channels --------------------------------------------------------------------------------
    def _input(self, ch: int) -> dict[str, Any]:
        if not 1 <= ch <= 4:
            raise ScpiArgumentError(f"channel {ch} does not exist", code=-114)
        return self.inputs[ch]

    @scpi("CHANnel{ch}:SCALe?")
    def _scale_q(self, args: str, ch: int) -> str:
        return _fmt(self._input(ch)["scale"])

    @scpi("CHANnel{ch}:SCALe")
    def _scale(self, args: str, ch: int) -> None:
        self._input(ch)["scale"] = self.check_range("scale", parse_number(args, units=("V",)), 1e-3, 5.0)

    @scpi("CHANnel{ch}:OFFSet?")
    def _offset_q(self, args: str, ch: int) -> str:
        return _fmt(self._input(ch)["offset"])

    @scpi("CHANnel{ch}:OFFSet")
    def _offset(self, args: str, ch: int) -> None:
        self._input(ch)["offset"] = self.check_range("offset", parse_number(args, units=("V",)), -50.0, 50.0)

    @scpi("CHANnel{ch}:DISPlay?")
    def _display_q(self, args: str, ch: int) -> str:
        return "1" if self._input(ch)["display"] else "0"

    @scpi("CHANnel{ch}:DISPlay")
    def _display(self, args: str, ch: int) -> None:
        self._input(ch)["display"] = parse_bool(args)

    @scpi("CHANnel{ch}:IMPedance?")
    def _impedance_q(self, args: str, ch: int) -> str:
        return self._input(ch)["impedance"]

    @scpi("CHANnel{ch}:IMPedance")
    def _impedance(self, args: str, ch: int) -> None:
        self._input(ch)["impedance"] = _choice(args, _IMPEDANCES, "impedance")

    # -- timebase, acquisition, trigger -----------------------------------------------------------
    @scpi("TIMebase:SCALe?")
    def _tscale_q(self, args: str) -> str:
        return _fmt(self.t_scale)

    @scpi("TIMebase:SCALe")
    def _tscale(self, args: str) -> None:
        self.t_scale = self.check_range("timebase scale", parse_number(args, units=("S",)), 200e-12, 50.0)

    @scpi("TIMebase:POSition?")
    def _tpos_q(self, args: str) -> str:
        return _fmt(self.t_position)

    @scpi("TIMebase:POSition")
    def _tpos(self, args: str) -> None:
        self.t_position = self.check_range("timebase position", parse_number(args, units=("S",)), -500.0, 500.0)

    @scpi("TIMebase:REFerence?")
    def _tref_q(self, args: str) -> str:
        return self.reference

    @scpi("TIMebase:REFerence")
    def _tref(self, args: str) -> None:
        self.reference = _choice(args, _REFERENCES, "timebase reference")

    @scpi("ACQuire:TYPE?")
    def _acq_type_q(self, args: str) -> str:
        return self.acq_type

    @scpi("ACQuire:TYPE")
    def _acq_type(self, args: str) -> None:
        self.acq_type = _choice(args, _ACQ_TYPES, "acquisition type")

    @scpi("ACQuire:COUNt?")
    def _acq_count_q(self, args: str) -> str:
        return f"{self.acq_count:+d}"

    @scpi("ACQuire:COUNt")
    def _acq_count(self, args: str) -> None:
        value = parse_number(args)
        if value != int(value):
            raise ScpiArgumentError(f"count {args!r} is not a whole number", code=-222)
        self.acq_count = int(self.check_range("count", value, 2, 65536))

    @scpi("TRIGger:MODE?")
    def _trig_mode_q(self, args: str) -> str:
        return self.trigger["mode"]

    @scpi("TRIGger:MODE")
    def _trig_mode(self, args: str) -> None:
        self.trigger["mode"] = _choice(args, {"EDGE": "EDGE"}, "trigger mode (only EDGE is emulated)")

    @scpi("TRIGger[:EDGE]:SOURce?")
    def _trig_source_q(self, args: str) -> str:
        return self.trigger["source"]

    @scpi("TRIGger[:EDGE]:SOURce")
    def _trig_source(self, args: str) -> None:
        self.trigger["source"] = _choice(args, _SOURCES, "trigger source")

    @scpi("TRIGger[:EDGE]:LEVel?")
    def _trig_level_q(self, args: str) -> str:
        return _fmt(self.trigger["level"])

    @scpi("TRIGger[:EDGE]:LEVel")
    def _trig_level(self, args: str) -> None:
        self.trigger["level"] = self.check_range("trigger level", parse_number(args, units=("V",)), -50.0, 50.0)

    @scpi("TRIGger[:EDGE]:SLOPe?")
    def _trig_slope_q(self, args: str) -> str:
        return self.trigger["slope"]

    @scpi("TRIGger[:EDGE]:SLOPe")
    def _trig_slope(self, args: str) -> None:
        self.trigger["slope"] = _choice(args, _SLOPES, "trigger slope")

    @scpi("TRIGger:SWEep?")
    def _trig_sweep_q(self, args: str) -> str:
        return self.trigger["sweep"]

    @scpi("TRIGger:SWEep")
    def _trig_sweep(self, args: str) -> None:
        self.trigger["sweep"] = _choice(args, _SWEEPS, "trigger sweep")

    @scpi("DIGitize")
    def _digitize(self, args: str) -> None:
        if args.strip():
            channels = []
            for item in args.split(","):
                match = _CHANNEL_ARG.match(item.strip())
                if not match:
                    raise ScpiArgumentError(f"digitize source {item.strip()!r} is not an analog channel (emulated: "
                                            "CHANnel1..4)")
                channels.append(int(match.group(1)))
        else:
            channels = [ch for ch, state in self.inputs.items() if state["display"]]
        count = self.acq_count if self.acq_type == "AVER" else 1
        with self.model.lock:
            train = self.model.pulse_train()
            pattern_s = len(train.photons) * train.period_s
            for ch in channels:
                state = self.inputs[ch]
                state["display"] = True
                self.acquisitions[ch] = _Acquisition(
                    state["scale"], state["offset"], self.t_scale, self.t_position, self.reference,
                    self.acq_type, count, int(self.model.rng.integers(0, 2**63 - 1)))
            self.model.advance(count * pattern_s)

    # -- waveform transfer -----------------------------------------------------------------------
    @scpi("WAVeform:SOURce?")
    def _wsource_q(self, args: str) -> str:
        return f"CHAN{self.wave['source']}"

    @scpi("WAVeform:SOURce")
    def _wsource(self, args: str) -> None:
        match = _CHANNEL_ARG.match(args.strip())
        if not match:
            raise ScpiArgumentError(f"waveform source {args.strip()!r} is not an analog channel (emulated: CHANnel1..4)")
        self.wave["source"] = int(match.group(1))

    @scpi("WAVeform:FORMat?")
    def _wformat_q(self, args: str) -> str:
        return self.wave["format"]

    @scpi("WAVeform:FORMat")
    def _wformat(self, args: str) -> None:
        fmt = _choice(args, _FORMATS, "waveform format")
        if fmt == "ASC":
            raise ScpiArgumentError("ASCii waveform format is not emulated; use WORD or BYTE")
        self.wave["format"] = fmt

    @scpi("WAVeform:BYTeorder?")
    def _wbyteorder_q(self, args: str) -> str:
        return self.wave["byteorder"]

    @scpi("WAVeform:BYTeorder")
    def _wbyteorder(self, args: str) -> None:
        self.wave["byteorder"] = _choice(args, _BYTE_ORDERS, "byte order")

    @scpi("WAVeform:UNSigned?")
    def _wunsigned_q(self, args: str) -> str:
        return "1" if self.wave["unsigned"] else "0"

    @scpi("WAVeform:UNSigned")
    def _wunsigned(self, args: str) -> None:
        self.wave["unsigned"] = parse_bool(args)

    @scpi("WAVeform:POINts:MODE?")
    def _wmode_q(self, args: str) -> str:
        return self.wave["mode"]

    @scpi("WAVeform:POINts:MODE")
    def _wmode(self, args: str) -> None:
        self.wave["mode"] = _choice(args, _POINTS_MODES, "points mode")

    @scpi("WAVeform:POINts?")
    def _wpoints_q(self, args: str) -> str:
        return f"{self.wave['points']:+d}"

    @scpi("WAVeform:POINts")
    def _wpoints(self, args: str) -> None:
        value = parse_number(args, maximum=8_000_000)
        if value != int(value):
            raise ScpiArgumentError(f"points {args!r} is not a whole number", code=-222)
        self.wave["points"] = int(self.check_range("points", value, 100, 8_000_000))

    def _record(self) -> tuple[np.ndarray, str]:
        """The codes of the selected source's last acquisition and its preamble text."""
        ch = self.wave["source"]
        acq = self.acquisitions.get(ch)
        if acq is None:
            raise ScpiArgumentError(f"no acquisition on CHAN{ch}; digitize first", code=-230)
        n = self.wave["points"]
        left = acq.t_position - _REFERENCE_DIVISIONS[acq.reference] * acq.t_scale
        xinc = 10.0 * acq.t_scale / n
        times = left + np.arange(n) * xinc
        port = self.ports.get(ch)
        with self.model.lock:
            power = self.model.optical_waveform(port, times) if port else np.zeros(n)
        volts = self.gains.get(ch, 0.0) * power
        sigma = NOISE_FRACTION_OF_SCREEN * 8.0 * acq.v_scale / math.sqrt(acq.count)
        volts = volts + np.random.default_rng(acq.seed).normal(0.0, sigma, size=n)
        word = self.wave["format"] == "WORD"
        levels = 65536 if word else 256
        yinc = 8.0 * acq.v_scale / levels
        middle = levels // 2
        codes = np.clip(np.rint((volts - acq.v_offset) / yinc) + middle, 0, levels - 1).astype(np.int64)
        yref = middle
        if not self.wave["unsigned"]:
            codes -= middle
            yref = 0
        fmt_code = 1 if word else 0
        preamble = ",".join([f"{fmt_code:+d}", f"{_ACQ_TYPE_CODES[acq.acq_type]:+d}", f"{n:+d}", f"{acq.count:+d}",
                             _fmt(xinc), _fmt(left), _fmt(0.0), _fmt(yinc), _fmt(acq.v_offset), f"{yref:+d}"])
        return codes, preamble

    @scpi("WAVeform:PREamble?")
    def _preamble(self, args: str) -> str:
        return self._record()[1]

    @scpi("WAVeform:DATA?")
    def _data(self, args: str) -> str:
        codes, _ = self._record()
        order = "<" if self.wave["byteorder"] == "LSBF" else ">"
        if self.wave["format"] == "WORD":
            dtype = f"{order}u2" if self.wave["unsigned"] else f"{order}i2"
        else:
            dtype = "u1" if self.wave["unsigned"] else "i1"
        return ieee_block(codes.astype(dtype)).decode("latin-1")
