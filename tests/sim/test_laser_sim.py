"""The 816x laser driver against its emulator through the real pyvisa stack (@qkdsim): settings reach
``model.source`` or ``model.probe`` by role, W/dBm conversion, module ranges, safety and faults."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qkdlab.drivers.laser import Keysight816xLaser
from qkdlab.errors import InstrumentReportedError, ProtocolError, SafetyLimitError
from qkdlab.sim import SimInstrument, SimulatedBench
from qkdlab.units import Q_

SOURCE = "GPIB0::20::INSTR"
PROBE = "GPIB0::21::INSTR"


@pytest.fixture
def bench() -> Iterator[SimulatedBench]:
    sim = SimulatedBench([SimInstrument("laser", "keysight_816x_laser", SOURCE, {"role": "source"}),
                          SimInstrument("probe", "keysight_816x_laser", PROBE, {"role": "probe", "slot": 2})],
                         seed=5)
    yield sim
    sim.close()


@pytest.fixture
def laser(bench: SimulatedBench) -> Iterator[Keysight816xLaser]:
    driver = Keysight816xLaser(SOURCE, "laser", visa_library=bench.visa_library, timeout=0.3,
                               safety_limits={"max_laser_power": "4 mW"})
    yield driver
    driver.close()


@pytest.fixture
def probe(bench: SimulatedBench) -> Iterator[Keysight816xLaser]:
    driver = Keysight816xLaser(PROBE, "probe", visa_library=bench.visa_library, slot=2, timeout=0.3)
    yield driver
    driver.close()


def test_identity_of_module_and_mainframe(laser: Keysight816xLaser) -> None:
    assert laser.identify().model == "81600B"
    assert laser.mainframe_identity().model == "8164B"


def test_power_on_defaults_match_the_model(bench: SimulatedBench, laser: Keysight816xLaser) -> None:
    assert laser.output is False
    assert laser.power.to("W").magnitude == pytest.approx(1e-3, rel=1e-7)   # displayed in dBm, converted
    assert laser.wavelength == Q_(1550e-9, "m")
    assert bench.model.source.enabled is False


def test_settings_reach_the_source_laser_only(bench: SimulatedBench, laser: Keysight816xLaser) -> None:
    laser.wavelength = "1551.5 nm"
    laser.power = "2.5 mW"
    laser.turn_on()
    source, probe = bench.model.source, bench.model.probe
    assert (source.enabled, source.power_w, source.wavelength_m) == (True, pytest.approx(2.5e-3),
                                                                     pytest.approx(1551.5e-9))
    assert (probe.enabled, probe.power_w) == (False, 1e-3)
    assert laser.power.to("mW").magnitude == pytest.approx(2.5, rel=1e-7)
    assert laser.wavelength.to("nm").magnitude == pytest.approx(1551.5)
    assert laser.output is True
    laser.turn_off()
    assert bench.model.source.enabled is False


def test_probe_role_drives_the_probe_and_the_backreflection_port(bench: SimulatedBench,
                                                                 probe: Keysight816xLaser) -> None:
    assert bench.model.optical_power("backreflection") == 0.0
    probe.power = "1 mW"
    probe.output = True
    one = bench.model.optical_power("backreflection")
    assert one > 0 and bench.model.source.enabled is False
    probe.power = "3 mW"
    assert bench.model.optical_power("backreflection") == pytest.approx(3 * one)
    assert bench.model.probe.power_w == pytest.approx(3e-3)


def test_power_read_in_either_display_unit(bench: SimulatedBench, laser: Keysight816xLaser) -> None:
    laser.power = 2e-3
    emulator = bench.emulators["laser"]
    assert emulator.unit_watt is False
    dbm_reading = laser.power.to("W").magnitude
    laser.write(":SOUR1:POW:UNIT W")                # as if changed on the front panel
    assert emulator.unit_watt is True
    assert laser.power.to("W").magnitude == pytest.approx(2e-3, rel=1e-9)
    assert dbm_reading == pytest.approx(2e-3, rel=1e-7)


def test_power_set_in_watts_even_when_the_display_is_dbm(bench: SimulatedBench, laser: Keysight816xLaser) -> None:
    assert bench.emulators["laser"].unit_watt is False
    laser.power = 0.5e-3
    assert bench.model.source.power_w == pytest.approx(0.5e-3)     # not 0.5e-3 dBm


def test_module_range_refusal_is_reported_and_changes_nothing(bench: SimulatedBench) -> None:
    # driver allows up to 20 mW by default; the emulated 81600B stops at 5 mW
    driver = Keysight816xLaser(SOURCE, "laser", visa_library=bench.visa_library, timeout=0.3)
    try:
        with pytest.raises(InstrumentReportedError) as info:
            driver.power = "8 mW"
        assert info.value.code == -222
        assert bench.model.source.power_w == 1e-3
    finally:
        driver.close()


def test_safety_limit_breach_sends_nothing(bench: SimulatedBench, laser: Keysight816xLaser) -> None:
    before = list(bench.emulators["laser"].sent_messages())
    with pytest.raises(SafetyLimitError):
        laser.power = "4.5 mW"
    assert bench.emulators["laser"].sent_messages() == before
    assert bench.model.source.power_w == 1e-3


def test_switching_on_refused_after_a_front_panel_power_change(bench: SimulatedBench, laser: Keysight816xLaser) -> None:
    emulator = bench.emulators["laser"]
    emulator.power_w = 4.8e-3                         # front panel, above the 4 mW bench limit
    with pytest.raises(SafetyLimitError, match="before switching on"):
        laser.output = True
    assert bench.model.source.enabled is False
    assert b":SOUR1:POW:STAT ON" not in emulator.sent_messages()


def test_command_to_an_empty_slot_is_reported(bench: SimulatedBench) -> None:
    wrong = Keysight816xLaser(SOURCE, "laser", visa_library=bench.visa_library, slot=3, timeout=0.3)
    try:
        with pytest.raises(InstrumentReportedError) as info:
            wrong.output = True
        assert info.value.code == -241
        assert bench.model.source.enabled is False
    finally:
        wrong.close()


def test_dropped_reply_is_retried(bench: SimulatedBench, laser: Keysight816xLaser) -> None:
    bench.emulators["laser"].faults.timeout()
    assert laser.wavelength == Q_(1550e-9, "m")


def test_disconnect_restores_power_and_output(bench: SimulatedBench, laser: Keysight816xLaser) -> None:
    laser.power = "3 mW"
    laser.output = True
    emulator = bench.emulators["laser"]
    emulator.reset()                                  # power cycle: output off, 1 mW
    assert bench.model.source.enabled is False
    start = len(emulator.sent_messages())
    emulator.faults.disconnect_after(0)
    assert laser.wavelength == Q_(1550e-9, "m")
    resent = emulator.sent_messages()[start:]
    assert resent[0] == b"*CLS"
    assert b":SOUR1:POW 3.000000E-03W" in resent
    assert resent.index(b":SOUR1:POW 3.000000E-03W") < resent.index(b":SOUR1:POW:STAT ON")
    assert (bench.model.source.enabled, bench.model.source.power_w) == (True, pytest.approx(3e-3))


def test_garbage_reply_is_a_protocol_error(bench: SimulatedBench, laser: Keysight816xLaser) -> None:
    bench.emulators["laser"].faults.garbage()
    with pytest.raises(ProtocolError):
        laser.wavelength
    assert laser.wavelength == Q_(1550e-9, "m")
