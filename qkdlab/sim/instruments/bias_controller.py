"""Emulator of a Thorlabs MBX-series modulator bias controller (serial, 115200 baud, ``\\r`` framing).

It speaks the command set of ``qkdlab.drivers.bias_controller`` (see its docstring for the
sources) and is the one instrument that writes ``model.im_bias_v``:

- MANUAL: the bias is the hold voltage;
- AUTOPEAK / AUTONULL / AUTOQUADPOS / AUTOQUADNEG: the bias is ``model.im_bias_for("peak" |
  "null" | "quad+" | "quad-")``, recomputed on every message the MBX receives, so it tracks the
  model's bias drift whenever anyone talks to the controller;
- AUTOPOWERPOS / AUTOPOWERNEG: the bias on the rising (POS, the quad+ side) or falling (NEG) slope
  where the modulator transmits ``hold ratio`` of its peak, also tracking;
- HOLDQUADPOS / HOLDQUADNEG: the quadrature point is found once when the mode is entered and its
  voltage then held (no tracking) [unverified: our reading of "hold"];
- OFF: the bias output is 0 V.

A lock needs light: with no power at the tap (source laser off) an automatic mode cannot find its
point, the bias stays where it was and ``MZM:SETPOINT?`` answers 0 until light comes back.

Replies follow the PyMeasure tests: set commands get no reply except ``MZM:RESET`` and
``VOA:MODE: <n>`` (``1``); numbers as plain decimals. Emulator policies where the real MBX's
behaviour is unknown [unverified]: an unknown command or a refused value (out of range, not a
number) gets no reply and changes nothing (the MBX has no error queue); calibration
(``MZM:RESET``) completes at once; identity comes from ``SYSTEM:MODEL?``, ``SYSTEM:SERIAL?`` and
``SYSTEM:FIRMWARE?`` (short forms ``SYS:``/``SER``/``FIRM`` accepted too).

The integrated VOA is not in the bench model's optical path (the IM output reaches the phase
modulator whatever the MBX VOA does): the emulator keeps its settings and reports readings as if
it attenuated the light leaving the modulator (the tap power divided by the tap ratio), but
nothing else on the bench depends on it. Unpowered (``VOA:POWER: 0``) it attenuates nothing and
reports not stable.
"""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar

from .base import Emulator

__all__ = ["ThorlabsMBXEmulator"]

_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_LOCK_POINTS = {1: "peak", 2: "null", 3: "quad+", 4: "quad-"}
_HOLD_POINTS = {5: "quad+", 6: "quad-"}
#: Below this tap power (W) there is not enough light to lock.
_MIN_LOCK_POWER = 1e-9


def _number(text: str) -> float | None:
    text = text.strip()
    return float(text) if _NUMBER.match(text) else None


class ThorlabsMBXEmulator(Emulator):
    """A simulated MBX; options ``model_name`` (default "MBX"), ``serial``, ``firmware``."""

    read_termination: ClassVar[bytes] = b"\r"
    write_termination: ClassVar[bytes] = b"\r"
    serial_settings: ClassVar[dict[str, Any] | None] = {"baudrate": 115200}

    def __init__(self, model: Any, name: str, **options: Any) -> None:
        super().__init__(model, name, **options)
        self.model_name = str(options.get("model_name", "MBX"))
        self.serial = str(options.get("serial", "M00000001"))
        self.firmware = str(options.get("firmware", "1.0.0"))
        self.reset()

    def reset(self) -> None:
        """Power-on settings: controller OFF (0 V bias), hold 0 V, ratio 50 %, VOA off at 0.5 dB."""
        self.mode = 0
        self.hold_mv = 0
        self.ratio_x100 = 5000
        self.held_bias_v = 0.0
        self.locked = False
        self.voa_powered = False
        self.voa_mode = 0
        self.voa_atten_db = 0.5
        self.voa_output_mw = 1.0
        self._update_bias(entering=True)

    # -- bias control --------------------------------------------------------------------------
    def _ratio_bias(self, positive: bool) -> float:
        """Bias on the rising (positive) or falling slope where T/T_peak = hold ratio, within ±10 V."""
        p = self.model.params
        floor = 10.0 ** (-p.im_extinction_ratio_db / 10.0)
        target = min(max((self.ratio_x100 / 1e4 - floor) / (1.0 - floor), 0.0), 1.0)
        offset = (2.0 * p.im_vpi_dc_v / math.pi) * math.acos(math.sqrt(target))
        bias = self.model.im_peak_bias() + (-offset if positive else offset)
        period = 2.0 * p.im_vpi_dc_v
        while bias > 10.0:
            bias -= period
        while bias < -10.0:
            bias += period
        return bias

    def _has_light(self) -> bool:
        return self.model.optical_power("im_tap") > _MIN_LOCK_POWER

    def _update_bias(self, entering: bool = False) -> None:
        """Apply the present mode to ``model.im_bias_v`` (called on every message: drift tracking)."""
        with self.model.lock:
            mode = self.mode
            if mode == 0:
                self.model.im_bias_v = 0.0
                self.locked = False
            elif mode == 7:
                self.model.im_bias_v = self.hold_mv / 1e3
                self.locked = True
            elif mode in _HOLD_POINTS:
                if entering or not self.locked:
                    if self._has_light():
                        self.held_bias_v = self.model.im_bias_for(_HOLD_POINTS[mode])
                        self.locked = True
                    else:
                        self.locked = False
                if self.locked:
                    self.model.im_bias_v = self.held_bias_v
            else:
                if not self._has_light():
                    self.locked = False   # no light: the bias stays where it was
                    return
                if mode in _LOCK_POINTS:
                    self.model.im_bias_v = self.model.im_bias_for(_LOCK_POINTS[mode])
                else:
                    self.model.im_bias_v = self._ratio_bias(positive=(mode == 8))
                self.locked = True

    # -- VOA readings --------------------------------------------------------------------------
    def _voa_input_w(self) -> float:
        ratio = self.model.params.im_tap_ratio
        return self.model.optical_power("im_tap") * (1.0 - ratio) / ratio

    def _voa_applied_db(self) -> float:
        if not self.voa_powered:
            return 0.0
        if self.voa_mode == 1:
            into = self._voa_input_w()
            wanted = self.voa_output_mw / 1e3
            needed = 10.0 * math.log10(into / wanted) if into > 0 else 20.0
            return min(max(needed, 0.5), 20.0)
        return self.voa_atten_db

    def _voa_stable(self) -> bool:
        if not self.voa_powered:
            return False
        if self.voa_mode == 1:
            into = self._voa_input_w()
            if into <= 0:
                return False
            out = into * 10.0 ** (-self._voa_applied_db() / 10.0)
            return abs(10.0 * math.log10(out / (self.voa_output_mw / 1e3))) <= 0.1
        return True

    # -- message handling ----------------------------------------------------------------------
    def handle(self, message: bytes) -> bytes | None:
        try:
            text = message.decode("ascii").strip().upper()
        except UnicodeDecodeError:
            return None
        self._update_bias()
        reply = self._dispatch(text)
        return None if reply is None else reply.encode("ascii")

    def _dispatch(self, text: str) -> str | None:
        queries = {
            "MZM:MODE?": lambda: str(self.mode),
            "MZM:HOLD:VOLTAGE?": lambda: str(self.hold_mv),
            "MZM:HOLD:RATIO?": lambda: str(self.ratio_x100),
            "MZM:VOLTAGE?": lambda: f"{self.model.im_bias_v:.3f}",
            "MZM:TAP:MW?": lambda: f"{self.model.optical_power('im_tap') * 1e3:.6g}",
            "MZM:SETPOINT?": lambda: "1" if self.locked else "0",
            "MZM:CALIBRATING?": lambda: "0",
            "VOA:POWER?": lambda: "1" if self.voa_powered else "0",
            "VOA:MODE?": lambda: str(self.voa_mode),
            "VOA:ATTEN?": lambda: f"{self.voa_atten_db:g}",
            "VOA:OUTPUT:MW?": lambda: f"{self.voa_output_mw:g}",
            "VOA:MEASURED?": lambda: f"{self._voa_applied_db():.2f}",
            "VOA:ERROR?": lambda: f"{self._voa_applied_db() - self.voa_atten_db:.2f}",
            "VOA:SETPOINT?": lambda: "1" if self._voa_stable() else "0",
            "VOA:TAP:MW?": lambda: f"{self._voa_input_w() * 10.0 ** (-self._voa_applied_db() / 10.0) * 1e3:.6g}",
        }
        identity = {"MODEL": self.model_name, "SERIAL": self.serial, "SER": self.serial,
                    "FIRMWARE": self.firmware, "FIRM": self.firmware}
        if text in queries:
            with self.model.lock:
                return queries[text]()
        if text.endswith("?") and text.split(":", 1)[0] in ("SYSTEM", "SYS"):
            return identity.get(text[:-1].split(":", 1)[1]) if ":" in text else None
        if text == "MZM:RESET":
            self._update_bias(entering=True)
            return "1"
        head, sep, arg = text.rpartition(":")
        if not sep:
            return None
        value = _number(arg)
        if value is None:
            return None
        return self._set(head.strip(), value)

    def _set(self, head: str, value: float) -> str | None:
        """Apply one setting; out-of-range values are ignored (no error queue to report them)."""
        whole = value == int(value)
        if head == "MZM:MODE" and whole and 0 <= value <= 9:
            self.mode = int(value)
            self._update_bias(entering=True)
        elif head == "MZM:HOLD:VOLTAGE" and whole and -10000 <= value <= 10000:
            self.hold_mv = int(value)
            self._update_bias()
        elif head == "MZM:HOLD:RATIO" and whole and 250 <= value <= 10000:
            self.ratio_x100 = int(value)
            self._update_bias()
        elif head == "VOA:POWER" and value in (0, 1):
            self.voa_powered = bool(value)
        elif head == "VOA:MODE" and value in (0, 1):
            self.voa_mode = int(value)
            return "1"
        elif head == "VOA:ATTEN" and 0.5 <= value <= 20.0:
            self.voa_atten_db = value
        elif head == "VOA:OUTPUT:MW" and 0.01 <= value <= 100.0:
            self.voa_output_mw = value
        return None
