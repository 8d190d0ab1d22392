"""Simulated power meters: Thorlabs PM100 and Keysight 8163B power-meter heads.

Readings come from ``model.measure_power(port, averaging_time)`` (seeded noise, virtual clock),
then what the instrument does to them: a responsivity correction when the meter is set to a
wavelength other than the light's (modelled as the ratio of an InGaAs-like linear responsivity,
documented as our choice), the dark offset removed after zeroing, and 9.9e37 when a fixed range is
exceeded.
"""

from __future__ import annotations

from typing import Any

from .base import ScpiArgumentError, ScpiEmulator, parse_bool, parse_number, scpi

__all__ = ["ThorlabsPM100Emulator", "Keysight8163BEmulator"]

OVERRANGE_REPLY = "9.9E37"
#: Ports that carry the probe laser's light (its wavelength sets the responsivity correction).
PROBE_PORTS = ("injected", "backreflection")


def _responsivity_ratio(set_wavelength_m: float, light_wavelength_m: float) -> float:
    """Reading / true power when the correction wavelength is wrong (InGaAs-like R ∝ λ near 1.5 µm)."""
    return light_wavelength_m / set_wavelength_m


#: Wavelength range of the emulated S155C-like InGaAs sensor (nm), as ``SENS:CORR:WAV? MIN|MAX`` gives it.
_SENSOR_NM = (800.0, 1700.0)


class ThorlabsPM100Emulator(ScpiEmulator):
    """A PM100D with an S155C-like InGaAs sensor. Option ``port``: the model port it reads."""

    idn = "Thorlabs,PM100D,P0012345,2.8.0"

    def __init__(self, model: Any, name: str, *, port: str = "monitor", **options: Any) -> None:
        self.port = port
        super().__init__(model, name, **options)

    def reset(self) -> None:
        self.wavelength_nm = 1550.0
        self.auto_range = True
        self.range_upper_w = 5e-3
        self.averaging = 1
        self.unit = "W"
        self.dark_offset_w = 0.0

    def _reading(self) -> str:
        with self.model.lock:
            power = self.model.measure_power(self.port, 3e-3 * self.averaging)
            light = self.model.probe.wavelength_m if self.port in PROBE_PORTS else self.model.source.wavelength_m
        power = power * _responsivity_ratio(self.wavelength_nm * 1e-9, light) - self.dark_offset_w
        if not self.auto_range and power > self.range_upper_w:
            return OVERRANGE_REPLY
        return f"{power:.6E}"

    @scpi("MEASure[:SCALar]:POWer?", "READ?", "FETCh?")
    def _power(self, args: str) -> str:
        return self._reading()

    @scpi("[SENSe:]CORRection:WAVelength?")
    def _wav_q(self, args: str) -> str:
        end = args.strip().upper()[:3]
        if end in ("MIN", "MAX"):
            return f"{_SENSOR_NM[0] if end == 'MIN' else _SENSOR_NM[1]:.6g}"
        return f"{self.wavelength_nm:.6g}"

    @scpi("[SENSe:]CORRection:WAVelength")
    def _wav(self, args: str) -> None:
        self.wavelength_nm = self.check_range("wavelength", parse_number(args), *_SENSOR_NM)

    @scpi("[SENSe:]POWer[:DC]:RANGe:AUTO?")
    def _auto_q(self, args: str) -> str:
        return "1" if self.auto_range else "0"

    @scpi("[SENSe:]POWer[:DC]:RANGe:AUTO")
    def _auto(self, args: str) -> None:
        self.auto_range = parse_bool(args)

    @scpi("[SENSe:]POWer[:DC]:RANGe[:UPPer]?")
    def _range_q(self, args: str) -> str:
        return f"{self.range_upper_w:.6E}"

    @scpi("[SENSe:]POWer[:DC]:RANGe[:UPPer]")
    def _range(self, args: str) -> None:
        self.range_upper_w = self.check_range("range", parse_number(args, units=("W",)), 1e-9, 10.0)
        self.auto_range = False

    @scpi("[SENSe:]AVERage[:COUNt]?")
    def _aver_q(self, args: str) -> str:
        return str(self.averaging)

    @scpi("[SENSe:]AVERage[:COUNt]")
    def _aver(self, args: str) -> None:
        self.averaging = int(self.check_range("averaging count", parse_number(args), 1, 10000))

    @scpi("[SENSe:]POWer[:DC]:UNIT")
    def _unit(self, args: str) -> None:
        if args.strip().upper() not in ("W", "DBM"):
            raise ScpiArgumentError(f"unit {args!r}")
        self.unit = args.strip().upper()

    @scpi("[SENSe:]CORRection:COLLect:ZERO[:INITiate]")
    def _zero(self, args: str) -> None:
        with self.model.lock:
            # zeroing measures whatever reaches the sensor: dark only if the user blocked the light
            self.dark_offset_w = self.model.measure_power(self.port, 0.1)

    @scpi("[SENSe:]CORRection:COLLect:ZERO:STATe?")
    def _zero_state(self, args: str) -> str:
        return "0"

    @scpi("[SENSe:]CORRection:COLLect:ZERO:MAGNitude?")
    def _zero_magn(self, args: str) -> str:
        return f"{self.dark_offset_w:.6E}"

    @scpi("SYSTem:SENSor:IDN?")
    def _sensor(self, args: str) -> str:
        return "S155C,1234567,07-Jan-2026,1,18,289"


class Keysight8163BEmulator(ScpiEmulator):
    """An 8163B with power-meter modules. Option ``channels``: {"slot,chan": model port}."""

    idn = "Keysight Technologies,8163B,MY00000001,V5.25(72637)"

    def __init__(self, model: Any, name: str, *, channels: dict[str, str] | None = None, **options: Any) -> None:
        mapping = channels or {"1,1": "interferometer", "2,1": "backreflection"}
        self.ports = {tuple(int(x) for x in key.split(",")): port for key, port in mapping.items()}
        super().__init__(model, name, **options)

    def reset(self) -> None:
        self.heads = {key: {"wavelength_m": 1550e-9, "atime_s": 0.1, "unit_w": False, "auto": True, "range_dbm": 0.0}
                      for key in self.ports}

    def _head(self, slot: int, chan: int) -> dict[str, Any]:
        head = self.heads.get((slot, chan))
        if head is None:
            raise ScpiArgumentError(f"no power-meter module at slot {slot}, channel {chan}", code=-222)
        return head

    def _read(self, slot: int, chan: int) -> str:
        head = self._head(slot, chan)
        port = self.ports[(slot, chan)]
        with self.model.lock:
            power = self.model.measure_power(port, head["atime_s"])
            light = self.model.probe.wavelength_m if port in PROBE_PORTS else self.model.source.wavelength_m
        power *= _responsivity_ratio(head["wavelength_m"], light)
        if head["unit_w"]:
            return f"{power:+.6E}"
        from ...units import watt_to_dbm

        return f"{watt_to_dbm(max(power, 1e-15)):+.6E}"

    @scpi("READ{slot}:CHANnel{chan}:POWer?", "FETCh{slot}:CHANnel{chan}:POWer?")
    def _power(self, args: str, slot: int, chan: int) -> str | None:
        return self._read(slot, chan)

    @scpi("SENSe{slot}:CHANnel{chan}:POWer:WAVelength?")
    def _wav_q(self, args: str, slot: int, chan: int) -> str:
        return f"{self._head(slot, chan)['wavelength_m']:+.6E}"

    @scpi("SENSe{slot}:CHANnel{chan}:POWer:WAVelength")
    def _wav(self, args: str, slot: int, chan: int) -> None:
        head = self._head(slot, chan)
        head["wavelength_m"] = self.check_range("wavelength", parse_number(args, units=("M",)), 800e-9, 1700e-9)

    @scpi("SENSe{slot}:CHANnel{chan}:POWer:ATIMe?")
    def _atim_q(self, args: str, slot: int, chan: int) -> str:
        return f"{self._head(slot, chan)['atime_s']:+.6E}"

    @scpi("SENSe{slot}:CHANnel{chan}:POWer:ATIMe")
    def _atim(self, args: str, slot: int, chan: int) -> None:
        head = self._head(slot, chan)
        head["atime_s"] = self.check_range("averaging time", parse_number(args, units=("S",)), 100e-6, 10.0)

    @scpi("SENSe{slot}:CHANnel{chan}:POWer:UNIT")
    def _unit(self, args: str, slot: int, chan: int) -> None:
        self._head(slot, chan)["unit_w"] = args.strip().upper() in ("1", "W", "WATT")

    def _module(self, slot: int) -> list[dict[str, Any]]:
        heads = [head for (s, _), head in self.heads.items() if s == slot]
        if not heads:
            raise ScpiArgumentError(f"no power-meter module in slot {slot}", code=-222)
        return heads

    @scpi("SENSe{slot}:POWer:RANGe:AUTO?")
    def _auto_q(self, args: str, slot: int) -> str:
        return "1" if self._module(slot)[0]["auto"] else "0"

    @scpi("SENSe{slot}:POWer:RANGe:AUTO")
    def _auto(self, args: str, slot: int) -> None:
        """Auto-range is a module setting: both heads of a dual module follow it."""
        state = parse_bool(args)
        for head in self._module(slot):
            head["auto"] = state

    @scpi("SENSe{slot}:CHANnel{chan}:POWer:RANGe[:UPPer]?")
    def _range_q(self, args: str, slot: int, chan: int) -> str:
        return f"{self._head(slot, chan)['range_dbm']:+.6E}"

    @scpi("SENSe{slot}:CHANnel{chan}:POWer:RANGe[:UPPer]")
    def _range(self, args: str, slot: int, chan: int) -> None:
        head = self._head(slot, chan)
        head["range_dbm"] = self.check_range("range", parse_number(args, units=("DBM",)), -110.0, 30.0)
        head["auto"] = False

    @scpi("SENSe{slot}:CHANnel{chan}:CORRection:COLLect:ZERO")
    def _zero(self, args: str, slot: int, chan: int) -> None:
        self._head(slot, chan)
