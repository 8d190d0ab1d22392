"""The property factories, unit handling, safety limits, error checks and recovery of the driver base."""

from __future__ import annotations

import enum

import pytest

from qkdlab.drivers.base import Channel, Identity, Instrument, SCPIInstrument, control, measurement, setting
from qkdlab.errors import (
    ConfigError,
    InstrumentReportedError,
    OverrangeError,
    ProtocolError,
    SafetyLimitError,
    SettingRangeError,
    Timeout,
)
from qkdlab.testing import ProtocolTransport, expected_protocol
from qkdlab.units import Q_


class Shape(enum.Enum):
    SINE = "SIN"
    SQUARE = "SQU"


class DemoChannel(Channel):
    voltage = control("SOUR{ch}:VOLT?", "SOUR{ch}:VOLT {value:.6g}", "Control the amplitude (V).",
                      unit="V", limits=(0.0, 10.0), safety="max_voltage")


class DemoSource(SCPIInstrument):
    """A minimal SCPI driver exercising every feature of the base layer."""

    channel_classes = (DemoChannel,)
    frequency = control("FREQ?", "FREQ {value:.9g}", "Control the frequency (Hz).", unit="Hz", limits=(1.0, 1e6))
    bias_mv = control("BIAS?", "BIAS {value:d}", "Control the bias, sent as integer mV.", unit="V", scale=1e3,
                      native_int=True, limits=(-10.0, 10.0), safety="max_bias")
    shape = control("FUNC?", "FUNC {value}", "Control the waveform shape.", values=Shape, cast=str)
    output = control("OUTP?", "OUTP {value}", "Control the output switch.", values={True: 1, False: 0}, cast=int)
    power = measurement("MEAS:POW?", "Measure the optical power (W).", unit="W")
    label_text = setting("DISP:TEXT {value}", "Set the display text.", cast=str)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ch1 = DemoChannel(self, 1)

    @property
    def channels(self):
        return [self.ch1]


OK = ("SYST:ERR?", '+0,"No error"')


def test_float_setter_and_getter_use_si_and_check_errors() -> None:
    with expected_protocol(DemoSource, [("FREQ 1000", None), OK, ("FREQ?", "1000.0")]) as src:
        src.frequency = 1000.0
        value = src.frequency
    assert value == Q_(1000.0, "Hz")
    assert src.cache["frequency"].source == "get"


def test_quantities_and_strings_are_converted_to_the_native_unit() -> None:
    with expected_protocol(DemoSource, [("FREQ 2500", None), OK, ("FREQ 3000", None), OK]) as src:
        src.frequency = Q_(2.5, "kHz")
        src.frequency = "3 kHz"


def test_native_integer_scaling_round_trips() -> None:
    with expected_protocol(DemoSource, [("BIAS 1235", None), OK, ("BIAS?", "-250")]) as src:
        src.bias_mv = Q_(1234.6, "mV")
        assert src.cache["bias_mv"].value == Q_(1.235, "V")
        assert src.bias_mv == Q_(-0.25, "V")


def test_wrong_dimension_is_refused_before_sending() -> None:
    transport = ProtocolTransport([])
    src = DemoSource(transport)
    with pytest.raises(SettingRangeError, match="not a value in Hz"):
        src.frequency = Q_(3, "V")
    assert transport.sent == []


def test_out_of_range_is_refused_before_sending() -> None:
    transport = ProtocolTransport([])
    src = DemoSource(transport)
    with pytest.raises(SettingRangeError, match=r"outside the instrument range \[1, 1e\+06\]"):
        src.frequency = 2e6
    assert transport.sent == []


def test_safety_limit_breach_sends_nothing_and_names_the_limit() -> None:
    transport = ProtocolTransport([])
    src = DemoSource(transport, "src", safety_limits={"max_bias": "2 V", "max_voltage": Q_(500, "mV")})
    with pytest.raises(SafetyLimitError, match="max_bias = 2 V"):
        src.bias_mv = -2.5
    with pytest.raises(SafetyLimitError, match="ch1 voltage = 0.6 V exceeds .* max_voltage = 0.5 V"):
        src.ch1.voltage = 0.6
    assert transport.sent == []


def test_unknown_or_misdimensioned_safety_limit_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown safety limit 'max_power'"):
        DemoSource(ProtocolTransport([]), safety_limits={"max_power": 1})
    with pytest.raises(ConfigError, match="max_bias='3 W' is not a value in V"):
        DemoSource(ProtocolTransport([]), safety_limits={"max_bias": "3 W"})
    assert set(DemoSource.safety_limit_units()) == {"max_bias", "max_voltage"}


def test_enum_and_mapping_values() -> None:
    with expected_protocol(DemoSource, [("FUNC SQU", None), OK, ("FUNC?", "SIN"), ("OUTP 1", None), OK,
                                        ("OUTP?", "0")]) as src:
        src.shape = "SQUARE"
        assert src.shape is Shape.SINE
        src.output = True
        assert src.output is False
    with pytest.raises(SettingRangeError):
        DemoSource(ProtocolTransport([])).shape = "TRIANGLE"


def test_reported_error_carries_code_message_and_command() -> None:
    pairs = [("FREQ 10", None), ("SYST:ERR?", '-222,"Data out of range"'), ("SYST:ERR?", '+0,"No error"')]
    with expected_protocol(DemoSource, pairs) as src:
        with pytest.raises(InstrumentReportedError) as info:
            src.frequency = 10
    assert info.value.code == -222
    assert info.value.message == "Data out of range"
    assert info.value.command == "FREQ 10"
    assert "frequency" not in src.cache  # a refused setting is not cached as a setpoint


def test_error_checks_can_be_switched_off_for_speed() -> None:
    with expected_protocol(DemoSource, [("FREQ 10", None)], check_errors=False) as src:
        src.frequency = 10


def test_overrange_and_garbage_are_explicit_errors() -> None:
    with expected_protocol(DemoSource, [("MEAS:POW?", "9.9E37"), ("MEAS:POW?", "\x8f?!")]) as src:
        with pytest.raises(OverrangeError, match="over-range"):
            src.power
        with pytest.raises(ProtocolError, match="is not a float"):
            src.power


def test_write_only_and_read_only_properties() -> None:
    with expected_protocol(DemoSource, [("DISP:TEXT hello", None), OK]) as src:
        src.label_text = "hello"
        with pytest.raises(AttributeError):
            src.power = 1.0
        with pytest.raises(AttributeError):
            src.label_text


def test_channel_commands_substitute_the_channel_id() -> None:
    with expected_protocol(DemoSource, [("SOUR1:VOLT 2.5", None), OK, ("SOUR1:VOLT?", "2.5")]) as src:
        src.ch1.voltage = 2.5
        assert src.ch1.voltage == Q_(2.5, "V")


def test_snapshot_records_settings_with_units_and_timestamps() -> None:
    with expected_protocol(DemoSource, [("FREQ 50", None), OK, ("SOUR1:VOLT 1", None), OK]) as src:
        src.frequency = 50
        src.ch1.voltage = 1
        snap = src.snapshot()
    assert snap["frequency"]["value"] == 50.0 and snap["frequency"]["unit"] == "Hz"
    assert snap["channel 1"]["voltage"]["value"] == 1.0
    assert snap["frequency"]["time_unix_s"] > 0


def test_idn_parsing() -> None:
    ident = Identity.from_idn("Keysight Technologies,33622A,MY123,A.02.03")
    assert (ident.manufacturer, ident.model, ident.serial, ident.firmware) == (
        "Keysight Technologies", "33622A", "MY123", "A.02.03")
    with pytest.raises(ProtocolError):
        Identity.from_idn("garbage")


class FlakyTransport(ProtocolTransport):
    """Times out on the first ``failures`` reads, then answers; counts reconnects."""

    def __init__(self, pairs, failures: int) -> None:
        super().__init__(pairs)
        self.failures = failures
        self.reconnects = 0

    def _read_message(self) -> bytes:
        if self.failures > 0:
            self.failures -= 1
            self._pending_reply = None
            raise Timeout("scripted timeout")
        return super()._read_message()

    def reconnect(self, retries: int = 3, delay: float = 0.2) -> None:
        self.reconnects += 1


def test_timeout_is_retried_then_reconnected_then_raised() -> None:
    # one timeout: the retry answers, no reconnect
    transport = FlakyTransport([("FREQ?", "1"), ("FREQ?", "5")], failures=1)
    assert DemoSource(transport).frequency == Q_(5, "Hz")
    assert transport.reconnects == 0
    # two timeouts: reconnect (*CLS; no setpoints cached to re-apply) and the third try answers
    transport = FlakyTransport([("FREQ?", "1"), ("FREQ?", "2"), ("*CLS", None), ("FREQ?", "7")], failures=2)
    assert DemoSource(transport).frequency == Q_(7, "Hz")
    assert transport.reconnects == 1
    # three timeouts: a typed Timeout naming the command
    transport = FlakyTransport([("FREQ?", "1"), ("FREQ?", "2"), ("*CLS", None), ("FREQ?", "3")], failures=3)
    with pytest.raises(Timeout, match="no answer to 'FREQ\\?' after a retry and a reconnect"):
        DemoSource(transport).frequency


def test_reconnect_reapplies_cached_setpoints_in_declaration_order() -> None:
    transport = ProtocolTransport([
        ("BIAS 500", None), OK, ("FREQ 20", None), OK, ("SOUR1:VOLT 3", None), OK,  # the user's settings
        ("*CLS", None),                                                            # after the reconnect
        ("FREQ 20", None), OK, ("BIAS 500", None), OK, ("SOUR1:VOLT 3", None), OK,  # restored in order
    ])
    src = DemoSource(transport)
    src.bias_mv = 0.5
    src.frequency = 20
    src.ch1.voltage = 3
    transport.reconnect = lambda retries=3, delay=0.2: None  # the scripted link never drops
    restored = src.reconnect()
    assert restored == ["demosource.frequency", "demosource.bias_mv", "demosource.ch1.voltage"]
    transport.assert_done()


def test_instrument_without_error_queue_verifies_by_readback() -> None:
    class Readback(Instrument):
        level = control("LVL?", "LVL {value:d}", "Control the level (mV ints).", unit="V", scale=1e3, native_int=True)

        def check_set(self, ctl, command, expected):
            self.verify_readback(ctl, command, expected)

    with expected_protocol(Readback, [("LVL 100", None), ("LVL?", "100"), ("LVL 200", None), ("LVL?", "150")]) as inst:
        inst.level = 0.1
        with pytest.raises(InstrumentReportedError, match="read back 0.15 V after setting level to 0.2"):
            inst.level = 0.2


def test_a_misspelt_property_is_refused_instead_of_silently_ignored() -> None:
    transport = ProtocolTransport([])
    src = DemoSource(transport)
    with pytest.raises(AttributeError, match="has no property 'frequencey'"):
        src.frequencey = 10
    with pytest.raises(AttributeError, match="has no property 'voltag'"):
        src.ch1.voltag = 1
    assert transport.sent == []
    src.name = "renamed"  # existing attributes stay assignable
    assert src.name == "renamed"
