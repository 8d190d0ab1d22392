"""The simulated bench: a physics model of the transmitter behind emulated instruments.

Importing this package registers the ``qkdsim://`` pyserial URL scheme; the ``@qkdsim`` pyvisa
backend is found by pyvisa through the ``pyvisa_qkdsim`` entry package.
"""

import serial

if "qkdlab.sim" not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append("qkdlab.sim")

from .bench import SimInstrument, SimulatedBench  # noqa: E402
from .physics import SimParameters, TransmitterModel  # noqa: E402

__all__ = ["SimulatedBench", "SimInstrument", "TransmitterModel", "SimParameters"]
