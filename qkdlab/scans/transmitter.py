"""The transmitter as the scans drive it: laser, intensity-modulator bias controller, AWG.

Most scans switch the laser on, lock or hold the IM bias, carve pulses with the AWG's IM channel
and drive the PM channel; they share these parameters (:func:`transmitter_parameters`) and this
helper, which also registers the clean-up that leaves the transmitter dark whatever happens.

Pattern timing: the AWG plays one sample per pulse slot, so its arbitrary-waveform filter shapes
every pulse and the light between pulses. The helper sets the filter every pattern is played
with (``awg_filter``, STEP by default: NORMal rings into the inter-pulse time; it is a scan
parameter, so every run records it), turns on the AWG's sync output following the IM channel as
the pattern clock for a time tagger or scope (``awg_sync_output``), and the AWG driver restarts
both arbs together whenever both channels play patterns (``FUNC:ARB:SYNC``); the settings
snapshot of each run records the filter per channel and whether the arbs were synchronised.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..drivers.awg import ArbFilter, SyncSource
from ..drivers.bias_controller import MzmMode
from ..errors import ConfigError, SafetyLimitError, SettingRangeError
from .base import Parameter, ScanSession, instrument
from .drive import play_levels

__all__ = ["transmitter_parameters", "Transmitter"]

_SHARED = {p.name: p for p in (
    Parameter("laser", "laser", "transmitter laser", type=str),
    Parameter("laser_power", 1e-3, "laser power during the scan", unit="W"),
    Parameter("bias_controller", "bias", "bias controller of the intensity modulator", type=str),
    Parameter("awg", "awg", "AWG driving the modulators", type=str),
    Parameter("awg_filter", "STEP", "AWG arb filter for the pulse patterns (NORM rings between pulses)", type=str,
              choices=("OFF", "STEP", "NORM")),
    Parameter("awg_sync_output", True, "AWG sync output on, following the IM channel (pattern clock)", type=bool),
    Parameter("im_channel", 1, "AWG channel of the intensity modulator", type=int),
    Parameter("pm_channel", 2, "AWG channel of the phase modulator", type=int),
    Parameter("carving_voltage", 3.6, "RF drive that carves a full pulse (about Vπ of the IM's RF port)", unit="V"),
    Parameter("pulse_rate", 100e6, "pulse repetition rate", unit="Hz"),
    Parameter("pulse_duty_cycle", 0.1, "pulse width / pulse period of the carved pulses", unit=""),
)}


def transmitter_parameters(*names: str) -> tuple[Parameter, ...]:
    """The shared transmitter parameters a scan uses, by name."""
    return tuple(_SHARED[name] for name in names)


class Transmitter:
    """The transmitter instruments named in a scan's parameters (only those the scan declares)."""

    def __init__(self, bench: Any, p: dict[str, Any]) -> None:
        self.p = p
        self.laser = instrument(bench, p["laser"], "transmitter laser", "laser")
        self.bias = instrument(bench, p["bias_controller"], "bias controller", "bias_controller") \
            if "bias_controller" in p else None
        self.awg = instrument(bench, p["awg"], "AWG", "awg") if "awg" in p else None
        self._check_before_start()
        if self.awg is not None and "awg_filter" in p:
            self.awg.pattern_filter = ArbFilter[p["awg_filter"].upper()]
        if self.awg is not None and p.get("awg_sync_output"):
            self.awg.sync_source = SyncSource(f"CH{p['im_channel']}")
            self.awg.sync_output = True

    def _check_before_start(self) -> None:
        """Refuse, before the run exists, parameters the instruments or the bench limits forbid.

        The laser power against the laser's range and ``max_laser_power``; the carving drive
        (``play_levels`` sends a constant level v as amplitude 2|v| about 0 V, and levels 0..v as
        amplitude v about v/2: a peak |offset| + amplitude/2 of |v| either way) against the AWG's
        output range and ``max_drive_voltage``.
        """
        try:
            if "laser_power" in self.p:
                self.laser.check_setting("power", self.p["laser_power"])
            if self.awg is not None and "carving_voltage" in self.p:
                carving = abs(float(self.p["carving_voltage"]))
                self.channel("im").check_drive(amplitude=2.0 * carving, offset=0.0)
        except (SafetyLimitError, SettingRangeError) as exc:
            raise ConfigError(f"scan parameter refused before the scan started: {exc}") from None

    def channel(self, which: str) -> Any:
        """The AWG channel of the IM ("im") or the PM ("pm")."""
        return self.awg.channel(self.p[f"{which}_channel"])

    def light(self, on: bool = True) -> None:
        """Switch the laser on at the scan's power, or off."""
        if on:
            self.laser.power = self.p["laser_power"]
        self.laser.output = on

    def carve(self, levels: np.ndarray | None = None, name: str = "CARVE") -> None:
        """Lock the IM bias at the null and carve pulses: one level per slot (default: full pulses)."""
        self.bias.mode = MzmMode.AUTONULL
        drive = np.full(16, self.p["carving_voltage"]) if levels is None else levels
        play_levels(self.awg, self.p["im_channel"], drive, self.p["pulse_rate"], name)

    def leave_dark(self, scan: ScanSession) -> None:
        """When the scan ends, however it ends: laser off, then the modulator drives off."""
        for which in ("im", "pm"):
            if self.awg is not None and f"{which}_channel" in self.p:
                ch = self.channel(which)
                scan.on_exit(f"switch the {which.upper()} drive off", lambda ch=ch: setattr(ch, "output", False))
        scan.on_exit("switch the laser off", lambda: self.light(False))
