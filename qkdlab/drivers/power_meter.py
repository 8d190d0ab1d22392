"""Optical power meters: Thorlabs PM100D/PM100USB/PM400 and Keysight 8163B/8164B power-meter modules.

Sources of the command sets
---------------------------
- Thorlabs PM100 family (USB-TMC SCPI) [read]: PyMeasure ``thorlabs/thorlabspm100usb.py``
  (``SENS:CORR:WAV``, ``MEAS:POW?``), QCoDeS-contrib ``Thorlabs/PM100D.py`` (``SENS:POW:RANG:AUTO``,
  ``SENS:POW:RANG:UPP``, ``CORR:COLL:ZERO``), clade ``ThorlabsPM100`` (the full SCPI tree,
  ``SENS:AVER:COUN``, ``SYST:SENS:IDN?``); over-range is reported as 9.9e37. Lesson kept from a
  third-party PM16 driver: settings can be rejected silently (-113) unless every setting is followed
  by ``SYST:ERR?``, which the base class does by default.
  PM100 sensor checks [read]: PyMeasure ``thorlabs/thorlabspm100usb.py`` asks ``SENS:CORR:WAV? MIN``
  and ``MAX`` (nm) for the connected sensor's wavelength range and refuses to work when
  ``SYST:SENSOR:IDN?`` names "no sensor"; the driver does both (the range is read once, when a
  wavelength is first set, instead of a 400..1800 nm guess that no sensor covers).
- Keysight 8163B / 8164B mainframes and N774x [unverified: consistent across several third-party
  drivers, not checked against the Keysight programming guide]: slot/channel addressing
  ``SENS<s>:CHAN<c>:POW:WAV``, ``SENS<s>:CHAN<c>:POW:ATIM``, ``SENS<s>:CHAN<c>:POW:UNIT 0|1``
  (dBm/W), ``READ<s>:CHAN<c>:POW?`` (triggers) and ``FETC<s>:CHAN<c>:POW?`` (last value).
  Auto-range is sent per *slot*, ``SENS<s>:POW:RANG:AUTO`` (both heads of a dual module at once),
  as the public scripts do (``'sens' + str(slot_no) + ':pow:rang:auto 1'``, index id 37848458164;
  ``'SENS' + channel + ':POW:RANG:AUTO 1'``, id 45037867330). [unverified, recalled from the
  8163B guide] manual range ``SENS<s>:CHAN<c>:POW:RANG <dBm>`` and zeroing
  ``SENS<s>:CHAN<c>:CORR:COLL:ZERO`` (then ``*OPC?``). The logging function
  (``SENS:FUNC:STAT LOGG,STAR``) is not offered: no source at hand shows its result format.

Both drivers work in W only: the power unit is forced to W when they connect, so a front-panel
change to dBm cannot turn a number into a different quantity.
"""

from __future__ import annotations

import time
from typing import Any

from ..errors import InstrumentError, Timeout
from ..units import watt_to_dbm
from .base import Channel, SCPIInstrument, control, measurement

__all__ = ["ThorlabsPM100", "Keysight8163B", "Keysight8163BChannel"]


def _sensor_wavelengths(pm: ThorlabsPM100) -> tuple[float, float]:
    return pm.wavelength_range


class ThorlabsPM100(SCPIInstrument):
    """Thorlabs PM100D / PM100USB / PM400 optical power meter (one sensor).

    Opening it checks that a sensor is connected (``SYST:SENS:IDN?``); the wavelength range is the
    connected sensor's (``SENS:CORR:WAV? MIN|MAX``), read once.
    """

    default_settings = {"timeout": 3.0, "write_termination": "\n", "read_termination": "\n"}
    probe_extra_queries = ("*IDN?", "SYST:SENS:IDN?", "SENS:CORR:WAV? MIN", "SENS:CORR:WAV? MAX",
                           "SENS:CORR:COLL:ZERO:STAT?")

    wavelength = control("SENS:CORR:WAV?", "SENS:CORR:WAV {value:.6g}",
                         "Control the wavelength correction (m; sent in nm), within the sensor's range.",
                         unit="m", scale=1e9, limits=_sensor_wavelengths)
    auto_range = control("SENS:POW:RANG:AUTO?", "SENS:POW:RANG:AUTO {value}",
                         "Control automatic range selection.", values={True: 1, False: 0}, cast=int)
    range_upper = control("SENS:POW:RANG:UPP?", "SENS:POW:RANG:UPP {value:.6g}",
                          "Control the fixed measurement range: the largest power it reads (W).", unit="W",
                          limits=(1e-9, 10.0))
    averaging_count = control("SENS:AVER:COUN?", "SENS:AVER:COUN {value:d}",
                              "Control how many samples (about 3 ms each) one reading averages.",
                              cast=int, limits=(1, 10000))
    power = measurement("MEAS:POW?", "Measure the optical power (W); over-range raises OverrangeError.", unit="W")
    zero_offset = measurement("SENS:CORR:COLL:ZERO:MAGN?", "Get the dark offset found by the last zeroing (W).",
                              unit="W")

    def __init__(self, resource: Any, name: str | None = None, **kwargs: Any) -> None:
        self._wavelength_range: tuple[float, float] | None = None
        super().__init__(resource, name, **kwargs)
        self.write("SENS:POW:UNIT W")
        self.check_errors("SENS:POW:UNIT W")
        self.sensor_identity()

    @property
    def wavelength_range(self) -> tuple[float, float]:
        """The connected sensor's wavelength range (m), asked once (``SENS:CORR:WAV? MIN|MAX``, nm)."""
        if self._wavelength_range is None:
            low, high = (float(self.ask(f"SENS:CORR:WAV? {end}")) * 1e-9 for end in ("MIN", "MAX"))
            self._wavelength_range = (low, high)
        return self._wavelength_range

    @property
    def power_dbm(self) -> float:
        """Measure the optical power in dBm (a plain float)."""
        return watt_to_dbm(float(self.power.to("W").magnitude))

    def sensor_identity(self) -> dict[str, str]:
        """Get the connected sensor's name, serial number, calibration message and type; refuse
        "no sensor" (every reading would be meaningless)."""
        fields = [f.strip() for f in self.ask("SYST:SENS:IDN?").split(",")]
        keys = ("name", "serial", "calibration", "type", "subtype", "flags")
        if not fields[0] or fields[0].lower() == "no sensor":
            raise InstrumentError(f"{self.name}: no sensor is connected to the power meter (SYST:SENS:IDN? "
                                  f"answered {fields[0]!r}); plug the sensor head in and open it again")
        return dict(zip(keys, fields, strict=False))

    def zero(self, timeout_s: float = 10.0, poll_s: float = 0.05) -> Any:
        """Zero the sensor in the dark: start, poll until done, return the dark offset (W).

        Block the light first: zeroing with light on shifts every later reading down.
        """
        with self.transaction():
            self.write("SENS:CORR:COLL:ZERO:INIT")
            self.check_errors("SENS:CORR:COLL:ZERO:INIT")
        deadline = time.monotonic() + timeout_s
        while self.ask("SENS:CORR:COLL:ZERO:STAT?").strip() not in ("0", "+0"):
            if time.monotonic() > deadline:
                raise Timeout(f"{self.name}: zeroing did not finish within {timeout_s:g} s")
            time.sleep(poll_s)
        return self.zero_offset


class Keysight8163BChannel(Channel):
    """One power-meter head: module slot ``slot`` and channel ``chan`` of an 8163B/8164B/N774x."""

    def __init__(self, parent: Keysight8163B, slot: int, chan: int) -> None:
        super().__init__(parent, f"{slot},{chan}")
        self.slot = slot
        self.chan = chan
        self.name = f"{parent.name}.s{slot}c{chan}"

    def format_command(self, template: str, **fields: Any) -> str:
        return template.format(slot=self.slot, chan=self.chan, **fields)

    wavelength = control("SENS{slot}:CHAN{chan}:POW:WAV?", "SENS{slot}:CHAN{chan}:POW:WAV {value:.6g}",
                         "Control the wavelength correction (m).", unit="m", limits=(800e-9, 1700e-9))
    averaging_time = control("SENS{slot}:CHAN{chan}:POW:ATIM?", "SENS{slot}:CHAN{chan}:POW:ATIM {value:.6g}",
                             "Control the averaging time of one reading (s).", unit="s", limits=(100e-6, 10.0))
    auto_range = control("SENS{slot}:POW:RANG:AUTO?", "SENS{slot}:POW:RANG:AUTO {value}",
                         "Control automatic range selection of the module (both heads of a dual module).",
                         values={True: 1, False: 0}, cast=int)
    range_dbm = control("SENS{slot}:CHAN{chan}:POW:RANG?", "SENS{slot}:CHAN{chan}:POW:RANG {value:.6g}",
                        "Control the manual measurement range (dBm, plain float; switches auto-range off) "
                        "[unverified].", unit="dB", limits=(-110.0, 30.0), optional_query=True)
    power = measurement("READ{slot}:CHAN{chan}:POW?",
                        "Measure the optical power now (W); over-range raises OverrangeError.", unit="W")
    last_power = measurement("FETC{slot}:CHAN{chan}:POW?", "Get the last measured power without triggering (W).",
                             unit="W")

    def zero(self) -> None:
        """Zero the head in the dark (``SENS<s>:CHAN<c>:CORR:COLL:ZERO``, then ``*OPC?``) [unverified].

        Block the light first: zeroing with light on shifts every later reading down.
        """
        command = self.format_command("SENS{slot}:CHAN{chan}:CORR:COLL:ZERO")
        parent = self.parent
        with self.transaction():
            self.write(command)
            previous = parent.transport.timeout
            parent.transport.timeout = max(previous, 30.0)
            try:
                parent.wait_complete()
            finally:
                parent.transport.timeout = previous
            parent.check_errors(command)


class Keysight8163B(SCPIInstrument):
    """Keysight 8163B/8164B mainframe with power-meter modules (or an N774x multiport meter).

    ``heads`` lists the (slot, channel) pairs in use, e.g. ``[(1, 1), (2, 1)]`` (default: slot 1,
    channel 1 only: configuring a slot that holds a laser or attenuator fails); each becomes a
    ``Keysight8163BChannel`` reachable as ``meter.head(slot, chan)``. The power unit of every head
    is set to W on connect.
    """

    default_settings = {"timeout": 5.0, "write_termination": "\n", "read_termination": "\n"}
    channel_classes = (Keysight8163BChannel,)

    def __init__(self, resource: Any, name: str | None = None, *, heads: Any = ((1, 1),),
                 **kwargs: Any) -> None:
        super().__init__(resource, name, **kwargs)
        self._heads = {(int(s), int(c)): Keysight8163BChannel(self, int(s), int(c)) for s, c in heads}
        for head in self._heads.values():
            command = head.format_command("SENS{slot}:CHAN{chan}:POW:UNIT 1")
            self.write(command)
            self.check_errors(command)

    @property
    def channels(self) -> list[Channel]:
        return list(self._heads.values())

    def head(self, slot: int, chan: int = 1) -> Keysight8163BChannel:
        """The power-meter head in module ``slot``, channel ``chan``."""
        try:
            return self._heads[(slot, chan)]
        except KeyError:
            raise KeyError(f"{self.name}: no head at slot {slot}, channel {chan}; configured: "
                           f"{sorted(self._heads)}") from None

    def power(self, slot: int, chan: int = 1) -> Any:
        """Measure the power of one head (W)."""
        return self.head(slot, chan).power

