"""The 33500B driver against its emulator through the real pyvisa stack (@qkdsim), and the physics it drives."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np
import pytest

from qkdlab.drivers.awg import Function, Keysight33500B, TriggerSource
from qkdlab.drivers.transport import ieee_block
from qkdlab.errors import InstrumentReportedError, SafetyLimitError, SettingRangeError
from qkdlab.sim import SimInstrument, SimulatedBench
from qkdlab.units import Q_

RESOURCE = "USB0::0x0957::0x5707::MY00000001::INSTR"


@pytest.fixture
def bench() -> Iterator[SimulatedBench]:
    sim = SimulatedBench([SimInstrument("awg", "keysight_33500b", RESOURCE)], seed=7)
    yield sim
    sim.close()


@pytest.fixture
def awg(bench: SimulatedBench) -> Iterator[Keysight33500B]:
    driver = Keysight33500B(RESOURCE, "awg", visa_library=bench.visa_library,
                            safety_limits={"max_drive_voltage": "3 V"})
    yield driver
    driver.close()


def test_identity_and_model_limits_come_from_the_emulator(awg: Keysight33500B) -> None:
    identity = awg.identify()
    assert identity.model == "33622A" and identity.serial == "MY00000001"
    assert awg.spec.max_frequency_hz == 120e6


def test_a_33522b_emulator_sets_the_driver_limits(bench: SimulatedBench) -> None:
    sim = SimulatedBench([SimInstrument("awg", "keysight_33500b", RESOURCE, {"model_number": "33522B"})], seed=1)
    try:
        driver = Keysight33500B(RESOURCE, "awg", visa_library=sim.visa_library)
        driver.ch1.frequency = 30e6
        before = len(sim.emulators["awg"].sent_messages())
        with pytest.raises(SettingRangeError):
            driver.ch1.frequency = 31e6
        assert len(sim.emulators["awg"].sent_messages()) == before
        driver.close()
    finally:
        sim.close()


def test_settings_round_trip_and_reach_the_model(bench: SimulatedBench, awg: Keysight33500B) -> None:
    ch = awg.ch1
    ch.function = "square"
    ch.frequency = Q_(2.5, "MHz")
    ch.amplitude = "1.5 V"
    ch.offset = -0.25
    ch.output = True
    assert ch.function is Function.SQU
    assert ch.frequency == Q_(2.5e6, "Hz")
    assert ch.amplitude == Q_(1.5, "V")
    assert ch.offset == Q_(-0.25, "V")
    assert ch.output is True
    state = bench.model.awg[1]
    assert (state.function, state.frequency_hz, state.amplitude_vpp, state.offset_v, state.output) == (
        "SQU", 2.5e6, 1.5, -0.25, True)
    assert bench.model.awg[2].output is False


def test_high_z_load_doubles_the_displayed_voltages_not_the_physical_ones(bench: SimulatedBench,
                                                                         awg: Keysight33500B) -> None:
    awg.ch2.amplitude = 1.0
    awg.ch2.offset = 0.5
    awg.ch2.load = math.inf
    assert awg.ch2.load == Q_(math.inf, "ohm")
    assert awg.ch2.amplitude == Q_(2.0, "V")
    assert awg.ch2.offset == Q_(1.0, "V")
    state = bench.model.awg[2]
    assert state.load_ohm == math.inf and state.amplitude_vpp == 2.0


def test_a_front_panel_vrms_unit_cannot_change_what_the_amplitude_means(bench: SimulatedBench,
                                                                       awg: Keysight33500B) -> None:
    awg.write("SOUR1:VOLT:UNIT VRMS")          # as if someone pressed Units on the front panel
    awg.ch1.amplitude = 2.0
    assert bench.model.awg[1].amplitude_vpp == pytest.approx(2.0)
    assert awg.ch1.amplitude == Q_(2.0, "V")


def test_million_sample_upload_round_trip_is_exact_and_fast(bench: SimulatedBench, awg: Keysight33500B) -> None:
    rng = np.random.default_rng(3)
    samples = rng.uniform(-1.0, 1.0, 1_000_000)
    samples[:2] = (-1.0, 1.0)
    start, cpu = time.perf_counter(), time.process_time()
    awg.upload_waveform(1, "BIG", samples)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    stored = bench.emulators["awg"].waveform(1, "BIG")
    assert np.array_equal(stored, np.rint(samples * 32767).astype(np.int16))
    assert stored[0] == -32767 and stored[1] == 32767
    assert awg.ch1.volatile_catalog() == ["BIG"]
    # the work in CPU seconds (which other processes' load does not inflate), and no wait: the least a
    # driver can wait for an instrument is its 5 s timeout
    assert cpu < 1.0, f"1e6-sample upload took {cpu:.2f} s of CPU"
    assert elapsed < 5.0, f"1e6-sample upload took {elapsed:.2f} s"


def test_every_byte_value_survives_the_block(bench: SimulatedBench, awg: Keysight33500B) -> None:
    """Codes whose bytes are terminators, spaces or ';' (0x0A, 0x20, 0x3B) must not be trimmed or split."""
    codes = np.array([0x0A0A, 0x200A, 0x3B3B, 0x0A20, 0, -1, 0x2020, 0x0A00], dtype="<i2")
    awg.upload_waveform(2, "EDGES", codes / 32767.0)
    assert np.array_equal(bench.emulators["awg"].waveform(2, "EDGES"), codes)


def test_big_endian_byte_order_is_honoured(bench: SimulatedBench, awg: Keysight33500B) -> None:
    codes = np.arange(-8, 8, dtype=np.int16) * 1000
    awg.write("FORM:BORD NORM")
    awg.write("SOUR2:DATA:VOL:CLE")
    awg.write_block("SOUR2:DATA:ARB:DAC BIGEND,", ieee_block(codes.astype(">i2")))
    awg.check_errors()
    assert awg.read_byte_order() == "NORM"
    assert np.array_equal(bench.emulators["awg"].waveform(2, "BIGEND"), codes)


def test_ascii_dac_and_float_uploads(bench: SimulatedBench, awg: Keysight33500B) -> None:
    awg.write("SOUR1:DATA:ARB:DAC ASCDAC," + ",".join(str(v) for v in range(-4, 4)))
    awg.write("SOUR1:DATA:ARB ASCFLT," + ",".join(["1", "-1", "0.5", "0", "0", "0", "0", "-0.5"]))
    awg.check_errors()
    emulator = bench.emulators["awg"]
    assert emulator.waveform(1, "ASCDAC").tolist() == list(range(-4, 4))
    assert emulator.waveform(1, "ASCFLT").tolist() == [32767, -32767, 16384, 0, 0, 0, 0, -16384]
    assert awg.ch1.volatile_catalog() == ["ASCDAC", "ASCFLT"]


def test_play_waveform_drives_the_modulator_model(bench: SimulatedBench, awg: Keysight33500B) -> None:
    pattern = np.tile([1.0, -1.0, 0.5, -0.5], 4)
    model = bench.model
    model.source.enabled = True
    dark = model.optical_power("im_tap")
    awg.play_waveform(1, "IM_PAT", pattern, sample_rate=Q_(100, "MHz"), amplitude="2 V", offset=0.5)
    state = model.awg[1]
    assert state.output and state.function == "ARB"
    assert state.arb_sample_rate == 1e8
    assert (state.amplitude_vpp, state.offset_v) == (2.0, 0.5)
    assert np.allclose(state.arb_waveform, pattern, atol=0.5 / 32767)
    assert model.pulse_period_s() == pytest.approx(1e-8)
    assert model.optical_power("im_tap") != pytest.approx(dark, rel=1e-3)
    assert awg.ch1.arb_waveform == "IM_PAT"
    assert awg.ch1.function is Function.ARB


def test_clearing_memory_falls_back_to_the_builtin(bench: SimulatedBench, awg: Keysight33500B) -> None:
    awg.play_waveform(1, "PAT", np.linspace(-1, 1, 16), 1e6, 1.0)
    awg.write("SOUR1:DATA:VOL:CLE")
    assert awg.ch1.volatile_catalog() == []
    assert awg.ch1.arb_waveform == "INT:\\BUILTIN\\EXP_RISE.ARB"
    assert len(bench.model.awg[1].arb_waveform) != 16


def test_selecting_an_unknown_waveform_is_reported(awg: Keysight33500B) -> None:
    with pytest.raises(InstrumentReportedError) as info:
        awg.ch1.arb_waveform = "NOPE"
    assert info.value.code == -224 and info.value.command == "SOUR1:FUNC:ARB NOPE"


def test_frequency_out_of_range_for_the_function_is_reported_by_the_instrument(awg: Keysight33500B) -> None:
    awg.ch1.function = "RAMP"
    with pytest.raises(InstrumentReportedError) as info:
        awg.ch1.frequency = 10e6        # fine for a sine, too fast for a ramp
    assert info.value.code == -222 and "Data out of range" in info.value.message


def test_short_waveforms_duplicates_and_full_memory_are_refused_by_the_emulator(bench: SimulatedBench) -> None:
    sim = SimulatedBench([SimInstrument("awg", "keysight_33500b", RESOURCE, {"memory_points": 100})], seed=2)
    try:
        driver = Keysight33500B(RESOURCE, "awg", visa_library=sim.visa_library)
        driver.write_block("SOUR1:DATA:ARB:DAC SHORT,", ieee_block(np.zeros(4, "<i2")))
        with pytest.raises(InstrumentReportedError) as info:
            driver.check_errors()
        assert info.value.code == -224
        driver.upload_waveform(1, "PAT", np.zeros(8))
        driver.write_block("SOUR1:DATA:ARB:DAC PAT,", ieee_block(np.zeros(8, "<i2")))
        with pytest.raises(InstrumentReportedError) as info:
            driver.check_errors()
        assert info.value.code == -221
        with pytest.raises(InstrumentReportedError) as info:
            driver.upload_waveform(1, "TOOBIG", np.zeros(200))
        assert info.value.code == -223 and info.value.command == "SOUR1:DATA:ARB:DAC TOOBIG"
        driver.close()
    finally:
        sim.close()


def test_safety_limit_breach_sends_nothing(bench: SimulatedBench, awg: Keysight33500B) -> None:
    awg.identify()                          # the model's limits are read once, before the test counts
    awg.ch1.offset = 1.0
    awg.ch1.amplitude = 2.0
    emulator = bench.emulators["awg"]
    before = len(emulator.sent_messages())
    with pytest.raises(SafetyLimitError):
        awg.ch1.amplitude = 4.5             # 1 + 2.25 V > 3 V
    with pytest.raises(SafetyLimitError):
        awg.play_waveform(1, "PAT", np.zeros(8), 1e6, amplitude=2.0, offset=2.5)
    assert len(emulator.sent_messages()) == before
    assert bench.model.awg[1].amplitude_vpp == 2.0


def test_output_on_is_refused_after_a_front_panel_change(bench: SimulatedBench, awg: Keysight33500B) -> None:
    bench.emulators["awg"].receive(b"SOUR1:VOLT 8\n")     # someone turned the knob
    with pytest.raises(SafetyLimitError):
        awg.ch1.output = True
    assert bench.model.awg[1].output is False


def test_burst_and_software_trigger(bench: SimulatedBench, awg: Keysight33500B) -> None:
    ch = awg.ch2
    ch.burst_state = True
    ch.burst_mode = "TRIG"
    ch.burst_cycles = 250
    ch.trigger_source = TriggerSource.BUS
    assert (ch.burst_state, ch.burst_cycles, ch.trigger_source) == (True, 250, TriggerSource.BUS)
    ch.burst_cycles = math.inf
    assert ch.burst_cycles == math.inf
    awg.trigger()
    awg.trigger()
    emulator = bench.emulators["awg"]
    assert emulator.channels[2].triggers == 2 and emulator.channels[1].triggers == 0


def test_reset_restores_power_on_state(bench: SimulatedBench, awg: Keysight33500B) -> None:
    awg.ch1.frequency = 5e6
    awg.ch1.output = True
    awg.reset()
    state = bench.model.awg[1]
    assert (state.frequency_hz, state.output, state.function, state.amplitude_vpp) == (1e3, False, "SIN", 0.1)
    assert awg.ch1.cache == {}


def test_emulator_amplitude_units_follow_the_function_and_load(awg: Keysight33500B) -> None:
    awg.ch1.amplitude = 2.0                                  # sine, 50 ohm
    awg.write("SOUR1:VOLT:UNIT VRMS")
    assert float(awg.ask("SOUR1:VOLT?")) == pytest.approx(2.0 / (2.0 * math.sqrt(2.0)))
    awg.write("SOUR1:VOLT:UNIT DBM")
    assert float(awg.ask("SOUR1:VOLT?")) == pytest.approx(10.0 * math.log10((1 / math.sqrt(2)) ** 2 / 50 / 1e-3))
    awg.write("SOUR1:VOLT:UNIT VPP")
    awg.ch1.load = math.inf
    awg.write("SOUR1:VOLT:UNIT DBM")                         # no dBm into high Z
    with pytest.raises(InstrumentReportedError) as info:
        awg.check_errors()
    assert info.value.code == -221
    assert awg.ask("SOUR1:VOLT:UNIT?") == "VPP"
