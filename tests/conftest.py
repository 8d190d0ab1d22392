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


@pytest.fixture(scope="session")
def bench_file(tmp_path_factory: pytest.TempPathFactory):
    """Every characterization scan with its defaults on the simulated bench (the demo's first step)."""
    from qkdlab.bench import Bench
    from qkdlab.scans import SCANS, run_scan
    from qkdlab.store import Store

    path = tmp_path_factory.mktemp("lab") / "bench.h5"
    with Bench.simulated(seed=5).open() as bench:
        for kind in SCANS:
            assert run_scan(kind, bench, Store(path)).status == "completed"
    return path
