"""Hardware smoke tests: identity and a settings snapshot of each real instrument given with --device.

Read-only on purpose (nothing is set), so they are safe on a live bench.
"""

from __future__ import annotations

import pytest

from qkdlab.drivers import DRIVERS, driver_class


@pytest.mark.hardware
@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_identify_and_snapshot(driver: str, hardware_devices: dict[str, str], pytestconfig: pytest.Config) -> None:
    if driver not in hardware_devices:
        pytest.skip(f"no --device {driver}=<address> given")
    cls = driver_class(driver)
    kwargs = {}
    if getattr(cls, "interface", "visa") == "visa":
        kwargs["visa_library"] = pytestconfig.getoption("--visa-library")
    instrument = cls(hardware_devices[driver], f"hw-{driver}", **kwargs)
    try:
        identity = instrument.identify()
        assert identity.manufacturer and identity.model
        assert isinstance(instrument.snapshot(update=True), dict)
    finally:
        instrument.close()
