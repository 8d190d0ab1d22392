"""Emulator of a Yokogawa AQ6370 optical spectrum analyser on the transmitter's monitor tap.

It speaks the SCPI subset of ``qkdlab.drivers.osa`` (long and short forms; see the driver's
docstring for the sources) and turns the model's spectrum into what the instrument transfers:

- option ``port`` (default "monitor"): the model port it looks at (only the monitor tap is
  modelled, ``TransmitterModel.optical_spectrum``);
- a sweep (``:INITiate``) samples ``points`` wavelengths evenly over centre ± span/2 and reads at
  each the power within a Gaussian filter of FWHM = resolution (``optical_spectrum``), plus
  Gaussian noise: ``relative_noise`` (default 2e-3) of the reading and an absolute floor
  ``noise_floor_w`` (default 1e-12 W, about -90 dBm: a high-sensitivity setting), both divided by
  √averages; the whole sweep's wavelength axis is offset by a random ``N(0, wavelength_jitter_m)``
  (default 2e-15 m — far better than a grating OSA's stated repeatability, a choice of the
  simulated bench, so that MHz-scale chirp is resolvable; set it to the instrument's figure to see
  what a real bench would bound);
- levels are transferred in dBm (the logarithmic axis the driver forces); a reading ≤ 0 W is sent
  as -210 dBm, the instrument's floor [unverified];
- the sweep's noise and jitter are drawn at ``:INITiate`` from a generator seeded from
  ``model.rng`` (a bench seed reproduces every trace); a sweep advances the virtual clock by
  points × averages × 1 ms and bit 0 of ``:STATus:OPERation:EVENt?`` is set when it completes
  (reading the register clears it).

Emulator policies where the real instrument was not consulted [unverified]: linear level axis and
binary (REAL) trace formats are refused (-224, "not emulated"); ``:TRACe:X?``/``:TRACe:Y?`` before
any sweep return a trace of zeros; only trace A exists.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .base import ScpiArgumentError, ScpiEmulator, parse_bool, parse_number, scpi

__all__ = ["YokogawaAQ6370Emulator"]

_RESOLUTIONS_M = (0.02e-9, 0.05e-9, 0.1e-9, 0.2e-9, 0.5e-9, 1e-9, 2e-9)
_SWEEP_MODES = {"1": 1, "SING": 1, "SINGLE": 1, "2": 2, "REP": 2, "REPEAT": 2, "3": 3, "AUTO": 3,
                "4": 4, "SEGM": 4, "SEGMENT": 4}
_FLOOR_DBM = -210.0


class YokogawaAQ6370Emulator(ScpiEmulator):
    """An AQ6370D on the monitor tap. Options ``port``, ``relative_noise``, ``noise_floor_w``, ``wavelength_jitter_m``."""

    idn = "YOKOGAWA,AQ6370D,91U000001,01.07"

    def __init__(self, model: Any, name: str, *, port: str = "monitor", relative_noise: float = 2e-3,
                 noise_floor_w: float = 1e-12, wavelength_jitter_m: float = 2e-15, **options: Any) -> None:
        if port != "monitor":
            raise ValueError(f"{name}: the simulated OSA looks at the 'monitor' port only, not {port!r}")
        self.relative_noise = float(relative_noise)
        self.noise_floor_w = float(noise_floor_w)
        self.wavelength_jitter_m = float(wavelength_jitter_m)
        super().__init__(model, name, **options)

    def reset(self) -> None:
        self.centre_m = 1550e-9
        self.span_m = 10e-9
        self.resolution_m = 0.1e-9
        self.points = 1001
        self.auto_points = True
        self.averages = 1
        self.sweep_mode = 3
        self.operation_event = 0
        self.x_m = np.zeros(self.points)
        self.y_w = np.zeros(self.points)

    # -- settings --------------------------------------------------------------------------------
    @scpi("FORMat[:DATA]")
    def _format(self, args: str) -> None:
        if args.strip().upper() not in ("ASC", "ASCII"):
            raise ScpiArgumentError(f"trace format {args.strip()!r} is not emulated; use ASCii")

    @scpi("DISPlay:TRACe:Y1:SPACing")
    def _spacing(self, args: str) -> None:
        if args.strip().upper() not in ("LOG", "LOGARITHMIC", "0"):
            raise ScpiArgumentError(f"level spacing {args.strip()!r} is not emulated; use LOGarithmic")

    @scpi("[SENSe:]WAVelength:CENTer?")
    def _centre_q(self, args: str) -> str:
        return f"{self.centre_m:+.10E}"

    @scpi("[SENSe:]WAVelength:CENTer")
    def _centre(self, args: str) -> None:
        self.centre_m = self.check_range("centre", parse_number(args, units=("M",)), 600e-9, 1700e-9)

    @scpi("[SENSe:]WAVelength:SPAN?")
    def _span_q(self, args: str) -> str:
        return f"{self.span_m:+.10E}"

    @scpi("[SENSe:]WAVelength:SPAN")
    def _span(self, args: str) -> None:
        self.span_m = self.check_range("span", parse_number(args, units=("M",)), 0.0, 1100e-9)

    @scpi("[SENSe:]BWIDth[:RESolution]?", "[SENSe:]BANDwidth[:RESolution]?")
    def _resolution_q(self, args: str) -> str:
        return f"{self.resolution_m:+.10E}"

    @scpi("[SENSe:]BWIDth[:RESolution]", "[SENSe:]BANDwidth[:RESolution]")
    def _resolution(self, args: str) -> None:
        value = parse_number(args, units=("M",))
        match = [r for r in _RESOLUTIONS_M if abs(value - r) <= 1e-6 * r]
        if not match:
            raise ScpiArgumentError(f"resolution {value:g} m is not a setting", code=-222)
        self.resolution_m = match[0]

    @scpi("[SENSe:]SWEep:POINts?")
    def _points_q(self, args: str) -> str:
        return f"{self.points:d}"

    @scpi("[SENSe:]SWEep:POINts")
    def _points(self, args: str) -> None:
        value = parse_number(args)
        if value != int(value):
            raise ScpiArgumentError(f"points {args!r} is not a whole number", code=-222)
        self.points = int(self.check_range("points", value, 51, 50001))
        self.auto_points = False

    @scpi("[SENSe:]SWEep:POINts:AUTO")
    def _points_auto(self, args: str) -> None:
        self.auto_points = parse_bool(args)

    @scpi("[SENSe:]AVERage:COUNt?")
    def _averages_q(self, args: str) -> str:
        return f"{self.averages:d}"

    @scpi("[SENSe:]AVERage:COUNt")
    def _averages(self, args: str) -> None:
        value = parse_number(args)
        if value != int(value):
            raise ScpiArgumentError(f"averages {args!r} is not a whole number", code=-222)
        self.averages = int(self.check_range("averages", value, 1, 999))

    @scpi("INITiate:SMODe?")
    def _smode_q(self, args: str) -> str:
        return f"{self.sweep_mode:d}"

    @scpi("INITiate:SMODe")
    def _smode(self, args: str) -> None:
        word = args.strip().upper()
        if word not in _SWEEP_MODES:
            raise ScpiArgumentError(f"sweep mode {args.strip()!r}")
        self.sweep_mode = _SWEEP_MODES[word]

    # -- sweeps and traces -----------------------------------------------------------------------
    @scpi("INITiate[:IMMediate]")
    def _initiate(self, args: str) -> None:
        n = self.points
        x = self.centre_m + (np.arange(n) / max(n - 1, 1) - 0.5) * self.span_m
        with self.model.lock:
            rng = np.random.default_rng(int(self.model.rng.integers(0, 2**63 - 1)))
            jitter = float(rng.normal(0.0, self.wavelength_jitter_m)) if self.wavelength_jitter_m > 0 else 0.0
            power = self.model.optical_spectrum(x + jitter, self.resolution_m)
            self.model.advance(n * self.averages * 1e-3)
        sigma = np.hypot(self.relative_noise * power, self.noise_floor_w) / math.sqrt(self.averages)
        self.x_m = x
        self.y_w = power + rng.normal(0.0, 1.0, size=n) * sigma
        self.operation_event |= 1

    @scpi("ABORt")
    def _abort(self, args: str) -> None:
        self.operation_event &= ~1

    @scpi("STATus:OPERation[:EVENt]?")
    def _operation(self, args: str) -> str:
        value, self.operation_event = self.operation_event, 0
        return f"{value:d}"

    def _trace_name(self, args: str) -> None:
        if args.strip().upper() not in ("TRA", ""):
            raise ScpiArgumentError(f"trace {args.strip()!r} is not emulated; only TRA")

    @scpi("TRACe[:DATA]:X?")
    def _trace_x(self, args: str) -> str:
        self._trace_name(args)
        return ",".join(f"{v:.8E}" for v in self.x_m)

    @scpi("TRACe[:DATA]:Y?")
    def _trace_y(self, args: str) -> str:
        self._trace_name(args)
        dbm = np.where(self.y_w > 0, 10.0 * np.log10(np.maximum(self.y_w, 1e-300) / 1e-3), _FLOOR_DBM)
        return ",".join(f"{v:.4f}" for v in dbm)
