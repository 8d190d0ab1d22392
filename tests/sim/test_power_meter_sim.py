"""Power meters through the real pyvisa stack, coupled to the transmitter model."""

from __future__ import annotations

import threading

import pytest

from qkdlab.drivers.power_meter import Keysight8163B, ThorlabsPM100
from qkdlab.errors import OverrangeError, Timeout
from qkdlab.sim import SimInstrument, SimulatedBench

PM = "USB0::0x1313::0x8078::P0000001::INSTR"
MAINFRAME = "GPIB0::22::INSTR"


@pytest.fixture
def bench():
    sim = SimulatedBench([SimInstrument("pm", "thorlabs_pm100", PM, {"port": "monitor"}),
                          SimInstrument("lab", "keysight_8163b", MAINFRAME,
                                        {"channels": {"1,1": "interferometer", "2,1": "backreflection"}})], seed=7)
    sim.model.source.enabled = True
    yield sim
    sim.close()


@pytest.fixture
def pm(bench):
    meter = ThorlabsPM100(PM, "pm", visa_library=bench.visa_library, timeout=0.3)
    yield meter
    meter.close()


def test_reading_follows_the_model_and_the_im_bias(bench, pm) -> None:
    pm.averaging_count = 300
    truth = bench.model.optical_power("monitor")
    assert pm.power.to("W").magnitude == pytest.approx(truth, rel=2e-3)
    bench.model.im_bias_v = bench.model.im_bias_for("null")
    dark = pm.power.to("W").magnitude
    assert dark == pytest.approx(bench.model.optical_power("monitor"), rel=0.05)
    assert truth / dark > 100  # the extinction ratio shows through the whole stack


def test_fixed_range_too_low_is_an_overrange_error(bench, pm) -> None:
    pm.range_upper = 1e-7
    with pytest.raises(OverrangeError):
        pm.power


def test_wrong_wavelength_correction_changes_the_reading(bench, pm) -> None:
    right = pm.power.to("W").magnitude
    pm.wavelength = 1310e-9
    assert pm.power.to("W").magnitude == pytest.approx(right * 1550 / 1310, rel=0.01)


def test_mainframe_heads_read_their_ports(bench) -> None:
    meter = Keysight8163B(MAINFRAME, "lab", heads=((1, 1), (2, 1)), visa_library=bench.visa_library)
    bench.model.probe.enabled, bench.model.probe.power_w = True, 1e-3
    meter.head(2).averaging_time = 1.0
    back = meter.power(2).to("W").magnitude
    assert back == pytest.approx(bench.model.optical_power("backreflection"), rel=0.01, abs=1e-12)
    assert meter.power(1).to("W").magnitude == pytest.approx(bench.model.optical_power("interferometer"), rel=0.02)
    meter.close()


def test_timeouts_are_retried_then_typed(bench, pm) -> None:
    bench.emulators["pm"].faults.timeout(1)
    assert pm.power.to("W").magnitude > 0
    bench.emulators["pm"].faults.timeout(50)
    with pytest.raises(Timeout):
        pm.power


def test_error_queue_entry_is_raised_on_the_next_setting(bench, pm) -> None:
    bench.emulators["pm"].push_error(-222, "Data out of range")
    with pytest.raises(Exception, match="-222"):
        pm.averaging_count = 10


def test_two_threads_get_their_own_replies(bench, pm) -> None:
    errors: list[str] = []

    def read_power() -> None:
        for _ in range(200):
            value = pm.power.to("W").magnitude
            if not 1e-7 < value < 1e-4:
                errors.append(f"power {value}")

    def read_wavelength() -> None:
        for _ in range(200):
            value = pm.wavelength.to("m").magnitude
            if value != pytest.approx(1550e-9):
                errors.append(f"wavelength {value}")

    threads = [threading.Thread(target=read_power), threading.Thread(target=read_wavelength)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
