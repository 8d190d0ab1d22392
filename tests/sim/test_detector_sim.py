"""The ID210 driver against its emulator through the real pyvisa stack (@qkdsim), and the physics it reads."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest

from qkdlab.drivers.detector import CountingMode, DetectorMode, IDQID210
from qkdlab.errors import ProtocolError, SettingRangeError
from qkdlab.sim import SimInstrument, SimulatedBench
from qkdlab.units import Q_

RESOURCE = "USB0::0x1DDC::0x0210::SIM0001::INSTR"
RESOURCE2 = "USB0::0x1DDC::0x0210::SIM0002::INSTR"


@pytest.fixture
def bench() -> Iterator[SimulatedBench]:
    sim = SimulatedBench([SimInstrument("spd1", "idq_id210", RESOURCE, {"detector": 1})], seed=11)
    yield sim
    sim.close()


@pytest.fixture
def spd(bench: SimulatedBench) -> Iterator[IDQID210]:
    driver = IDQID210(RESOURCE, "spd1", visa_library=bench.visa_library)
    yield driver
    driver.close()


def rate(spd: IDQID210) -> float:
    return float(spd.detection_rate.to("Hz").magnitude)


def test_identity(spd: IDQID210) -> None:
    identity = spd.identify()
    assert (identity.manufacturer, identity.model, identity.serial) == ("ID Quantique", "ID210", "SIM0001")


def test_settings_round_trip_and_reach_the_model(bench: SimulatedBench, spd: IDQID210) -> None:
    spd.mode = DetectorMode.INTERNAL_GATING
    spd.efficiency = 0.175
    spd.dead_time = Q_(2.5, "us")
    spd.gate_width = "3 ns"
    spd.trigger_delay = Q_(4321, "ps")
    spd.gate_frequency = Q_(2, "MHz")
    spd.integration_time = 0.4
    assert spd.mode is DetectorMode.INTERNAL_GATING
    assert spd.efficiency == pytest.approx(0.175)
    assert spd.dead_time == Q_(2.5e-6, "s")
    assert spd.gate_width == Q_(3e-9, "s")
    assert spd.trigger_delay.to("ps").magnitude == pytest.approx(4321)
    assert spd.gate_frequency == Q_(2e6, "Hz")
    assert spd.integration_time == Q_(0.4, "s")
    state = bench.model.detectors[1]
    assert state.enabled is True
    assert state.efficiency_setting == pytest.approx(0.175)
    assert state.dead_time_s == pytest.approx(2.5e-6)
    assert state.gate_width_s == pytest.approx(3e-9)
    assert state.trigger_delay_s == pytest.approx(4.321e-9)
    assert state.gate_frequency_hz == pytest.approx(2e6)


def test_option_detector_2_drives_the_second_detector_only() -> None:
    sim = SimulatedBench([SimInstrument("spd2", "idq_id210", RESOURCE2, {"detector": 2, "serial": "SIM0002"})], seed=3)
    try:
        driver = IDQID210(RESOURCE2, "spd2", visa_library=sim.visa_library)
        before = sim.model.detectors[1].efficiency_setting
        driver.efficiency = 0.2
        driver.mode = "disabled"
        assert sim.model.detectors[2].efficiency_setting == pytest.approx(0.2)
        assert sim.model.detectors[2].enabled is False
        assert sim.model.detectors[1].efficiency_setting == before and sim.model.detectors[1].enabled
        assert driver.identify().serial == "SIM0002"
        driver.close()
    finally:
        sim.close()


def test_an_out_of_range_raw_command_is_ignored_and_nothing_bad_reaches_the_instrument(
        bench: SimulatedBench, spd: IDQID210) -> None:
    spd.efficiency = 0.1
    spd.write("Detector:Efficiency 60")        # off-step, as from a foreign program: the emulator ignores it
    assert spd.efficiency == pytest.approx(0.1)
    assert bench.model.detectors[1].efficiency_setting == pytest.approx(0.1)
    emulator = bench.emulators["spd1"]
    before = len(emulator.sent_messages())
    with pytest.raises(SettingRangeError):
        spd.gate_frequency = 3e6
    assert len(emulator.sent_messages()) == before


def test_a_garbled_read_back_is_a_protocol_error(bench: SimulatedBench, spd: IDQID210) -> None:
    bench.emulators["spd1"].faults.garbage(1)
    with pytest.raises(ProtocolError):
        spd.gate_width = 2.5e-9


def test_count_rate_rises_with_efficiency_and_falls_with_the_voa(bench: SimulatedBench, spd: IDQID210) -> None:
    bench.model.source.enabled = True
    spd.trigger_delay = 4e-9               # gate [4, 6] ns around the pulse arrival (5 ns)
    spd.integration_time = 1.0
    rates = []
    for efficiency in (0.05, 0.1, 0.25):
        spd.efficiency = efficiency
        rates.append(rate(spd))
    assert rates[0] < rates[1] < rates[2]
    assert rates[2] > 2.0 * rates[0]
    by_voa = []
    for attenuation in (0.0, 3.0, 10.0):
        bench.model.voa_attenuation_db = attenuation
        by_voa.append(rate(spd))
    assert by_voa[0] > by_voa[1] > by_voa[2]
    assert by_voa[2] < 0.5 * by_voa[0]


def test_without_light_only_dark_counts_remain(bench: SimulatedBench, spd: IDQID210) -> None:
    bench.model.source.enabled = True
    spd.trigger_delay = 4e-9
    lit = rate(spd)
    bench.model.source.enabled = False
    dark = rate(spd)
    assert 0 <= dark < 0.01 * lit


def test_readings_follow_the_model_counts_divided_by_the_integration_time(bench: SimulatedBench, spd: IDQID210) -> None:
    """Each reading integrates one window of the integration time on the virtual clock."""
    bench.model.source.enabled = True
    spd.integration_time = 2.0
    spd.gate_frequency = 1e6
    start = bench.model.clock_s
    gate = float(spd.gate_rate.to("Hz").magnitude)
    assert bench.model.clock_s == pytest.approx(start + 2.0)
    assert gate == pytest.approx(1e6)          # 2e6 gates in 2 s: min(gate frequency, pulse rate)
    reading = rate(spd)
    expected = bench.model.detector_counts(1, 2.0)[0] / 2.0   # another sample of the same window
    assert reading == pytest.approx(expected, rel=0.05)
    assert (reading * 2.0).is_integer()        # a whole number of detections over 2 s


def test_efficiency_versus_trigger_delay_peaks_where_the_model_says(bench: SimulatedBench, spd: IDQID210) -> None:
    bench.model.source.enabled = True
    spd.integration_time = 1.0
    delays_ns = np.arange(0.0, 9.0, 1.0)
    rates = []
    for delay in delays_ns:
        spd.trigger_delay = delay * 1e-9
        rates.append(rate(spd))
    model_eff = [bench.model.detector_efficiency(1, d * 1e-9) for d in delays_ns]
    assert delays_ns[int(np.argmax(rates))] == delays_ns[int(np.argmax(model_eff))] == 4.0
    assert max(rates) > 1.4 * rates[0]


def test_gating_modes(bench: SimulatedBench, spd: IDQID210) -> None:
    bench.model.source.enabled = True
    spd.integration_time = 0.2
    pulse_rate = 1.0 / bench.model.pulse_period_s()
    spd.mode = "external_gating"
    assert float(spd.gate_rate.to("Hz").magnitude) == pytest.approx(pulse_rate)
    assert float(spd.clock_rate.to("Hz").magnitude) == pytest.approx(pulse_rate)
    assert math.isinf(bench.model.detectors[1].gate_frequency_hz)
    spd.mode = DetectorMode.DISABLED
    assert rate(spd) == 0.0 and float(spd.gate_rate.magnitude) == 0.0
    assert bench.model.detectors[1].enabled is False
    spd.mode = DetectorMode.FREE_RUNNING
    free = []
    for delay in (0.0, 4e-9, 8e-9):     # free running: sensitive all the time, the delay does not matter
        spd.trigger_delay = delay
        free.append(rate(spd))
    assert float(spd.gate_rate.magnitude) == 0.0
    assert max(free) < 1.1 * min(free) and min(free) > 0


def test_statistics_list_and_totalize(bench: SimulatedBench, spd: IDQID210) -> None:
    bench.model.source.enabled = True
    spd.integration_time = 0.2
    first = spd.read_counter("detection")
    second = spd.read_counter("detection")
    assert first.std is not None and second.std is not None
    assert second.minimum <= second.value <= second.maximum
    assert second.minimum == min(first.value, second.value)
    spd.counting_mode = CountingMode.TOTALIZE
    total1 = spd.read_counter("gate").value.magnitude
    total2 = spd.read_counter("gate").value.magnitude
    assert total1 == pytest.approx(0.2 * 1e6) and total2 == pytest.approx(2 * total1)


def test_value_only_counter_replies() -> None:
    sim = SimulatedBench([SimInstrument("spd1", "idq_id210", RESOURCE, {"counter_reply": "value"})], seed=5)
    try:
        driver = IDQID210(RESOURCE, "spd1", visa_library=sim.visa_library)
        driver.integration_time = 0.2
        reading = driver.read_counter("gate")
        assert reading.std is None and reading.value == Q_(1e6, "Hz")
        driver.close()
    finally:
        sim.close()


def test_same_seed_same_counts() -> None:
    results = []
    for _ in range(2):
        sim = SimulatedBench([SimInstrument("spd1", "idq_id210", RESOURCE)], seed=99)
        try:
            sim.model.source.enabled = True
            driver = IDQID210(RESOURCE, "spd1", visa_library=sim.visa_library)
            results.append([rate(driver) for _ in range(3)])
            driver.close()
        finally:
            sim.close()
    assert results[0] == results[1]
    assert len(set(results[0])) > 1     # and the windows are independent samples
