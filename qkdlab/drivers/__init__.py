"""Instrument drivers, one module per family. They speak SCPI/serial, not QKD.

``DRIVERS`` maps the driver names used in bench configs to their classes (imported on first use,
so a missing optional vendor library only matters for the driver that needs it).
"""

from __future__ import annotations

from ..plugins import resolve
from .base import Channel, Control, Identity, Instrument, SCPIInstrument, control, measurement, setting
from .transport import SerialTransport, Transport, VisaTransport

__all__ = [
    "DRIVERS", "driver_class", "Instrument", "SCPIInstrument", "Channel", "Control", "Identity",
    "control", "measurement", "setting", "Transport", "VisaTransport", "SerialTransport",
]

#: Driver name (as written in a bench config) -> "module:Class" below ``qkdlab.drivers``.
DRIVERS: dict[str, str] = {
    "keysight_33500b": "awg:Keysight33500B",
    "thorlabs_mbx": "bias_controller:ThorlabsMBX",
    "thorlabs_pm100": "power_meter:ThorlabsPM100",
    "keysight_8163b": "power_meter:Keysight8163B",
    "keysight_81577a": "attenuator:Keysight81577A",
    "keysight_816x_laser": "laser:Keysight816xLaser",
    "idq_id210": "detector:IDQID210",
    "swabian_time_tagger": "time_tagger:SwabianTimeTagger",
    "keysight_infiniivision": "oscilloscope:KeysightInfiniiVision",
    "yokogawa_aq6370": "osa:YokogawaAQ6370",
}


def driver_class(name: str) -> type:
    """The driver class for a config driver name; ``KeyError`` naming the known ones otherwise."""
    return resolve(DRIVERS, name, __name__, "driver")
