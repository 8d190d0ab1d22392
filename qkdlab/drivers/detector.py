"""ID Quantique ID210 gated InGaAs single-photon detector (VISA, ``\\n`` terminators).

On a QKD transmitter bench the detectors sit behind the variable attenuator: they measure what
the transmitter really emits per pulse, and a scan of the trigger delay maps how each detector's
efficiency depends on the arrival time of the light (the spatio-temporal mode dependence the
security proof has to bound). So the driver's job is exact settings with the instrument's native
scaling hidden, and count rates that can be trusted.

Source of the command set [unverified]
--------------------------------------
Every command string below comes from one third-party class, ``SPD_ID210`` by Abdelrahman Afifi
(2020, a public GitHub repository; search-index id 19078969106), not from ID Quantique's
programming manual, which was not at hand. Check them against the manual or the instrument
before relying on them:

=========================== =========================================== ==========================
purpose                     command (set / query)                       native units, limits
=========================== =========================================== ==========================
detection mode              ``Detector:Mode <token>`` / ``?``           INTERNAL_GATING 1,
                                                                        EXTERNAL_GATING 2,
                                                                        FREE_RUNNING 3,
                                                                        FREE_GATING 4, DISABLED 0
efficiency                  ``Detector:Efficiency <n>`` / ``?``         tenths of a percent,
                                                                        50, 75, ... 250
dead time                   ``Detector:Dead_Time <n>`` / ``?``          ns, steps of 0.1 us,
                                                                        max 100 us
gate width                  ``Detector:Gate_Width <n>`` / ``?``         ps, 1000..25000
trigger delay               ``Detector:Trigger_Delay <n>``              ps, 0..20009
gating frequency            ``Detector:Frequency <n>`` / ``?``          Hz, 1 kHz..1 GHz, 1-2-5
integration time            ``Counter:Integration_Time <n>`` / ``?``    tenths of a second,
                                                                        2..1000, steps of 0.2 s
counting mode               ``Counter:Counting_Mode Frequency|Totalize``
frequency mode              ``Counter:Frequency_Mode Current|Last``
count readings              ``Counter:Detection?``, ``Counter:Gate?``,  Hz; the reply is either one
                            ``Counter:Clock?``                          number or the list
                                                                        "counter, standard deviation,
                                                                        2-sigma relative uncertainty,
                                                                        min, max"
identification              ``*IDN?`` (sent by the same class on connect)
=========================== =========================================== ==========================

Further choices made here because the source does not settle them [unverified]:

- Queries of the trigger delay, counting mode and frequency mode (the source only sets them) may
  not exist: they are *optional queries* (``optional_query=True``). The read-back after setting
  them asks once with a short timeout; where the instrument stays silent the setting stands
  unverified, the query is remembered as unsupported (listed in the snapshot, skipped by
  ``snapshot(update=True)``) and never asked again this session; a bench probe record
  (``qkdlab bench probe``) can name them up front so not even the first timeout is spent.
- The mode is *sent* as its token (``INTERNAL_GATING``); the reply is accepted either as a token
  (any case) or as its number (0..4), since the source lists both forms.
- The dead-time minimum is taken as 0.1 us (one step); the source gives only the step and maximum.
- Integration times are refused unless they are a multiple of 0.2 s, the step the source gives
  (the ID120's counter uses the same 200 ms step); the instrument might accept 0.1 s steps.

Error detection
---------------
The source never reads an error report and there is no sign of a SCPI ``SYST:ERR?`` queue on the
ID210, so querying one could hang or confuse the instrument. Instead every setting is verified
by **read-back** (``check_set`` -> ``verify_readback``): the driver queries the setting it just
wrote and raises ``InstrumentReportedError`` if the instrument holds a different value (it
refused or coerced the setting). Out-of-range and off-step values never reach the instrument:
they raise ``SettingRangeError`` and nothing is sent.

No bench safety limits: nothing the driver can set damages the detector or anything else.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import pint

from ..errors import OverrangeError, ProtocolError, SettingRangeError
from ..units import as_quantity
from .base import OVERRANGE, Control, Identity, Instrument, control, measurement

__all__ = ["IDQID210", "DetectorMode", "CountingMode", "FrequencyMode", "CounterReading", "EFFICIENCY_STEPS"]

#: The efficiency settings the ID210 offers, as fractions (5 % .. 25 % in steps of 2.5 %).
EFFICIENCY_STEPS: tuple[float, ...] = tuple(round(0.05 + 0.025 * i, 4) for i in range(9))


class DetectorMode(enum.Enum):
    """Detection mode (``Detector:Mode``); values are the tokens sent to the instrument."""

    DISABLED = "DISABLED"
    INTERNAL_GATING = "INTERNAL_GATING"
    EXTERNAL_GATING = "EXTERNAL_GATING"
    FREE_RUNNING = "FREE_RUNNING"
    FREE_GATING = "FREE_GATING"


#: The numeric form of each mode, as the source lists it next to the tokens.
_MODE_NUMBERS = {"0": "DISABLED", "1": "INTERNAL_GATING", "2": "EXTERNAL_GATING", "3": "FREE_RUNNING",
                 "4": "FREE_GATING"}


class CountingMode(enum.Enum):
    """Counter mode (``Counter:Counting_Mode``): rates in Hz, or totals accumulated since the mode was set."""

    FREQUENCY = "Frequency"
    TOTALIZE = "Totalize"


class FrequencyMode(enum.Enum):
    """Which window a rate reading reports (``Counter:Frequency_Mode``): the running one or the last complete one."""

    CURRENT = "Current"
    LAST = "Last"


def _canonical_token(enum_cls: type[enum.Enum], numbers: dict[str, str] | None = None) -> Any:
    """A reply preprocessor: map any-case tokens (and mode numbers) onto the enum's exact values."""
    by_upper = {member.value.upper(): member.value for member in enum_cls}

    def preprocess(reply: str) -> str:
        text = reply.strip().strip('"').strip()
        if numbers is not None and text in numbers:
            text = numbers[text]
        return by_upper.get(text.upper(), text)

    return preprocess


def _first_field(reply: str) -> str:
    """The counter value of a count reply, which may be 'value' or 'value, std, 2σ rel, min, max'."""
    return reply.split(",")[0].strip()


class _SteppedControl(Control):
    """A numeric control whose native value must be a whole multiple of ``step`` (in native units)
    and, optionally, one of the 1-2-5 sequence. Off-step values are refused before anything is sent:
    the driver should not guess how the instrument rounds."""

    def __init__(self, *args: Any, step: float = 1.0, one_two_five: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.step = step
        self.one_two_five = one_two_five

    def to_native(self, obj: Any, value: Any) -> tuple[Any, Any]:
        cached, native = super().to_native(obj, value)
        raw = cached * self.scale  # the native value, rounded to the native resolution (1 ns, 1 ps, ...)
        unit = f" {self.unit}" if self.unit else ""
        shown = f"{cached:g}{unit}"
        if abs(raw / self.step - round(raw / self.step)) > 1e-6:
            raise SettingRangeError(
                f"{obj.name}.{self.name} = {shown} is not a multiple of {self.step / self.scale:g}{unit}, "
                "the instrument's step; nothing was sent")
        if self.one_two_five:
            mantissa = raw / 10.0 ** math.floor(math.log10(raw) + 1e-12)
            if not any(abs(mantissa - m) < 1e-9 * m for m in (1.0, 2.0, 5.0, 10.0)):
                raise SettingRangeError(
                    f"{obj.name}.{self.name} = {shown} is not in the 1-2-5 sequence (1, 2, 5, 10, 20, 50 ... kHz) "
                    "the instrument accepts; nothing was sent")
        return cached, native


@dataclass(frozen=True)
class CounterReading:
    """One counter reading. ``value`` is a rate in Hz (FREQUENCY counting mode) or a count (TOTALIZE).

    The statistics are ``None`` when the instrument answered with the value alone.
    ``relative_uncertainty_2sigma`` is a plain fraction.
    """

    value: pint.Quantity
    std: pint.Quantity | None = None
    relative_uncertainty_2sigma: float | None = None
    minimum: pint.Quantity | None = None
    maximum: pint.Quantity | None = None


class IDQID210(Instrument):
    """ID Quantique ID210 single-photon detector (see the module docstring for sources and caveats).

    ``IDQID210("USB0::0x1DDC::0x0210::<serial>::INSTR", "spd1")``; extra keyword settings go to the
    VISA transport (``visa_library=...``, ``timeout=...``).
    """

    interface: ClassVar[str] = "visa"
    #: Queries sent outside the properties (for ``qkdlab bench probe``).
    probe_extra_queries = ("*IDN?",)
    default_settings: ClassVar[dict[str, Any]] = {
        "timeout": 5.0, "write_termination": "\n", "read_termination": "\n"}

    mode = control(
        "Detector:Mode?", "Detector:Mode {value}",
        "Control the detection mode (DetectorMode): internal/external gating, free running, free gating, disabled.",
        values=DetectorMode, cast=str, preprocess=_canonical_token(DetectorMode, _MODE_NUMBERS))

    efficiency = _SteppedControl(
        "Detector:Efficiency?", "Detector:Efficiency {value:d}",
        "Control the nominal detection efficiency, a fraction 0.05..0.25 in steps of 0.025 "
        "(sent in tenths of a percent: 0.1 -> 100).",
        unit="", scale=1000.0, native_int=True, limits=(0.05, 0.25), step=25.0)

    dead_time = _SteppedControl(
        "Detector:Dead_Time?", "Detector:Dead_Time {value:d}",
        "Control the dead time after a detection, 0.1..100 us in steps of 0.1 us (sent in ns).",
        unit="s", scale=1e9, native_int=True, limits=(100e-9, 100e-6), step=100.0)

    gate_width = control(
        "Detector:Gate_Width?", "Detector:Gate_Width {value:d}",
        "Control the gate width, 1..25 ns (sent in ps).",
        unit="s", scale=1e12, native_int=True, limits=(1e-9, 25e-9))

    trigger_delay = control(
        "Detector:Trigger_Delay?", "Detector:Trigger_Delay {value:d}",
        "Control the delay of the gate after the trigger, 0..20.009 ns (sent in ps).",
        unit="s", scale=1e12, native_int=True, limits=(0.0, 20.009e-9), optional_query=True)

    gate_frequency = _SteppedControl(
        "Detector:Frequency?", "Detector:Frequency {value:d}",
        "Control the internal gating frequency, 1 kHz..1 GHz in a 1-2-5 sequence (sent in Hz).",
        unit="Hz", scale=1.0, native_int=True, limits=(1e3, 1e9), step=1.0, one_two_five=True)

    integration_time = _SteppedControl(
        "Counter:Integration_Time?", "Counter:Integration_Time {value:d}",
        "Control the counters' integration time, 0.2..100 s in steps of 0.2 s (sent in tenths of a second).",
        unit="s", scale=10.0, native_int=True, limits=(0.2, 100.0), step=2.0)

    counting_mode = control(
        "Counter:Counting_Mode?", "Counter:Counting_Mode {value}",
        "Control whether the counters report rates (FREQUENCY) or accumulated totals (TOTALIZE).",
        values=CountingMode, cast=str, preprocess=_canonical_token(CountingMode), optional_query=True)

    frequency_mode = control(
        "Counter:Frequency_Mode?", "Counter:Frequency_Mode {value}",
        "Control whether rates come from the running integration window (CURRENT) or the last complete one (LAST).",
        values=FrequencyMode, cast=str, preprocess=_canonical_token(FrequencyMode), optional_query=True)

    detection_rate = measurement(
        "Counter:Detection?",
        "Measure the detection rate in Hz (FREQUENCY counting mode; the counter value of a statistics reply).",
        unit="Hz", preprocess=_first_field)

    gate_rate = measurement(
        "Counter:Gate?",
        "Measure the rate of applied gates in Hz (FREQUENCY counting mode).",
        unit="Hz", preprocess=_first_field)

    clock_rate = measurement(
        "Counter:Clock?",
        "Measure the frequency at the clock (trigger) input in Hz (FREQUENCY counting mode).",
        unit="Hz", preprocess=_first_field)

    _COUNTERS: ClassVar[dict[str, str]] = {
        "detection": "Counter:Detection?", "gate": "Counter:Gate?", "clock": "Counter:Clock?"}

    # -- error checking: read-back, no error queue -------------------------------------------
    def check_set(self, ctl: Control, command: str, expected: Any) -> None:
        """Verify a setting by reading it back (the ID210 has no error queue we know of)."""
        self.verify_readback(ctl, command, expected)

    # -- identity --------------------------------------------------------------------------
    def identify(self) -> Identity:
        """Ask ``*IDN?``. The ID210's reply format is unverified: a printable reply without commas is
        kept whole as the model string, manufacturer "ID Quantique"."""
        reply = self.ask("*IDN?")
        if "," in reply:
            return Identity.from_idn(reply)
        text = reply.strip()
        if not text or not text.isprintable():
            raise ProtocolError(f"{self.name}: *IDN? answered {reply!r}, which is not an identification")
        return Identity("ID Quantique", text, "", "")

    # -- counters --------------------------------------------------------------------------
    def read_counter(self, counter: str = "detection") -> CounterReading:
        """Read one counter ("detection", "gate" or "clock") with the statistics the instrument sends.

        Values are in Hz in FREQUENCY counting mode and plain counts in TOTALIZE mode; the mode is
        taken from the cache, or queried once when it is not known.
        """
        try:
            command = self._COUNTERS[counter]
        except KeyError:
            raise ValueError(f"{self.name}: unknown counter {counter!r}; use one of {sorted(self._COUNTERS)}") from None
        cached = self._cache.get("counting_mode")
        mode = cached.value if cached is not None else self.read_optional(type(self).counting_mode)
        if mode is None:
            raise ProtocolError(f"{self.name}: the counting mode is unknown (no answer to Counter:Counting_Mode?); "
                                "set counting_mode before reading counters")
        unit = "Hz" if mode is CountingMode.FREQUENCY else ""
        reply = self.ask(command)
        fields = [f.strip() for f in reply.split(",")]
        if len(fields) not in (1, 5):
            raise ProtocolError(f"{self.name}: {command!r} answered {reply!r}; expected one value or "
                                "'value, std, 2-sigma relative uncertainty, min, max'")
        try:
            numbers = [float(f) for f in fields]
        except ValueError:
            raise ProtocolError(f"{self.name}: {command!r} answered {reply!r}, which is not numeric; "
                                "the instrument or the link is garbling replies") from None
        if any(abs(n) >= OVERRANGE or not math.isfinite(n) for n in numbers):
            raise OverrangeError(f"{self.name}: {command!r} reports over-range ({reply.strip()})")
        if len(numbers) == 1:
            return CounterReading(as_quantity(numbers[0], unit))
        value, std, rel, low, high = numbers
        return CounterReading(as_quantity(value, unit), as_quantity(std, unit), rel,
                              as_quantity(low, unit), as_quantity(high, unit))
