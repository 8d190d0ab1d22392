"""Protocol tests of the InfiniiVision oscilloscope driver: exact commands, preamble, WORD blocks, ranges."""

from __future__ import annotations

import numpy as np
import pytest

from qkdlab.drivers import driver_class
from qkdlab.drivers.oscilloscope import (
    ScopeSpec,
    scope_spec,
    AcquireType,
    Impedance,
    KeysightInfiniiVision,
    TimebaseReference,
    Waveform,
)
from qkdlab.errors import ConfigError, InstrumentReportedError, ProtocolError, SettingRangeError
from qkdlab.testing import ProtocolTransport, expected_protocol
from qkdlab.units import Q_

OK = ("SYST:ERR?", '+0,"No error"')
# Four samples, 1 ns apart starting 2 ns before the trigger; 1 mV per code around 50 mV at code 32768.
PREAMBLE = "+1,+2,+4,+8,+1.0000000000E-09,-2.0000000000E-09,+0.0000000000E+00,+1.0000000000E-03,+5.0000000000E-02,+32768"
# codes 0 (low rail), 32768, 32778 (= 0x800A: its low byte is a line feed), 65535 (high rail), little-endian
CODES_LE = b"\x00\x00" + b"\x00\x80" + b"\x0a\x80" + b"\xff\xff"
BLOCK = b"#18" + CODES_LE


def read_setup(channel: int, points: int | None = None) -> list:
    pairs = [(f":WAV:SOUR CHAN{channel}", None), (":WAV:FORM WORD", None), (":WAV:BYT LSBF", None),
             (":WAV:UNS 1", None), (":WAV:POIN:MODE NORM", None)]
    if points is not None:
        pairs.append((f":WAV:POIN {points}", None))
    return pairs + [OK]


def test_registered_under_its_config_name() -> None:
    assert driver_class("keysight_infiniivision") is KeysightInfiniiVision


def test_channel_settings_are_sent_in_native_form_and_read_back() -> None:
    pairs = [(":CHAN1:SCAL 0.02", None), OK, (":CHAN1:OFFS 0.08", None), OK, (":CHAN2:IMP FIFT", None), OK,
             (":CHAN3:DISP 0", None), OK, (":CHAN2:IMP?", "ONEM"), (":CHAN1:SCAL?", "+2.0000000000E-02")]
    with expected_protocol(KeysightInfiniiVision, pairs) as scope:
        scope.ch1.scale = "20 mV"
        scope.ch1.offset = Q_(80, "mV")
        scope.ch2.impedance = "FIFTY"
        scope.ch3.display = False
        assert scope.ch2.impedance is Impedance.ONEM
        assert scope.ch1.scale == Q_(0.02, "V")


def test_timebase_acquisition_and_trigger_settings() -> None:
    pairs = [(":TIM:SCAL 5e-09", None), OK, (":TIM:POS -1e-09", None), OK, (":TIM:REF CENT", None), OK,
             (":ACQ:TYPE HRES", None), OK, (":ACQ:COUN 256", None), OK, (":TRIG:EDGE:SOUR EXT", None), OK,
             (":TRIG:EDGE:LEV 0.4", None), OK, (":TIM:REF?", "RIGH"), (":ACQ:TYPE?", "AVER")]
    with expected_protocol(KeysightInfiniiVision, pairs) as scope:
        scope.timebase_scale = "5 ns"
        scope.timebase_position = -1e-9
        scope.timebase_reference = "CENTER"
        scope.acquire_type = AcquireType.HRESOLUTION
        scope.acquire_count = 256
        scope.trigger_source = "EXTERNAL"
        scope.trigger_level = "400 mV"
        assert scope.timebase_reference is TimebaseReference.RIGH
        assert scope.acquire_type is AcquireType.AVER


def test_a_setting_the_scope_rejects_raises_with_its_code() -> None:
    pairs = [(":TIM:SCAL 1e-06", None), ("SYST:ERR?", '-222,"Data out of range"'), OK]
    with expected_protocol(KeysightInfiniiVision, pairs) as scope, pytest.raises(InstrumentReportedError) as info:
        scope.timebase_scale = 1e-6
    assert (info.value.code, info.value.command) == (-222, ":TIM:SCAL 1e-06")


def test_word_block_is_decoded_with_the_preamble() -> None:
    pairs = read_setup(2) + [(":WAV:PRE?", PREAMBLE), (":WAV:DATA?", BLOCK)]
    with expected_protocol(KeysightInfiniiVision, pairs) as scope:
        wave = scope.read_waveform(2)
    # by hand: t = (i - 0) * 1 ns - 2 ns; V = (code - 32768) * 1 mV + 50 mV
    assert np.allclose(wave.times, [-2e-9, -1e-9, 0.0, 1e-9], rtol=0, atol=1e-21)
    assert np.allclose(wave.volts, [-32.718, 0.05, 0.06, 32.817], rtol=0, atol=1e-12)
    assert wave.clipped.tolist() == [True, False, False, True]
    assert wave.any_clipped
    assert wave.time_q.to("ns").magnitude[0] == pytest.approx(-2.0)
    assert wave.volts_q.to("mV").magnitude[2] == pytest.approx(60.0)
    with pytest.raises(ValueError):
        wave.volts[0] = 1.0  # a frozen record stays as transferred


def test_a_block_cut_at_a_line_feed_data_byte_is_joined_again() -> None:
    # A VISA read with the termination character enabled stops at the 0x0A inside the data;
    # the driver must put the byte back and read on until the announced length is there.
    first, second = BLOCK.split(b"\n", 1)
    pairs = read_setup(1, 1000) + [(":WAV:PRE?", PREAMBLE), (":WAV:DATA?", first), (None, second)]
    with expected_protocol(KeysightInfiniiVision, pairs) as scope:
        wave = scope.read_waveform(1, points=1000)
    assert np.allclose(wave.volts, [-32.718, 0.05, 0.06, 32.817], rtol=0, atol=1e-12)


def test_garbled_preamble_or_block_is_a_protocol_error() -> None:
    pairs = (read_setup(1) + [(":WAV:PRE?", "+1,+0,+4")]
             + read_setup(1) + [(":WAV:PRE?", PREAMBLE), (":WAV:DATA?", b"\xfe\x13?!\x8a")]
             + read_setup(1) + [(":WAV:PRE?", PREAMBLE), (":WAV:DATA?", BLOCK + b"+1")]
             + read_setup(1) + [(":WAV:PRE?", PREAMBLE.replace("+4,", "+5,", 1)), (":WAV:DATA?", BLOCK)])
    with expected_protocol(KeysightInfiniiVision, pairs) as scope:
        with pytest.raises(ProtocolError, match="10"):
            scope.read_waveform(1)
        with pytest.raises(ProtocolError, match="not a definite-length block"):
            scope.read_waveform(1)
        with pytest.raises(ProtocolError, match="after the block"):
            scope.read_waveform(1)
        with pytest.raises(ProtocolError, match="announced 5"):
            scope.read_waveform(1)


def test_digitize_waits_for_completion_and_checks_errors() -> None:
    pairs = [(":DIG CHAN1,CHAN2", None), ("*OPC?", "1"), OK]
    with expected_protocol(KeysightInfiniiVision, pairs) as scope:
        before = scope.transport.timeout
        scope.digitize([1, 2])
        assert scope.transport.timeout == before  # the long wait was only for *OPC?


def test_acquire_sets_the_window_averages_digitizes_and_reads() -> None:
    preamble = "+1,+2,+2,+16,+4.0000000000E-11,+0.0000000000E+00,+0,+2.4414062500E-06,+8.0000000000E-02,+32768"
    block = b"#14" + np.array([32768, 40960], dtype="<u2").tobytes()
    pairs = [(":TIM:REF LEFT", None), OK, (":TIM:SCAL 8e-09", None), OK,
             (":TIM:POS 8e-09", None), OK,  # LEFT is one division in: start + 1 div puts the edge at start
             (":ACQ:COUN 16", None), OK, (":ACQ:TYPE AVER", None), OK,
             (":DIG CHAN1", None), ("*OPC?", "1"), OK] + read_setup(1, 2000) + [(":WAV:PRE?", preamble),
                                                                                (":WAV:DATA?", block)]
    with expected_protocol(KeysightInfiniiVision, pairs) as scope:
        waves = scope.acquire([1], averages=16, window_start=0.0, window_duration="80 ns", points=2000)
    assert list(waves) == [1]
    wave = waves[1]
    assert isinstance(wave, Waveform)
    assert wave.times.tolist() == pytest.approx([0.0, 4e-11])
    assert wave.volts.tolist() == pytest.approx([0.08, 0.08 + 8192 * 2.44140625e-6])


def test_out_of_range_requests_send_nothing() -> None:
    transport = ProtocolTransport([])
    scope = KeysightInfiniiVision(transport)
    with pytest.raises(SettingRangeError):
        scope.ch1.scale = 10.0                 # above 5 V/div
    with pytest.raises(SettingRangeError):
        scope.ch2.scale = "0.5 mV"             # below 1 mV/div
    with pytest.raises(SettingRangeError):
        scope.acquire_count = 1
    with pytest.raises(SettingRangeError):
        scope.ch1.impedance = "75 ohm"
    with pytest.raises(SettingRangeError):
        scope.read_waveform(1, points=50)
    with pytest.raises(SettingRangeError):
        scope.read_waveform(5)
    with pytest.raises(SettingRangeError):
        scope.acquire([1], averages=4, window_duration=1e-9)   # 100 ps/div: faster than the timebase
    with pytest.raises(SettingRangeError):
        scope.acquire([1], averages=0, window_duration=80e-9)
    with pytest.raises(SettingRangeError):
        scope.acquire([1], window_duration="80 V")
    assert transport.sent == []


# -- issue 20 item 9: limits from the model ---------------------------------------------------------

def test_two_channel_1000x_models_refuse_channel_three_and_more_than_62500_points() -> None:
    """PyMeasure ``keysightDSOX1102G.py``: two channels, ``:waveform:points`` up to 62 500."""
    transport = ProtocolTransport([("*IDN?", "KEYSIGHT TECHNOLOGIES,DSOX1102G,CN12345678,02.10.2019111333")])
    scope = KeysightInfiniiVision(transport, "scope")
    assert scope.identify().model == "DSOX1102G"
    assert len(scope.channels) == 2
    with pytest.raises(SettingRangeError, match="1..2"):
        scope.channel(3)
    with pytest.raises(SettingRangeError, match="62500"):
        scope.read_waveform(1, points=100_000)
    transport.assert_done()
    assert scope_spec("DSOX3104T") == ScopeSpec(4, 8_000_000)
    with pytest.raises(ConfigError):
        scope_spec("TDS2024")
