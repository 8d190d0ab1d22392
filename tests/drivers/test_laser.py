"""Protocol tests of the Keysight 816x laser-source driver: exact SCPI traffic, W/dBm handling,
ranges and the ``max_laser_power`` safety limit."""

from __future__ import annotations

import pytest

from qkdlab.drivers.laser import DEFAULT_POWER_RANGE, MODULE_WAVELENGTH_RANGES, Keysight816xLaser
from qkdlab.errors import ConfigError, InstrumentReportedError, ProtocolError, SafetyLimitError, SettingRangeError
from qkdlab.testing import ProtocolTransport, expected_protocol
from qkdlab.units import Q_

OK = ("SYST:ERR?", '+0,"No error"')
WIDE = (1260e-9, 1640e-9)


def laser_on(pairs=(), **kwargs) -> tuple[Keysight816xLaser, ProtocolTransport]:
    transport = ProtocolTransport(pairs)
    return Keysight816xLaser(transport, "laser", **kwargs), transport


def test_power_is_sent_in_watts_with_an_explicit_suffix() -> None:
    with expected_protocol(Keysight816xLaser, [(":SOUR1:POW 1.000000E-03W", None), OK,
                                               (":SOUR1:POW 2.500000E-04W", None), OK,
                                               (":SOUR1:POW 3.981072E-03W", None), OK]) as laser:
        laser.power = 1e-3
        laser.power = "250 uW"
        laser.power = Q_(3.981072, "mW")
        assert laser.cache["power"].value == Q_(3.981072e-3, "W")


def test_power_read_in_watt_display_unit() -> None:
    with expected_protocol(Keysight816xLaser, [(":SOUR1:POW:UNIT?", "1"), (":SOUR1:POW?", "+1.00000000E-03")]) as laser:
        assert laser.power == Q_(1e-3, "W")


def test_power_read_in_dbm_display_unit_is_converted_to_watts() -> None:
    with expected_protocol(Keysight816xLaser, [(":SOUR1:POW:UNIT?", "+0"), (":SOUR1:POW?", "+3.00000000E+00"),
                                               (":SOUR1:POW:UNIT?", "0"), (":SOUR1:POW?", "-10.0")]) as laser:
        assert laser.power.to("W").magnitude == pytest.approx(1.9952623e-3)
        assert laser.power.to("W").magnitude == pytest.approx(1e-4)


def test_power_read_with_a_bad_unit_or_value_is_a_protocol_error() -> None:
    with expected_protocol(Keysight816xLaser, [(":SOUR1:POW:UNIT?", "2"),
                                               (":SOUR1:POW:UNIT?", "1"), (":SOUR1:POW?", "lots"),
                                               (":SOUR1:POW:UNIT?", "1"), (":SOUR1:POW?", "+9.9E+37")]) as laser:
        with pytest.raises(ProtocolError, match="0 \\(dBm\\) or 1 \\(W\\)"):
            laser.power
        with pytest.raises(ProtocolError, match="not a number"):
            laser.power
        with pytest.raises(ProtocolError):
            laser.power


def test_power_above_the_bench_limit_sends_nothing() -> None:
    laser, transport = laser_on(safety_limits={"max_laser_power": "5 mW"})
    with pytest.raises(SafetyLimitError, match="max_laser_power = 0.005 W"):
        laser.power = 6e-3
    with pytest.raises(SafetyLimitError):
        laser.power = "10 mW"
    assert transport.sent == []
    assert Keysight816xLaser.safety_limit_units() == {"max_laser_power": "W"}


def test_power_outside_the_module_range_sends_nothing() -> None:
    laser, transport = laser_on(power_range=(1e-4, 5e-3))
    for bad in (6e-3, "50 uW", "3 V", -1e-3):
        with pytest.raises(SettingRangeError):
            laser.power = bad
    assert transport.sent == []
    assert DEFAULT_POWER_RANGE == (100e-6, 20e-3)


def test_instrument_refusal_after_a_power_set_is_reported() -> None:
    with expected_protocol(Keysight816xLaser, [(":SOUR1:POW 1.500000E-02W", None),
                                               ("SYST:ERR?", '-222,"Data out of range"'), OK]) as laser:
        with pytest.raises(InstrumentReportedError) as info:
            laser.power = 15e-3
        assert info.value.code == -222 and info.value.command == ":SOUR1:POW 1.500000E-02W"


def test_wavelength_in_metres_without_suffix() -> None:
    with expected_protocol(Keysight816xLaser, [(":SOUR1:WAV 1.55e-06", None), OK,
                                               (":SOUR1:WAV 1.31e-06", None), OK,
                                               (":SOUR1:WAV?", "+1.55012000E-06")],
                           wavelength_range=WIDE) as laser:
        laser.wavelength = "1550 nm"
        laser.wavelength = 1.31e-6
        assert laser.wavelength.to("nm").magnitude == pytest.approx(1550.12)


def test_wavelength_range_is_checked_before_sending() -> None:
    laser, transport = laser_on(wavelength_range=WIDE)
    for bad in ("1700 nm", "1200 nm", "1550 Hz"):
        with pytest.raises(SettingRangeError):
            laser.wavelength = bad
    narrow, narrow_transport = laser_on(wavelength_range=(1540e-9, 1560e-9))
    with pytest.raises(SettingRangeError):
        narrow.wavelength = "1530 nm"
    assert transport.sent == [] and narrow_transport.sent == []
    assert MODULE_WAVELENGTH_RANGES["81600B"] == (1260e-9, 1640e-9)


def test_output_on_off_and_state() -> None:
    with expected_protocol(Keysight816xLaser, [(":SOUR1:POW:STAT ON", None), OK, (":SOUR1:POW:STAT OFF", None), OK,
                                               (":SOUR1:POW:STAT?", "1"), (":SOUR1:POW:STAT?", "0"),
                                               (":SOUR1:POW:STAT?", "+1")]) as laser:
        laser.output = True
        laser.turn_off()
        assert laser.output is True
        assert laser.output is False
        assert laser.output is True


def test_output_on_with_a_limit_reads_the_setpoint_first() -> None:
    with expected_protocol(Keysight816xLaser, [(":SOUR1:POW:UNIT?", "1"), (":SOUR1:POW?", "+4.00000000E-03"),
                                               (":SOUR1:POW:STAT ON", None), OK],
                           safety_limits={"max_laser_power": 5e-3}) as laser:
        laser.turn_on()


def test_output_on_refused_when_the_front_panel_setpoint_is_above_the_limit() -> None:
    laser, transport = laser_on([(":SOUR1:POW:UNIT?", "0"), (":SOUR1:POW?", "+1.00000000E+01")],
                                safety_limits={"max_laser_power": "5 mW"})
    with pytest.raises(SafetyLimitError, match="before switching on"):
        laser.output = True
    assert transport.sent == [b":SOUR1:POW:UNIT?", b":SOUR1:POW?"]   # two reads, no STAT ON
    transport.assert_done()


def test_switching_off_needs_no_power_check() -> None:
    with expected_protocol(Keysight816xLaser, [(":SOUR1:POW:STAT OFF", None), OK],
                           safety_limits={"max_laser_power": "1 mW"}) as laser:
        laser.output = False


def test_slot_zero_addresses_the_8164b_back_slot() -> None:
    with expected_protocol(Keysight816xLaser, [(":SOUR0:POW:STAT OFF", None), OK,
                                               (":SLOT0:IDN?", "Agilent Technologies,81600B,DE12345678,V4.3")],
                           slot=0) as laser:
        laser.output = False
        assert laser.identify().model == "81600B"


def test_identify_names_the_module_and_mainframe_identity_the_frame() -> None:
    with expected_protocol(Keysight816xLaser, [(":SLOT2:IDN?", "Keysight Technologies,81657A,DE0001,V1.0"),
                                               ("*IDN?", "Keysight Technologies,8163B,MY0001,V5.25")],
                           slot=2) as laser:
        module = laser.identify()
        frame = laser.mainframe_identity()
        assert (module.model, module.serial) == ("81657A", "DE0001")
        assert frame.model == "8163B"


def test_bad_construction_arguments_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        laser_on(slot=-1)
    with pytest.raises(ConfigError):
        laser_on(power_range=(5e-3, 1e-3))
    with pytest.raises(ConfigError):
        laser_on(wavelength_range=(-1.0, 1.0))


def test_reconnect_clears_status_and_restores_output_last() -> None:
    pairs = [(":SOUR1:POW:STAT ON", None), OK, (":SOUR1:WAV 1.55e-06", None), OK,
             (":SOUR1:POW 2.000000E-03W", None), OK,
             ("*CLS", None), (":SOUR1:WAV 1.55e-06", None), OK, (":SOUR1:POW 2.000000E-03W", None), OK,
             (":SOUR1:POW:STAT ON", None), OK]
    with expected_protocol(Keysight816xLaser, pairs, name="laser", wavelength_range=WIDE) as laser:
        laser.output = True
        laser.wavelength = 1.55e-6
        laser.power = 2e-3
        assert laser.reconnect() == ["laser.wavelength", "laser.power", "laser.output"]


def test_safety_read_before_switching_on_keeps_the_set_power_for_reconnects() -> None:
    with expected_protocol(Keysight816xLaser, [(":SOUR1:POW 2.000000E-03W", None), OK,
                                               (":SOUR1:POW:UNIT?", "1"), (":SOUR1:POW?", "+2.00000000E-03"),
                                               (":SOUR1:POW:STAT ON", None), OK],
                           safety_limits={"max_laser_power": 5e-3}) as laser:
        laser.power = 2e-3
        laser.output = True
        assert laser.cache["power"].source == "set"


def test_output_path_of_a_two_output_source() -> None:
    """Issue 20 item 6: ``:OUTP<slot>:PATH`` selects the output of a two-output source."""
    with expected_protocol(Keysight816xLaser, [(":OUTP0:PATH LOWS", None), OK, (":OUTP0:PATH?", "LOWS")],
                           slot=0) as laser:
        laser.output_path = "LOWS"
        assert laser.output_path.name == "LOWS"


def test_wavelength_range_comes_from_the_identified_module() -> None:
    """Issue 20 item 9: an N7776C covers 1480..1620 nm (PyMeasure ``keysightN7776C.py`` WL_RANGE), so
    1300 nm is refused before sending; an unknown module asks for ``wavelength_range``."""
    laser, transport = laser_on([(":SLOT0:IDN?", "Keysight Technologies,N7776C,DE0001,V1.0")], slot=0)
    with pytest.raises(SettingRangeError, match="1.48e-06, 1.62e-06"):
        laser.wavelength = "1300 nm"
    assert transport.sent == [b":SLOT0:IDN?"]
    unknown, _ = laser_on([(":SLOT1:IDN?", "Keysight Technologies,81999Z,DE0001,V1.0")])
    with pytest.raises(ConfigError, match="wavelength_range"):
        unknown.wavelength = "1550 nm"


def test_a_locked_laser_is_unlocked_with_the_configured_password() -> None:
    """Issue 20 item 9: ``:LOCK?`` / ``:LOCK 0,<password>`` as in PyMeasure ``keysightN7776C.py``."""
    with expected_protocol(Keysight816xLaser, [(":LOCK?", "1"), (":LOCK 0,1234", None), OK,
                                               (":SOUR0:POW:STAT ON", None), OK],
                           slot=0, lock_password=1234) as laser:
        laser.turn_on()


def test_a_locked_laser_without_password_says_why_it_will_not_switch_on() -> None:
    with expected_protocol(Keysight816xLaser, [(":SOUR1:POW:STAT ON", None),
                                               ("SYST:ERR?", '-221,"Settings conflict"'), OK,
                                               (":LOCK?", "1")]) as laser, \
            pytest.raises(InstrumentReportedError, match="lock_password"):
        laser.turn_on()
