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


def _detector_table(rows: list[list[float]], halfwidth: float = 0.01):
    """A two-detector DetectorTable with point estimates ``rows`` (detector × delay, operating delay
    the first), boxes ± ``halfwidth`` and ``two_mode`` as the calibration forms it: the Table-I
    [[η1, η2], [η2, η1]] at the delay of the smallest η_lo(smaller) / η_hi(larger)."""
    from qkdlab.model import Bound, DetectorTable

    eff = tuple(tuple(Bound(value=v, lower=v - halfwidth, upper=v + halfwidth, unit="") for v in row) for row in rows)
    _, eta1, eta2 = min(((min(col) - halfwidth) / (max(col) + halfwidth), max(col) + halfwidth, min(col) - halfwidth)
                        for col in zip(*rows, strict=True))
    dark = Bound(value=1e-6, lower=0.0, upper=2e-6, unit="")
    return DetectorTable(detectors=("spd1", "spd2"), delays_s=tuple(i * 1e-10 for i in range(len(rows[0]))),
                         efficiency=eff, dark_probability=(dark, dark), operating_delay_s=0.0, mismatch_ratio=dark,
                         two_mode=((eta1, eta2), (eta2, eta1)))


@pytest.fixture
def detector_table():
    """The factory :func:`_detector_table` (rows, halfwidth=0.01) → DetectorTable."""
    return _detector_table
