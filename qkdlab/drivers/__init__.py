"""Instrument drivers, one module per family. They speak SCPI/serial, not QKD.

``INSTRUMENTS`` is the one table of instrument families: the driver name used in bench configs
-> (driver class, emulator class), both as lazy "module:Class" strings, so that a missing optional
vendor library only matters for the class that needs it. The driver path is relative to
``qkdlab.drivers``, the emulator path to ``qkdlab.sim.instruments``; it is a string because drivers
must not import the simulator (``qkdlab.sim.instruments.emulator_class`` resolves it). A new
instrument family is one row here (plus its driver module, emulator module and protocol test).
"""

from __future__ import annotations

from ..plugins import resolve
from .base import Channel, Control, Identity, Instrument, SCPIInstrument, control, measurement, setting
from .transport import SerialTransport, Transport, VisaTransport

__all__ = [
    "INSTRUMENTS", "DRIVERS", "driver_class", "Instrument", "SCPIInstrument", "Channel", "Control", "Identity",
    "control", "measurement", "setting", "Transport", "VisaTransport", "SerialTransport",
]

#: Driver name (as written in a bench config) -> (driver "module:Class" below ``qkdlab.drivers``,
#: emulator "module:Class" below ``qkdlab.sim.instruments``).
INSTRUMENTS: dict[str, tuple[str, str]] = {
    # config name               driver                                  emulator
    "keysight_33500b":          ("awg:Keysight33500B",                  "awg:Keysight33500BEmulator"),
    "thorlabs_mbx":             ("bias_controller:ThorlabsMBX",         "bias_controller:ThorlabsMBXEmulator"),
    "thorlabs_pm100":           ("power_meter:ThorlabsPM100",           "power_meter:ThorlabsPM100Emulator"),
    "keysight_8163b":           ("power_meter:Keysight8163B",           "power_meter:Keysight8163BEmulator"),
    "keysight_81577a":          ("attenuator:Keysight81577A",           "attenuator:Keysight81577AEmulator"),
    "keysight_816x_laser":      ("laser:Keysight816xLaser",             "laser:Keysight816xLaserEmulator"),
    "idq_id210":                ("detector:IDQID210",                   "detector:IDQID210Emulator"),
    "swabian_time_tagger":      ("time_tagger:SwabianTimeTagger",       "time_tagger:SimulatedTimeTagger"),
    "keysight_infiniivision":   ("oscilloscope:KeysightInfiniiVision",  "oscilloscope:KeysightInfiniiVisionEmulator"),
    "yokogawa_aq6370":          ("osa:YokogawaAQ6370",                  "osa:YokogawaAQ6370Emulator"),
}

#: Driver name -> "module:Class" of its driver (the first column of ``INSTRUMENTS``).
DRIVERS: dict[str, str] = {name: driver for name, (driver, _) in INSTRUMENTS.items()}


def driver_class(name: str) -> type:
    """The driver class for a config driver name; ``KeyError`` naming the known ones otherwise."""
    return resolve(DRIVERS, name, __name__, "driver")
