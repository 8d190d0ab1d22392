"""One emulator per driver family, all reading and writing the same physics model.

``EMULATORS`` maps config driver names to "module:Class" below this package.
"""

from __future__ import annotations

from ...plugins import resolve
from .base import Emulator, FaultInjector, LinkDown, ScpiEmulator, scpi

__all__ = ["EMULATORS", "emulator_class", "Emulator", "ScpiEmulator", "FaultInjector", "LinkDown", "scpi"]

EMULATORS: dict[str, str] = {
    "keysight_33500b": "awg:Keysight33500BEmulator",
    "thorlabs_mbx": "bias_controller:ThorlabsMBXEmulator",
    "thorlabs_pm100": "power_meter:ThorlabsPM100Emulator",
    "keysight_8163b": "power_meter:Keysight8163BEmulator",
    "keysight_81577a": "attenuator:Keysight81577AEmulator",
    "keysight_816x_laser": "laser:Keysight816xLaserEmulator",
    "idq_id210": "detector:IDQID210Emulator",
    "swabian_time_tagger": "time_tagger:SimulatedTimeTagger",
    "keysight_infiniivision": "oscilloscope:KeysightInfiniiVisionEmulator",
    "yokogawa_aq6370": "osa:YokogawaAQ6370Emulator",
}


def emulator_class(driver: str) -> type:
    """The emulator class that simulates instruments of config driver ``driver``."""
    return resolve(EMULATORS, driver, __name__, "simulated driver")
