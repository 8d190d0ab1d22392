"""One emulator per driver family, all reading and writing the same physics model.

``EMULATORS`` maps config driver names to "module:Class" below this package; it is the second
column of ``qkdlab.drivers.INSTRUMENTS``, the one table of instrument families.
"""

from __future__ import annotations

from ...drivers import INSTRUMENTS
from ...plugins import resolve
from .base import Emulator, FaultInjector, LinkDown, ScpiEmulator, scpi

__all__ = ["EMULATORS", "emulator_class", "Emulator", "ScpiEmulator", "FaultInjector", "LinkDown", "scpi"]

EMULATORS: dict[str, str] = {name: emulator for name, (_, emulator) in INSTRUMENTS.items()}


def emulator_class(driver: str) -> type:
    """The emulator class that simulates instruments of config driver ``driver``."""
    return resolve(EMULATORS, driver, __name__, "simulated driver")
