"""Thorlabs MBX-series modulator bias controller (Mach-Zehnder bias lock plus an integrated VOA), over RS-232/USB-UART.

On a QKD transmitter the MBX holds the intensity modulator's DC bias: locked at null for pulse
carving with a low inter-pulse leakage, at a quadrature point for analogue drive, or at a fixed
voltage (MANUAL) while a scan maps the transfer curve. The bias directly sets the leakage light
and the decoy intensities, so every setting is verified and the bias voltage is bounded by the
bench's ``max_bias_voltage``.

Sources of the command set
--------------------------
- [read] PyMeasure ``pymeasure/instruments/thorlabs/thorlabsmbxseries.py`` and its protocol tests
  ``tests/instruments/thorlabs/test_thorlabsmbxseries.py`` (background document §5.3):
  115200 baud, ``\\r`` write and read terminators, 1 s timeout; commands put a colon and a space
  before the value. Replies seen in the tests: ``MZM:MODE?`` -> ``5``; ``MZM:HOLD:VOLTAGE?`` -> ``5000``
  (integer mV); ``MZM:HOLD:RATIO?`` -> ``500`` (ratio in % x 100); ``MZM:VOLTAGE?`` -> ``5.42`` (V);
  ``MZM:TAP:MW?`` -> ``1.23`` (mW); ``MZM:SETPOINT?``/``MZM:CALIBRATING?``/``VOA:POWER?``/
  ``VOA:SETPOINT?`` -> ``0``/``1``; ``VOA:ATTEN?``/``VOA:MEASURED?`` -> ``5``; ``VOA:ERROR?`` -> ``0.1``;
  ``VOA:OUTPUT:MW?``/``VOA:TAP:MW?`` -> ``5``. Set commands get **no reply**, except
  ``MZM:RESET`` and ``VOA:MODE: <n>``, which answer ``1``. Ranges: hold voltage -10..+10 V, hold
  ratio 2.5..100 %, VOA attenuation 0.5..20 dB, VOA output power 0.01..100 mW.
- [unverified] Identity: ``SYSTEM:MODEL?``, ``SYSTEM:SERIAL?`` and ``SYSTEM:FIRMWARE?`` come from a
  third-party class for the sibling MX10B reference transmitter (index id 9981005157), whose
  dialect differs (``\n`` terminator, no space after the colon); ``*IDN?`` comes only from
  PyMeasure's ``SCPIMixin``, which its MBX tests never exercise. Both are therefore *optional*
  queries (short timeout, remembered when unanswered): ``identify()`` never stalls on them; if
  neither answers it checks the link with ``MZM:MODE?`` (PyMeasure-tested) and reports the model
  as "MBX (no identity query answered)".
- [unverified] Resolution: PyMeasure formats attenuation and power setpoints with ``%g`` and its
  tests show replies such as ``5``; the MBX's setpoint resolution is not documented in any source
  at hand. The read-back check therefore allows what a controller that rounds to 0.1 dB or
  0.01 mW would change (half a step: 0.05 dB, 5 uW), not 1e-3 dB: a rounded setpoint is the
  instrument's resolution, not a refused setting.

No error queue
--------------
The MBX has no ``SYST:ERR?``. After every setting the driver reads the setting back and raises
``InstrumentReportedError`` naming both values when they differ (``check_set`` ->
``verify_readback``); a refused value therefore never passes silently.

Units at the API
----------------
Volts for the bias (native integer mV for the hold voltage), watts for the tap powers (native
mW), the hold ratio as a fraction 0.025..1 (native: % x 100), VOA attenuations as plain floats in
dB (see ``qkdlab.drivers.attenuator`` for why dB is not a pint quantity).
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar

from ..errors import ProtocolError, SafetyLimitError
from .attenuator import DecibelControl
from .base import Control, Identity, Instrument, control, measurement

__all__ = ["ThorlabsMBX", "MzmMode", "VoaMode", "AUTOMATIC_MODES"]


class MzmMode(enum.IntEnum):
    """Bias-control mode of the modulator (``MZM:MODE``), as numbered by the MBX."""

    OFF = 0
    AUTOPEAK = 1
    AUTONULL = 2
    AUTOQUADPOS = 3
    AUTOQUADNEG = 4
    HOLDQUADPOS = 5
    HOLDQUADNEG = 6
    MANUAL = 7
    AUTOPOWERPOS = 8
    AUTOPOWERNEG = 9


class VoaMode(enum.IntEnum):
    """VOA regulation mode (``VOA:MODE``): constant attenuation or constant output power."""

    ATTENUATION = 0
    POWER = 1


_BOOL = {True: 1, False: 0}
#: Assumed setpoint resolutions of the integrated VOA [unverified, see the module docstring].
VOA_ATTENUATION_RESOLUTION = 0.1     # dB
VOA_POWER_RESOLUTION = 10e-6         # W (0.01 mW, the setpoint's lower bound in PyMeasure)


class _EchoedControl(Control):
    """A setting the MBX acknowledges with ``1`` (``VOA:MODE: <n>``): written with a query, so the
    acknowledgement is consumed and checked instead of being left to confuse the next read."""

    def send(self, obj: Any, command: str) -> None:
        reply = obj.ask(command).strip()
        if reply != "1":
            raise ProtocolError(f"{obj.name}: {command!r} was acknowledged with {reply!r}, expected '1'")


class _ModeControl(Control):
    """The bias mode: after switching to a mode where the MBX chooses the bias itself, the applied
    bias is checked against ``max_bias_voltage`` (``ThorlabsMBX.check_bias``)."""

    def __set__(self, obj: Any, value: Any) -> None:
        super().__set__(obj, value)
        if obj._cache[self.name].value in AUTOMATIC_MODES and "max_bias_voltage" in obj.safety_limits:
            obj.check_bias()


#: Modes in which the MBX chooses the bias (everything but OFF and MANUAL).
AUTOMATIC_MODES = frozenset(MzmMode) - {MzmMode.OFF, MzmMode.MANUAL}


class ThorlabsMBX(Instrument):
    """Thorlabs MBX-series modulator bias controller, RS-232 (null-modem) or USB-UART at 115200 baud.

    Bench safety limit ``max_bias_voltage`` (V): the MANUAL hold voltage is checked before it is
    sent. In the automatic modes the MBX chooses the bias itself (anywhere in -10..+10 V) and
    moves it as it tracks drift, so no check can come before the fact: the driver reads the
    applied bias right after switching to such a mode, and ``check_bias()`` does it on demand
    (call it periodically in long runs); a breach switches the controller OFF and raises
    ``SafetyLimitError``. On hardware the lock needs time to settle, so the check right after
    switching only sees where it starts: benches whose modulator cannot take 10 V should prefer
    MANUAL mode.
    """

    interface: ClassVar[str] = "serial"
    #: The identity candidates, asked with ``ask_optional`` (for ``qkdlab bench probe``).
    optional_queries = ("SYSTEM:MODEL?", "SYSTEM:SERIAL?", "SYSTEM:FIRMWARE?", "*IDN?")
    default_settings: ClassVar[dict[str, Any]] = {
        "baudrate": 115200, "timeout": 1.0, "write_termination": "\r", "read_termination": "\r"}

    # -- modulator bias. Declaration order is the re-apply order after a reconnect: the setpoints
    # first, then the mode that uses them.
    hold_voltage = control(
        "MZM:HOLD:VOLTAGE?", "MZM:HOLD:VOLTAGE: {value:d}",
        "Control the bias held in MANUAL mode (V, -10..+10, 1 mV steps); bounded by ``max_bias_voltage``.",
        unit="V", scale=1e3, native_int=True, limits=(-10.0, 10.0), safety="max_bias_voltage")
    hold_ratio = control(
        "MZM:HOLD:RATIO?", "MZM:HOLD:RATIO: {value:d}",
        "Control the output/input power ratio held in AUTOPOWERPOS/NEG modes (fraction 0.025..1; "
        "the MBX takes percent x 100).",
        scale=1e4, native_int=True, limits=(0.025, 1.0))
    mode = _ModeControl(
        "MZM:MODE?", "MZM:MODE: {value:d}",
        "Control the bias-control mode (``MzmMode``: OFF, AUTOPEAK, AUTONULL, AUTOQUADPOS, AUTOQUADNEG, "
        "HOLDQUADPOS, HOLDQUADNEG, MANUAL, AUTOPOWERPOS, AUTOPOWERNEG).",
        values=MzmMode, cast=int)
    bias_voltage = measurement(
        "MZM:VOLTAGE?", "Measure the bias voltage the MBX is applying now (V), in every mode.", unit="V")
    tap_power = measurement(
        "MZM:TAP:MW?", "Measure the optical power at the MBX's tap after the modulator (W).", unit="W", scale=1e3)
    locked = measurement(
        "MZM:SETPOINT?", "Get whether the bias is stable at its setpoint (locked) (bool).",
        values=_BOOL, cast=int)
    calibrating = measurement(
        "MZM:CALIBRATING?", "Get whether a bias calibration (``recalibrate``) is running (bool).",
        values=_BOOL, cast=int)

    # -- integrated VOA
    voa_mode = _EchoedControl(
        "VOA:MODE?", "VOA:MODE: {value:d}",
        "Control the VOA regulation mode (``VoaMode``: ATTENUATION or POWER).", values=VoaMode, cast=int)
    voa_attenuation = DecibelControl(
        "VOA:ATTEN?", "VOA:ATTEN: {value:g}",
        "Control the VOA attenuation setpoint (dB, plain float, 0.5..20) used in ATTENUATION mode.",
        unit="dB", limits=(0.5, 20.0), verify_tolerance=VOA_ATTENUATION_RESOLUTION / 2)
    voa_power_setpoint = control(
        "VOA:OUTPUT:MW?", "VOA:OUTPUT:MW: {value:g}",
        "Control the VOA output power setpoint (W, 10 uW..100 mW) used in POWER mode.",
        unit="W", scale=1e3, limits=(1e-5, 0.1), verify_tolerance=VOA_POWER_RESOLUTION / 2)
    voa_enabled = control(
        "VOA:POWER?", "VOA:POWER: {value:d}", "Control whether the VOA is powered (bool).",
        values=_BOOL, cast=int)
    voa_measured_attenuation = DecibelControl(
        "VOA:MEASURED?", None, "Measure the attenuation the VOA applies now (dB, plain float).", unit="dB")
    voa_attenuation_error = DecibelControl(
        "VOA:ERROR?", None, "Measure measured minus setpoint attenuation of the VOA (dB, plain float).", unit="dB")
    voa_stable = measurement(
        "VOA:SETPOINT?", "Get whether the VOA is within 0.1 dB of its setpoint (bool).", values=_BOOL, cast=int)
    voa_tap_power = measurement(
        "VOA:TAP:MW?", "Measure the optical power after the VOA (W).", unit="W", scale=1e3)

    # -- no error queue: verify by reading back ---------------------------------------------------
    def check_set(self, ctl: Control, command: str, expected: Any) -> None:
        """The MBX reports no errors: read the setting back and compare (see the module docstring)."""
        self.verify_readback(ctl, command, expected)

    # -- methods ----------------------------------------------------------------------------------
    def set_manual_bias(self, volts: Any) -> None:
        """Hold a fixed bias: set the hold voltage (checked against ``max_bias_voltage``), then MANUAL."""
        self.hold_voltage = volts
        self.mode = MzmMode.MANUAL

    def check_bias(self) -> Any:
        """Measure the applied bias and enforce ``max_bias_voltage`` on it; return it (V).

        For the automatic lock modes, whose bias the MBX chooses and moves as it tracks drift: call
        it periodically during long runs. A breach switches the controller OFF (bias output to 0 V)
        and raises ``SafetyLimitError``.
        """
        bias = self.bias_voltage
        limit = self.safety_limits.get("max_bias_voltage")
        volts = float(bias.to("V").magnitude)
        if limit is not None and abs(volts) > limit:
            self.write("MZM:MODE: 0")
            self.cache_value("mode", MzmMode.OFF, "set")
            raise SafetyLimitError(
                f"{self.name}: the bias lock applied {volts:g} V, beyond the bench safety limit "
                f"max_bias_voltage = {limit:g} V; the controller was switched OFF. Use MANUAL mode "
                "(set_manual_bias) on this bench, or check the modulator's bias point")
        return bias

    def recalibrate(self) -> None:
        """Run the MBX's bias calibration (``MZM:RESET``, acknowledged with ``1``)."""
        reply = self.ask("MZM:RESET").strip()
        if reply != "1":
            raise ProtocolError(f"{self.name}: MZM:RESET was acknowledged with {reply!r}, expected '1'")

    def identify(self) -> Identity:
        """Ask who it is with the optional identity queries (see the module docstring); never stalls.

        Raises ``Timeout`` only when the link itself is silent (``MZM:MODE?`` unanswered).
        """
        with self.transaction():
            model = self.ask_optional("SYSTEM:MODEL?")
            if model is not None and model.strip():
                serial = self.ask_optional("SYSTEM:SERIAL?") or ""
                firmware = self.ask_optional("SYSTEM:FIRMWARE?") or ""
                return Identity("Thorlabs", model.strip(), serial.strip(), firmware.strip())
            idn = self.ask_optional("*IDN?")
            if idn is not None and "," in idn:
                return Identity.from_idn(idn)
            self.ask("MZM:MODE?")  # the link is alive: the firmware just has no identity query we know
        return Identity("Thorlabs", "MBX (no identity query answered)", "", "")
