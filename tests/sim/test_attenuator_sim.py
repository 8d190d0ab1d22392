"""The 81577A VOA driver against its emulator through the real pyvisa stack (@qkdsim): settings reach
``model.voa_attenuation_db`` / ``model.voa_enabled`` and the light at the detectors; the error queue,
the ``min_attenuation`` limit, faults and recovery."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qkdlab.drivers.attenuator import Keysight81577A
from qkdlab.drivers.laser import Keysight816xLaser
from qkdlab.errors import InstrumentReportedError, ProtocolError, SafetyLimitError, Timeout
from qkdlab.sim import SimInstrument, SimulatedBench
from qkdlab.units import Q_

VOA = "GPIB0::23::INSTR"
LASER = "GPIB0::20::INSTR"


@pytest.fixture
def bench() -> Iterator[SimulatedBench]:
    sim = SimulatedBench([SimInstrument("voa", "keysight_81577a", VOA),
                          SimInstrument("laser", "keysight_816x_laser", LASER, {"role": "source"})], seed=3)
    yield sim
    sim.close()


@pytest.fixture
def voa(bench: SimulatedBench) -> Iterator[Keysight81577A]:
    driver = Keysight81577A(VOA, "voa", visa_library=bench.visa_library, timeout=0.3)
    yield driver
    driver.close()


def test_identity_and_power_on_state(bench: SimulatedBench, voa: Keysight81577A) -> None:
    assert voa.identify().model == "81577A"
    assert voa.mainframe_identity().model == "8163B"
    assert voa.attenuation == 0.0 and voa.offset == 0.0 and voa.shutter_open is True
    assert (bench.model.voa_attenuation_db, bench.model.voa_enabled) == (0.0, True)


def test_attenuation_and_shutter_reach_the_model(bench: SimulatedBench, voa: Keysight81577A) -> None:
    voa.attenuation = "17.25 dB"
    assert bench.model.voa_attenuation_db == pytest.approx(17.25)
    assert voa.attenuation == pytest.approx(17.25)
    voa.close_shutter()
    assert bench.model.voa_enabled is False
    assert voa.shutter_open is False
    voa.open_shutter()
    assert bench.model.voa_enabled is True


def test_attenuation_scales_the_light_at_the_detectors(bench: SimulatedBench, voa: Keysight81577A) -> None:
    laser = Keysight816xLaser(LASER, "laser", visa_library=bench.visa_library, timeout=0.3)
    try:
        laser.output = True
        voa.attenuation = 5
        before = bench.model.optical_power("attenuated")
        assert before > 0
        voa.attenuation = 15
        assert bench.model.optical_power("attenuated") == pytest.approx(before / 10, rel=1e-9)
        voa.close_shutter()
        assert bench.model.optical_power("attenuated") == 0.0
    finally:
        laser.close()


def test_offset_moves_the_display_not_the_filter(bench: SimulatedBench, voa: Keysight81577A) -> None:
    voa.attenuation = 20
    voa.offset = 1.5
    assert bench.model.voa_attenuation_db == pytest.approx(20.0)
    assert voa.attenuation == pytest.approx(21.5)
    assert voa.filter_attenuation == pytest.approx(20.0)
    voa.attenuation = 11.5                      # displayed 11.5 = filter 10
    assert bench.model.voa_attenuation_db == pytest.approx(10.0)


def test_front_panel_offset_unknown_to_the_driver_is_caught_by_the_error_queue(bench: SimulatedBench,
                                                                              voa: Keysight81577A) -> None:
    voa.offset = 0                               # the driver now believes the range is 0..60 dB
    emulator = bench.emulators["voa"]
    emulator.handle(b":INP1:CHAN1:OFFS 10")            # front panel: offset 10 dB -> displayed range 10..70 dB
    with pytest.raises(InstrumentReportedError) as info:
        voa.attenuation = 5
    assert info.value.code == -222
    assert bench.model.voa_attenuation_db == pytest.approx(0.0)


def test_min_attenuation_limit_protects_the_detectors(bench: SimulatedBench) -> None:
    guarded = Keysight81577A(VOA, "voa", visa_library=bench.visa_library, timeout=0.3,
                             safety_limits={"min_attenuation": "30 dB"})
    emulator = bench.emulators["voa"]
    try:
        guarded.attenuation = 35
        before = list(emulator.sent_messages())
        with pytest.raises(SafetyLimitError):
            guarded.attenuation = 20
        assert emulator.sent_messages() == before
        assert bench.model.voa_attenuation_db == pytest.approx(35.0)
        guarded.close_shutter()
        emulator.handle(b":INP1:ATT 3")          # someone turns the knob to 3 dB
        with pytest.raises(SafetyLimitError):
            guarded.open_shutter()
        assert bench.model.voa_enabled is False
    finally:
        guarded.close()


def test_wavelength_round_trip(voa: Keysight81577A) -> None:
    voa.wavelength = "1310 nm"
    assert voa.wavelength.to("nm").magnitude == pytest.approx(1310)


def test_other_slot_is_reported_as_missing_hardware(bench: SimulatedBench) -> None:
    wrong = Keysight81577A(VOA, "voa", visa_library=bench.visa_library, slot=2, timeout=0.3)
    try:
        with pytest.raises(InstrumentReportedError) as info:
            wrong.shutter_open = False
        assert info.value.code == -241
        assert bench.model.voa_enabled is True
    finally:
        wrong.close()


def test_dropped_reply_is_retried(bench: SimulatedBench, voa: Keysight81577A) -> None:
    voa.attenuation = 12
    bench.emulators["voa"].faults.timeout()
    assert voa.attenuation == pytest.approx(12.0)


def test_persistent_silence_is_a_timeout(bench: SimulatedBench) -> None:
    driver = Keysight81577A(VOA, "voa", visa_library=bench.visa_library, timeout=0.05, reconnect_retries=1)
    try:
        bench.emulators["voa"].faults.timeout(10)
        with pytest.raises(Timeout):
            driver.shutter_open
    finally:
        driver.close()


def test_disconnect_reapplies_offset_attenuation_and_shutter(bench: SimulatedBench, voa: Keysight81577A) -> None:
    voa.offset = 1
    voa.attenuation = 31
    voa.close_shutter()
    emulator = bench.emulators["voa"]
    emulator.reset()                             # power cycle: 0 dB, shutter open
    assert (bench.model.voa_attenuation_db, bench.model.voa_enabled) == (0.0, True)
    start = len(emulator.sent_messages())
    emulator.faults.disconnect_after(0)
    assert voa.wavelength == Q_(1550e-9, "m")
    resent = emulator.sent_messages()[start:]
    assert resent[0] == b"*CLS"
    order = [m for m in resent if m.startswith((b":INP1:CHAN1:OFFS ", b":INP1:CHAN1:ATT ", b":OUTP1:CHAN1:STAT "))]
    assert order == [b":INP1:CHAN1:OFFS 1.0000", b":INP1:CHAN1:ATT 31.0000", b":OUTP1:CHAN1:STAT OFF"]
    assert bench.model.voa_attenuation_db == pytest.approx(30.0)
    assert bench.model.voa_enabled is False


def test_garbage_reply_is_a_protocol_error(bench: SimulatedBench, voa: Keysight81577A) -> None:
    bench.emulators["voa"].faults.garbage()
    with pytest.raises(ProtocolError):
        voa.attenuation
    assert voa.attenuation == 0.0
