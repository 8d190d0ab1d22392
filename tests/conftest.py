"""Shared fixtures and the hardware-test switch.

Hardware tests run only when an address is given, e.g.
``pytest tests/hardware --device thorlabs_pm100=USB0::0x1313::0x8078::P0012345::INSTR``
(repeat ``--device`` per instrument; ``--visa-library @py`` to pick a VISA library).
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--device", action="append", default=[], metavar="DRIVER=RESOURCE",
                     help="run hardware tests against a real instrument of this driver at this address")
    parser.addoption("--visa-library", default="", help="pyvisa library for hardware tests ('' = system default)")


@pytest.fixture
def hardware_devices(pytestconfig: pytest.Config) -> dict[str, str]:
    devices = {}
    for item in pytestconfig.getoption("--device"):
        driver, sep, resource = item.partition("=")
        if not sep:
            raise pytest.UsageError(f"--device expects DRIVER=RESOURCE, got {item!r}")
        devices[driver] = resource
    return devices
