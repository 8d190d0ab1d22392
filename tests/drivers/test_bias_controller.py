"""Protocol tests of the Thorlabs MBX driver: exact command/reply traffic (``\\r`` framing stripped),
native scaling, read-back verification (the MBX has no error queue), ranges and safety limits."""

from __future__ import annotations

import pytest

from qkdlab.drivers.bias_controller import AUTOMATIC_MODES, MzmMode, ThorlabsMBX, VoaMode
from qkdlab.errors import (
    ConfigError,
    InstrumentReportedError,
    ProtocolError,
    SafetyLimitError,
    SettingRangeError,
)
from qkdlab.testing import ProtocolTransport, expected_protocol
from qkdlab.units import Q_


def mbx_on(pairs=(), **kwargs) -> tuple[ThorlabsMBX, ProtocolTransport]:
    """A driver on a scripted transport with the MBX's terminators, for tests that inspect `sent`."""
    transport = ProtocolTransport(pairs, write_termination="\r", read_termination="\r")
    return ThorlabsMBX(transport, "bias", **kwargs), transport


def test_class_settings_match_the_mbx_serial_link() -> None:
    assert ThorlabsMBX.interface == "serial"
    assert ThorlabsMBX.default_settings["baudrate"] == 115200
    assert ThorlabsMBX.default_settings["write_termination"] == "\r"
    assert ThorlabsMBX.default_settings["read_termination"] == "\r"
    assert ThorlabsMBX.safety_limit_units() == {"max_bias_voltage": "V"}


def test_mzm_mode_values_are_the_documented_ones() -> None:
    assert [(m.name, m.value) for m in MzmMode] == [
        ("OFF", 0), ("AUTOPEAK", 1), ("AUTONULL", 2), ("AUTOQUADPOS", 3), ("AUTOQUADNEG", 4),
        ("HOLDQUADPOS", 5), ("HOLDQUADNEG", 6), ("MANUAL", 7), ("AUTOPOWERPOS", 8), ("AUTOPOWERNEG", 9)]
    assert MzmMode.OFF not in AUTOMATIC_MODES and MzmMode.MANUAL not in AUTOMATIC_MODES
    assert len(AUTOMATIC_MODES) == 8


# -- mode ------------------------------------------------------------------------------------------

def test_mode_set_is_verified_by_reading_back() -> None:
    with expected_protocol(ThorlabsMBX, [("MZM:MODE: 7", None), ("MZM:MODE?", "7"),
                                         ("MZM:MODE: 3", None), ("MZM:MODE?", "3"),
                                         ("MZM:MODE: 0", None), ("MZM:MODE?", "0")]) as mbx:
        mbx.mode = MzmMode.MANUAL
        mbx.mode = "autoquadpos"
        mbx.mode = 0
        assert mbx.cache["mode"].value is MzmMode.OFF


def test_mode_get_parses_the_number() -> None:
    with expected_protocol(ThorlabsMBX, [("MZM:MODE?", "5"), ("MZM:MODE?", "9")]) as mbx:
        assert mbx.mode is MzmMode.HOLDQUADPOS
        assert mbx.mode is MzmMode.AUTOPOWERNEG


def test_mode_readback_that_differs_raises_naming_both() -> None:
    with expected_protocol(ThorlabsMBX, [("MZM:MODE: 2", None), ("MZM:MODE?", "0")]) as mbx:
        with pytest.raises(InstrumentReportedError, match="read back OFF after setting mode to AUTONULL"):
            mbx.mode = MzmMode.AUTONULL


def test_mode_unknown_values_are_refused_or_reported() -> None:
    mbx, transport = mbx_on([("MZM:MODE?", "12"), ("MZM:MODE?", "x")])
    with pytest.raises(SettingRangeError):
        mbx.mode = "locked"
    with pytest.raises(SettingRangeError):
        mbx.mode = 10
    assert transport.sent == []
    with pytest.raises(ProtocolError):
        mbx.mode
    with pytest.raises(ProtocolError):
        mbx.mode
    transport.assert_done()


# -- hold voltage (native integer mV) ----------------------------------------------------------

def test_hold_voltage_is_sent_in_integer_millivolts_and_verified() -> None:
    with expected_protocol(ThorlabsMBX, [("MZM:HOLD:VOLTAGE: 1500", None), ("MZM:HOLD:VOLTAGE?", "1500"),
                                         ("MZM:HOLD:VOLTAGE: -250", None), ("MZM:HOLD:VOLTAGE?", "-250"),
                                         ("MZM:HOLD:VOLTAGE: 5000", None), ("MZM:HOLD:VOLTAGE?", "5000"),
                                         ("MZM:HOLD:VOLTAGE: -10000", None), ("MZM:HOLD:VOLTAGE?", "-10000")]) as mbx:
        mbx.hold_voltage = 1.5004
        mbx.hold_voltage = "-250 mV"
        mbx.hold_voltage = Q_(5, "V")
        mbx.hold_voltage = -10
        assert mbx.cache["hold_voltage"].value == Q_(-10, "V")


def test_hold_voltage_get_converts_millivolts_to_volts() -> None:
    with expected_protocol(ThorlabsMBX, [("MZM:HOLD:VOLTAGE?", "5000"), ("MZM:HOLD:VOLTAGE?", "-1234")]) as mbx:
        assert mbx.hold_voltage == Q_(5.0, "V")
        assert mbx.hold_voltage.to("mV").magnitude == pytest.approx(-1234)


def test_hold_voltage_readback_mismatch_raises() -> None:
    with expected_protocol(ThorlabsMBX, [("MZM:HOLD:VOLTAGE: 2000", None), ("MZM:HOLD:VOLTAGE?", "0")]) as mbx:
        with pytest.raises(InstrumentReportedError, match="hold_voltage") as info:
            mbx.hold_voltage = 2.0
        assert info.value.command == "MZM:HOLD:VOLTAGE: 2000"
        assert "hold_voltage" not in mbx.cache


def test_hold_voltage_out_of_range_or_wrong_unit_sends_nothing() -> None:
    mbx, transport = mbx_on()
    for bad in (10.5, "-11 V", Q_(2, "A"), "two volts"):
        with pytest.raises(SettingRangeError):
            mbx.hold_voltage = bad
    assert transport.sent == []


def test_hold_voltage_beyond_the_bench_limit_sends_nothing() -> None:
    mbx, transport = mbx_on(safety_limits={"max_bias_voltage": "4 V"})
    with pytest.raises(SafetyLimitError, match="max_bias_voltage = 4 V"):
        mbx.hold_voltage = 4.5
    with pytest.raises(SafetyLimitError):
        mbx.hold_voltage = "-4200 mV"
    with pytest.raises(SafetyLimitError):
        mbx.set_manual_bias(5)
    assert transport.sent == []


def test_unknown_safety_limit_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="max_drive_voltage"):
        mbx_on(safety_limits={"max_drive_voltage": 3})


def test_set_manual_bias_sets_the_hold_voltage_before_the_mode() -> None:
    with expected_protocol(ThorlabsMBX, [("MZM:HOLD:VOLTAGE: 1250", None), ("MZM:HOLD:VOLTAGE?", "1250"),
                                         ("MZM:MODE: 7", None), ("MZM:MODE?", "7")],
                           safety_limits={"max_bias_voltage": 9}) as mbx:
        mbx.set_manual_bias("1.25 V")


# -- automatic modes and the bias safety limit ----------------------------------------------------

def test_automatic_mode_without_a_limit_does_not_query_the_bias() -> None:
    with expected_protocol(ThorlabsMBX, [("MZM:MODE: 2", None), ("MZM:MODE?", "2")]) as mbx:
        mbx.mode = MzmMode.AUTONULL


def test_automatic_mode_within_the_limit_checks_the_applied_bias() -> None:
    with expected_protocol(ThorlabsMBX, [("MZM:MODE: 2", None), ("MZM:MODE?", "2"), ("MZM:VOLTAGE?", "6.50")],
                           safety_limits={"max_bias_voltage": 9}) as mbx:
        mbx.mode = MzmMode.AUTONULL
        assert mbx.cache["bias_voltage"].value == Q_(6.5, "V")


def test_automatic_mode_beyond_the_limit_switches_off_and_raises() -> None:
    with expected_protocol(ThorlabsMBX, [("MZM:MODE: 2", None), ("MZM:MODE?", "2"), ("MZM:VOLTAGE?", "6.50"),
                                         ("MZM:MODE: 0", None)],
                           safety_limits={"max_bias_voltage": 5}) as mbx:
        with pytest.raises(SafetyLimitError, match="applied 6.5 V.*max_bias_voltage = 5 V.*switched OFF"):
            mbx.mode = MzmMode.AUTONULL
        assert mbx.cache["mode"].value is MzmMode.OFF
        assert mbx.cache["mode"].source == "set"   # a reconnect restores OFF, not the unsafe lock


def test_check_bias_returns_the_applied_bias() -> None:
    with expected_protocol(ThorlabsMBX, [("MZM:VOLTAGE?", "-3.217")], safety_limits={"max_bias_voltage": 5}) as mbx:
        assert mbx.check_bias() == Q_(-3.217, "V")


# -- hold ratio (percent x 100, API fraction) -------------------------------------------------------

def test_hold_ratio_fraction_is_sent_as_percent_times_100() -> None:
    with expected_protocol(ThorlabsMBX, [("MZM:HOLD:RATIO: 500", None), ("MZM:HOLD:RATIO?", "500"),
                                         ("MZM:HOLD:RATIO: 2500", None), ("MZM:HOLD:RATIO?", "2500"),
                                         ("MZM:HOLD:RATIO?", "10000")]) as mbx:
        mbx.hold_ratio = 0.05
        mbx.hold_ratio = "25 %"
        assert mbx.hold_ratio == pytest.approx(1.0)


def test_hold_ratio_outside_2_5_to_100_percent_sends_nothing() -> None:
    mbx, transport = mbx_on()
    for bad in (0.02, 1.01, "1 %"):
        with pytest.raises(SettingRangeError):
            mbx.hold_ratio = bad
    assert transport.sent == []


# -- readings -------------------------------------------------------------------------------------

def test_readings_convert_to_si() -> None:
    with expected_protocol(ThorlabsMBX, [("MZM:VOLTAGE?", "5.42"), ("MZM:TAP:MW?", "1.23"),
                                         ("MZM:SETPOINT?", "1"), ("MZM:SETPOINT?", "0"),
                                         ("MZM:CALIBRATING?", "0")]) as mbx:
        assert mbx.bias_voltage == Q_(5.42, "V")
        tap = mbx.tap_power
        assert tap.units == Q_(1, "W").units and tap.magnitude == pytest.approx(1.23e-3)
        assert mbx.locked is True
        assert mbx.locked is False
        assert mbx.calibrating is False


def test_garbled_reading_is_a_protocol_error() -> None:
    with expected_protocol(ThorlabsMBX, [("MZM:TAP:MW?", "\xfe\x13?!"), ("MZM:SETPOINT?", "yes")]) as mbx:
        with pytest.raises(ProtocolError, match="tap_power"):
            mbx.tap_power
        with pytest.raises(ProtocolError):
            mbx.locked


def test_readings_are_read_only() -> None:
    mbx, transport = mbx_on()
    with pytest.raises(AttributeError):
        mbx.bias_voltage = 1.0
    assert transport.sent == []


def test_recalibrate_expects_the_acknowledgement() -> None:
    with expected_protocol(ThorlabsMBX, [("MZM:RESET", "1"), ("MZM:RESET", "0")]) as mbx:
        mbx.recalibrate()
        with pytest.raises(ProtocolError, match="acknowledged with '0'"):
            mbx.recalibrate()


# -- VOA ------------------------------------------------------------------------------------------

def test_voa_mode_set_consumes_the_echo_and_verifies() -> None:
    with expected_protocol(ThorlabsMBX, [("VOA:MODE: 0", "1"), ("VOA:MODE?", "0"),
                                         ("VOA:MODE: 1", "1"), ("VOA:MODE?", "1"),
                                         ("VOA:MODE?", "1")]) as mbx:
        mbx.voa_mode = VoaMode.ATTENUATION
        mbx.voa_mode = "power"
        assert mbx.voa_mode is VoaMode.POWER


def test_voa_mode_without_acknowledgement_is_a_protocol_error() -> None:
    with expected_protocol(ThorlabsMBX, [("VOA:MODE: 1", "0")]) as mbx:
        with pytest.raises(ProtocolError, match="expected '1'"):
            mbx.voa_mode = VoaMode.POWER
        assert "voa_mode" not in mbx.cache


def test_voa_attenuation_is_plain_db() -> None:
    with expected_protocol(ThorlabsMBX, [("VOA:ATTEN: 5", None), ("VOA:ATTEN?", "5"),
                                         ("VOA:ATTEN: 7.25", None), ("VOA:ATTEN?", "7.25"),
                                         ("VOA:ATTEN: 12", None), ("VOA:ATTEN?", "12"),
                                         ("VOA:ATTEN?", "20")]) as mbx:
        mbx.voa_attenuation = 5
        mbx.voa_attenuation = "7.25 dB"
        mbx.voa_attenuation = Q_(12, "dB")
        value = mbx.voa_attenuation
        assert isinstance(value, float) and value == 20.0
        assert mbx.cache["voa_attenuation"].value == 20.0


def test_voa_attenuation_cache_after_set_is_a_float() -> None:
    with expected_protocol(ThorlabsMBX, [("VOA:ATTEN: 3.5", None), ("VOA:ATTEN?", "3.5")]) as mbx:
        mbx.voa_attenuation = 3.5
        cached = mbx.cache["voa_attenuation"]
        assert isinstance(cached.value, float) and cached.value == 3.5 and cached.source == "set"


def test_voa_attenuation_outside_range_or_not_db_sends_nothing() -> None:
    mbx, transport = mbx_on()
    for bad in (0.4, 20.5, "3 W", Q_(0.5, "dimensionless"), True):
        with pytest.raises(SettingRangeError):
            mbx.voa_attenuation = bad
    assert transport.sent == []


def test_voa_attenuation_readback_mismatch_raises() -> None:
    with expected_protocol(ThorlabsMBX, [("VOA:ATTEN: 5", None), ("VOA:ATTEN?", "0.5")]) as mbx:
        with pytest.raises(InstrumentReportedError, match="voa_attenuation"):
            mbx.voa_attenuation = 5


def test_voa_power_enable_and_readings() -> None:
    with expected_protocol(ThorlabsMBX, [("VOA:POWER: 1", None), ("VOA:POWER?", "1"),
                                         ("VOA:OUTPUT:MW: 2", None), ("VOA:OUTPUT:MW?", "2"),
                                         ("VOA:MEASURED?", "5"), ("VOA:ERROR?", "0.1"),
                                         ("VOA:SETPOINT?", "0"), ("VOA:TAP:MW?", "5"),
                                         ("VOA:POWER?", "0")]) as mbx:
        mbx.voa_enabled = True
        mbx.voa_power_setpoint = "2 mW"
        assert mbx.voa_measured_attenuation == 5.0
        assert mbx.voa_attenuation_error == pytest.approx(0.1)
        assert mbx.voa_stable is False
        assert mbx.voa_tap_power.to("W").magnitude == pytest.approx(5e-3)
        assert mbx.voa_enabled is False


def test_voa_power_setpoint_range() -> None:
    mbx, transport = mbx_on()
    with pytest.raises(SettingRangeError):
        mbx.voa_power_setpoint = "5 uW"
    with pytest.raises(SettingRangeError):
        mbx.voa_power_setpoint = 0.2
    assert transport.sent == []


# -- identity, error checking switch, reconnect ---------------------------------------------------

def test_identify_uses_the_system_queries() -> None:
    with expected_protocol(ThorlabsMBX, [("SYSTEM:MODEL?", "MBX"), ("SYSTEM:SERIAL?", "M00123456"),
                                         ("SYSTEM:FIRMWARE?", "1.2.3")]) as mbx:
        identity = mbx.identify()
        assert (identity.manufacturer, identity.model, identity.serial, identity.firmware) == (
            "Thorlabs", "MBX", "M00123456", "1.2.3")


def test_identify_does_not_stall_when_the_mbx_knows_no_identity_query() -> None:
    """Issue 20 item 3: ``SYSTEM:MODEL?`` is borrowed from the MX10B; if the MBX stays silent (and
    to ``*IDN?`` too) identify answers quickly after checking the link with ``MZM:MODE?``."""
    transport = ProtocolTransport([("SYSTEM:MODEL?", None), ("*IDN?", None), ("MZM:MODE?", "2")])
    mbx = ThorlabsMBX(transport, "mbx")
    mbx.optional_query_timeout = 0.05
    identity = mbx.identify()
    transport.assert_done()
    assert identity.model.startswith("MBX (no identity query")
    assert mbx.unsupported_queries == {"SYSTEM:MODEL?", "*IDN?"}


def test_identify_falls_back_to_idn() -> None:
    with expected_protocol(ThorlabsMBX, [("SYSTEM:MODEL?", ""), ("*IDN?", "Thorlabs,MBX,M0001,2.0")]) as mbx:
        assert mbx.identify().serial == "M0001"


def test_readback_tolerance_follows_the_setpoint_resolution() -> None:
    """Issue 20 item 9: a controller that rounds 5.04 dB to 5.0 dB or 1.234 mW to 1.23 mW accepted
    the setting; only a larger difference is a refusal."""
    with expected_protocol(ThorlabsMBX, [("VOA:ATTEN: 5.04", None), ("VOA:ATTEN?", "5.0"),
                                         ("VOA:OUTPUT:MW: 1.234", None), ("VOA:OUTPUT:MW?", "1.23"),
                                         ("VOA:ATTEN: 5.2", None), ("VOA:ATTEN?", "5.0")]) as mbx:
        mbx.voa_attenuation = 5.04
        mbx.voa_power_setpoint = 1.234e-3
        with pytest.raises(InstrumentReportedError):
            mbx.voa_attenuation = 5.2


def test_check_errors_false_skips_the_readback() -> None:
    with expected_protocol(ThorlabsMBX, [("MZM:HOLD:VOLTAGE: 1000", None), ("MZM:MODE: 7", None)],
                           check_errors=False) as mbx:
        mbx.hold_voltage = 1.0
        mbx.mode = "MANUAL"


def test_reconnect_reapplies_setpoints_setpoints_before_mode() -> None:
    pairs = [("MZM:MODE: 7", None), ("MZM:MODE?", "7"),
             ("MZM:HOLD:VOLTAGE: 1500", None), ("MZM:HOLD:VOLTAGE?", "1500"),
             ("VOA:ATTEN: 3", None), ("VOA:ATTEN?", "3"),
             # after the reconnect: hold voltage first, then the mode that uses it, then the VOA
             ("MZM:HOLD:VOLTAGE: 1500", None), ("MZM:HOLD:VOLTAGE?", "1500"),
             ("MZM:MODE: 7", None), ("MZM:MODE?", "7"),
             ("VOA:ATTEN: 3", None), ("VOA:ATTEN?", "3")]
    with expected_protocol(ThorlabsMBX, pairs, name="bias") as mbx:
        mbx.mode = MzmMode.MANUAL
        mbx.hold_voltage = 1.5
        mbx.voa_attenuation = 3
        assert mbx.reconnect() == ["bias.hold_voltage", "bias.mode", "bias.voa_attenuation"]


def test_transcript_from_pymeasure_thorlabsmbxseries_tests() -> None:
    """Independent source: PyMeasure ``tests/instruments/thorlabs/test_thorlabsmbxseries.py`` (``MZM:MODE: 3``,
    ``MZM:HOLD:VOLTAGE: 5000`` for 5.0004 V, ``MZM:HOLD:RATIO: 500`` for 5.004 %, ``VOA:MODE: 0`` answered
    ``1``, ``MZM:VOLTAGE?`` -> ``5.42``, ``MZM:TAP:MW?`` -> ``1.23``, ``MZM:RESET`` -> ``1``), each set followed
    by the read-back qkdlab adds."""
    pairs = [("MZM:MODE: 3", None), ("MZM:MODE?", "3"),
             ("MZM:HOLD:VOLTAGE: 5000", None), ("MZM:HOLD:VOLTAGE?", "5000"),
             ("MZM:HOLD:RATIO: 500", None), ("MZM:HOLD:RATIO?", "500"),
             ("VOA:MODE: 0", "1"), ("VOA:MODE?", "0"),
             ("MZM:VOLTAGE?", "5.42"), ("MZM:TAP:MW?", "1.23"), ("MZM:RESET", "1")]
    with expected_protocol(ThorlabsMBX, pairs) as mbx:
        mbx.mode = MzmMode.AUTOQUADPOS
        mbx.hold_voltage = 5.0004
        mbx.hold_ratio = 0.05004
        mbx.voa_mode = VoaMode.ATTENUATION
        assert mbx.bias_voltage == Q_(5.42, "V")
        assert mbx.tap_power.to("mW").magnitude == pytest.approx(1.23)
        mbx.recalibrate()
