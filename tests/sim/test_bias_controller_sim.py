"""The MBX driver against its emulator through the real pyserial stack (``qkdsim://``), coupled to the
physics model and the laser emulator; fault injection and recovery."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from qkdlab.drivers.bias_controller import MzmMode, ThorlabsMBX, VoaMode
from qkdlab.drivers.laser import Keysight816xLaser
from qkdlab.errors import InstrumentConnectionError, ProtocolError, SafetyLimitError, Timeout
from qkdlab.sim import SimInstrument, SimulatedBench
from qkdlab.units import Q_

LASER = "GPIB0::20::INSTR"


@pytest.fixture
def bench() -> Iterator[SimulatedBench]:
    sim = SimulatedBench([SimInstrument("bias", "thorlabs_mbx"),
                          SimInstrument("laser", "keysight_816x_laser", LASER, {"role": "source"})], seed=11)
    yield sim
    sim.close()


@pytest.fixture
def mbx(bench: SimulatedBench) -> Iterator[ThorlabsMBX]:
    driver = ThorlabsMBX(bench.serial_url("bias"), "bias", timeout=0.2, safety_limits={"max_bias_voltage": "9 V"})
    yield driver
    driver.close()


@pytest.fixture
def laser(bench: SimulatedBench) -> Iterator[Keysight816xLaser]:
    driver = Keysight816xLaser(LASER, "laser", visa_library=bench.visa_library, timeout=0.5)
    yield driver
    driver.close()


def messages(bench: SimulatedBench) -> list[bytes]:
    return bench.emulators["bias"].sent_messages()


def test_identity_comes_from_the_emulator(mbx: ThorlabsMBX) -> None:
    identity = mbx.identify()
    assert (identity.manufacturer, identity.model, identity.serial) == ("Thorlabs", "MBX", "M00000001")


def test_manual_hold_voltage_is_the_model_bias(bench: SimulatedBench, mbx: ThorlabsMBX) -> None:
    assert bench.model.im_bias_v == 0.0
    mbx.mode = MzmMode.MANUAL
    mbx.hold_voltage = "2.345 V"
    assert bench.model.im_bias_v == pytest.approx(2.345)
    assert mbx.bias_voltage == Q_(2.345, "V")
    assert mbx.hold_voltage == Q_(2.345, "V")
    assert mbx.locked is True
    mbx.hold_voltage = -1.5
    assert bench.model.im_bias_v == pytest.approx(-1.5)
    mbx.mode = "off"
    assert bench.model.im_bias_v == 0.0
    assert mbx.locked is False


def test_hold_voltage_set_while_not_manual_waits_for_manual(bench: SimulatedBench, mbx: ThorlabsMBX) -> None:
    mbx.hold_voltage = 3.0
    assert bench.model.im_bias_v == 0.0          # controller OFF: 0 V out
    mbx.set_manual_bias(3.0)
    assert bench.model.im_bias_v == pytest.approx(3.0)


def test_safety_limit_breach_reaches_nothing(bench: SimulatedBench, mbx: ThorlabsMBX) -> None:
    mbx.set_manual_bias(1.0)
    before = list(messages(bench))
    with pytest.raises(SafetyLimitError):
        mbx.hold_voltage = 9.5
    assert messages(bench) == before
    assert bench.model.im_bias_v == pytest.approx(1.0)


def test_tap_power_follows_the_model_and_the_laser(bench: SimulatedBench, mbx: ThorlabsMBX,
                                                   laser: Keysight816xLaser) -> None:
    mbx.set_manual_bias(bench.model.im_bias_for("quad+"))
    assert mbx.tap_power.to("W").magnitude == 0.0     # laser off
    laser.power = "1 mW"
    laser.output = True
    first = mbx.tap_power.to("W").magnitude
    assert first == pytest.approx(bench.model.optical_power("im_tap"), rel=1e-5)
    assert first > 0
    laser.power = "2 mW"
    assert mbx.tap_power.to("W").magnitude == pytest.approx(2 * first, rel=1e-5)
    # the bias changes the tap power: peak transmits far more than null
    mbx.hold_voltage = bench.model.im_bias_for("peak")
    peak = mbx.tap_power.to("W").magnitude
    assert peak == pytest.approx(bench.model.optical_power("im_tap"), rel=1e-4)
    mbx.hold_voltage = bench.model.im_bias_for("null")
    null = mbx.tap_power.to("W").magnitude
    assert peak / null > 100
    assert null == pytest.approx(bench.model.optical_power("im_tap"), rel=1e-4)


def test_autonull_locks_and_tracks_drift(bench: SimulatedBench, mbx: ThorlabsMBX, laser: Keysight816xLaser) -> None:
    laser.output = True
    mbx.mode = MzmMode.AUTONULL
    null0 = bench.model.im_bias_for("null")
    assert bench.model.im_bias_v == pytest.approx(null0)
    assert mbx.locked is True
    bench.model.advance(1000.0)                       # 0.2 V of drift at 2e-4 V/s
    null1 = bench.model.im_bias_for("null")
    assert null1 - null0 == pytest.approx(0.2)
    assert mbx.bias_voltage.to("V").magnitude == pytest.approx(null1, abs=1e-3)
    assert bench.model.im_bias_v == pytest.approx(null1)


@pytest.mark.parametrize(("mode", "point"), [(MzmMode.AUTOPEAK, "peak"), (MzmMode.AUTOQUADPOS, "quad+"),
                                             (MzmMode.AUTOQUADNEG, "quad-")])
def test_other_lock_points(bench: SimulatedBench, mbx: ThorlabsMBX, laser: Keysight816xLaser,
                           mode: MzmMode, point: str) -> None:
    laser.output = True
    mbx.mode = mode
    assert bench.model.im_bias_v == pytest.approx(bench.model.im_bias_for(point))


def test_no_light_no_lock(bench: SimulatedBench, mbx: ThorlabsMBX, laser: Keysight816xLaser) -> None:
    mbx.set_manual_bias(1.0)
    mbx.mode = MzmMode.AUTONULL                       # laser still off
    assert mbx.locked is False
    assert bench.model.im_bias_v == pytest.approx(1.0)   # the bias stays where it was
    laser.output = True
    assert mbx.locked is True                         # the next message locks
    assert bench.model.im_bias_v == pytest.approx(bench.model.im_bias_for("null"))


def test_hold_quadrature_does_not_track_drift(bench: SimulatedBench, mbx: ThorlabsMBX,
                                              laser: Keysight816xLaser) -> None:
    laser.output = True
    mbx.mode = MzmMode.HOLDQUADNEG
    held = bench.model.im_bias_for("quad-")
    bench.model.advance(2000.0)
    assert mbx.bias_voltage.to("V").magnitude == pytest.approx(held, abs=1e-3)
    assert bench.model.im_bias_for("quad-") - held == pytest.approx(0.4)


@pytest.mark.parametrize(("mode", "ratio"), [(MzmMode.AUTOPOWERPOS, 0.2), (MzmMode.AUTOPOWERNEG, 0.8)])
def test_power_ratio_lock_holds_the_transmission_ratio(bench: SimulatedBench, mbx: ThorlabsMBX,
                                                       laser: Keysight816xLaser, mode: MzmMode, ratio: float) -> None:
    laser.output = True
    mbx.hold_ratio = ratio
    mbx.mode = mode
    model = bench.model
    bias = model.im_bias_v
    peak = float(model.im_transmission(model.im_peak_bias()))
    assert float(model.im_transmission(bias)) / peak == pytest.approx(ratio, rel=1e-6)
    slope = float(model.im_transmission(bias + 1e-3)) - float(model.im_transmission(bias - 1e-3))
    assert (slope > 0) == (mode is MzmMode.AUTOPOWERPOS)


def test_automatic_mode_beyond_the_bias_limit_switches_off(bench: SimulatedBench, laser: Keysight816xLaser) -> None:
    laser.output = True
    strict = ThorlabsMBX(bench.serial_url("bias"), "bias", timeout=0.2, safety_limits={"max_bias_voltage": 5})
    try:
        assert bench.model.im_bias_for("null") > 5      # 6.5 V on this model
        with pytest.raises(SafetyLimitError, match="switched OFF"):
            strict.mode = MzmMode.AUTONULL
        assert bench.emulators["bias"].mode == 0
        assert bench.model.im_bias_v == 0.0
        strict.mode = MzmMode.AUTOQUADPOS               # -1.3 V: allowed
        assert bench.model.im_bias_v == pytest.approx(bench.model.im_bias_for("quad+"))
    finally:
        strict.close()


def test_recalibrate_relocks(bench: SimulatedBench, mbx: ThorlabsMBX, laser: Keysight816xLaser) -> None:
    laser.output = True
    mbx.mode = MzmMode.HOLDQUADPOS
    bench.model.advance(1000.0)
    mbx.recalibrate()
    assert bench.model.im_bias_v == pytest.approx(bench.model.im_bias_for("quad+"))
    assert mbx.calibrating is False


def test_voa_settings_round_trip(bench: SimulatedBench, mbx: ThorlabsMBX, laser: Keysight816xLaser) -> None:
    laser.output = True
    mbx.set_manual_bias(bench.model.im_bias_for("peak"))
    mbx.voa_enabled = True
    mbx.voa_mode = VoaMode.ATTENUATION
    mbx.voa_attenuation = "6.5 dB"
    assert mbx.voa_attenuation == 6.5
    assert mbx.voa_measured_attenuation == pytest.approx(6.5)
    assert mbx.voa_attenuation_error == pytest.approx(0.0)
    assert mbx.voa_stable is True
    into = bench.model.optical_power("im_tap") * 99.0   # tap ratio 1 %
    assert mbx.voa_tap_power.to("W").magnitude == pytest.approx(into * 10 ** -0.65, rel=1e-4)
    mbx.voa_mode = "power"
    mbx.voa_power_setpoint = into * 10 ** -1.0          # needs 10 dB
    assert mbx.voa_measured_attenuation == pytest.approx(10.0, abs=0.01)
    assert mbx.voa_stable is True
    mbx.voa_enabled = False
    assert mbx.voa_stable is False
    assert bench.emulators["bias"].voa_powered is False


# -- faults and recovery ----------------------------------------------------------------------------

def test_dropped_reply_is_retried(bench: SimulatedBench, mbx: ThorlabsMBX) -> None:
    mbx.set_manual_bias(1.25)
    start = len(messages(bench))
    bench.emulators["bias"].faults.timeout()
    assert mbx.bias_voltage == Q_(1.25, "V")
    assert messages(bench)[start:] == [b"MZM:VOLTAGE?", b"MZM:VOLTAGE?"]


def test_disconnect_reconnects_and_resends_the_setpoints(bench: SimulatedBench, mbx: ThorlabsMBX) -> None:
    mbx.set_manual_bias(1.5)
    emulator = bench.emulators["bias"]
    emulator.reset()                                   # power cycle: the MBX forgot everything
    assert bench.model.im_bias_v == 0.0
    start = len(messages(bench))
    emulator.faults.disconnect_after(0)
    assert mbx.bias_voltage == Q_(1.5, "V")            # lost link -> reconnect -> setpoints re-sent
    resent = messages(bench)[start:]
    assert resent[:4] == [b"MZM:HOLD:VOLTAGE: 1500", b"MZM:HOLD:VOLTAGE?", b"MZM:MODE: 7", b"MZM:MODE?"]
    assert resent[-1] == b"MZM:VOLTAGE?"
    assert bench.model.im_bias_v == pytest.approx(1.5)
    assert emulator.mode == 7


def test_link_that_stays_down_raises_connection_error(bench: SimulatedBench) -> None:
    driver = ThorlabsMBX(bench.serial_url("bias"), "bias", timeout=0.1, reconnect_retries=2)
    try:
        bench.emulators["bias"].faults.disconnect_after(0, refuse_reopen=5)
        with pytest.raises(InstrumentConnectionError, match="could not reconnect after 2 attempts"):
            driver.bias_voltage
    finally:
        driver.close()


def test_garbage_reply_is_a_protocol_error_and_the_link_recovers(bench: SimulatedBench, mbx: ThorlabsMBX) -> None:
    mbx.set_manual_bias(0.75)
    bench.emulators["bias"].faults.garbage()
    with pytest.raises(ProtocolError):
        mbx.bias_voltage
    assert mbx.bias_voltage == Q_(0.75, "V")


def test_wrong_baud_rate_gives_a_typed_timeout(bench: SimulatedBench) -> None:
    driver = ThorlabsMBX(bench.serial_url("bias"), "bias", baudrate=9600, timeout=0.05, reconnect_retries=1)
    try:
        with pytest.raises(Timeout, match="no answer to 'MZM:VOLTAGE\\?' after a retry and a reconnect"):
            driver.bias_voltage
    finally:
        driver.close()
    assert messages(bench) == []


def test_model_state_is_reset_with_the_emulator(bench: SimulatedBench, mbx: ThorlabsMBX) -> None:
    mbx.set_manual_bias(4.0)
    bench.emulators["bias"].reset()
    assert bench.model.im_bias_v == 0.0
    assert mbx.mode is MzmMode.OFF
    assert math.isclose(mbx.hold_voltage.to("V").magnitude, 0.0)


def test_emulator_framing_and_refusals_through_raw_pyserial(bench: SimulatedBench) -> None:
    import serial

    port = serial.serial_for_url(bench.serial_url("bias"), baudrate=115200, timeout=0.1)
    try:
        def ask(command: bytes) -> bytes:
            port.write(command + b"\r")
            return port.read_until(b"\r")

        port.write(b"MZM:HOLD:VOLTAGE: 1200\rMZM:MODE:7\r")   # two messages in one write; no-space form
        assert ask(b"MZM:VOLTAGE?") == b"1.200\r"
        port.write(b"MZM:HOLD:VOLTAGE: 20000\r")              # out of range: ignored, no reply
        assert ask(b"MZM:HOLD:VOLTAGE?") == b"1200\r"
        assert ask(b"VOA:MODE: 1") == b"1\r"                  # the one set that echoes
        assert ask(b"MZM:RESET") == b"1\r"
        assert ask(b"NOT:A:COMMAND?") == b""                  # unknown: silence (no error queue)
        assert ask(b"sys:ser?") == b"M00000001\r"
    finally:
        port.close()
