"""Protocol tests of the Keysight 33500B/33600A driver: exact command/reply traffic, ranges, safety."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from qkdlab.drivers.awg import (
    BurstMode,
    Function,
    Keysight33500B,
    TriggerSource,
    model_spec,
)
from qkdlab.errors import (
    ConfigError,
    InstrumentReportedError,
    ProtocolError,
    SafetyLimitError,
    SettingRangeError,
)
from qkdlab.testing import ProtocolTransport, expected_protocol
from qkdlab.units import Q_

OK = ("SYST:ERR?", '+0,"No error"')
IDN = "Keysight Technologies,33522B,MY12345678,3.05-1.19-2.00-58-00"


def awg_on(pairs=(), **kwargs) -> tuple[Keysight33500B, ProtocolTransport]:
    """A driver on a scripted transport, for tests that inspect what was (not) sent."""
    transport = ProtocolTransport(pairs)
    kwargs.setdefault("model", "33522B")
    return Keysight33500B(transport, "awg", **kwargs), transport


def protocol(pairs, **kwargs):
    kwargs.setdefault("model", "33522B")
    return expected_protocol(Keysight33500B, pairs, **kwargs)


# -- plain properties ------------------------------------------------------------------------------

def test_function_set_get_accepts_members_short_and_long_names() -> None:
    with protocol([("SOUR1:FUNC SIN", None), OK, ("SOUR2:FUNC ARB", None), OK, ("SOUR1:FUNC PULS", None), OK,
                   ("SOUR2:FUNC?", "PRBS"), ("SOUR1:FUNC?", "TRI")]) as awg:
        awg.ch1.function = "sine"
        awg.ch2.function = Function.ARB
        awg.ch1.function = "PULS"
        assert awg.ch2.function is Function.PRBS
        assert awg.ch1.function is Function.TRIANGLE


def test_unknown_function_is_refused_without_sending() -> None:
    awg, transport = awg_on()
    with pytest.raises(SettingRangeError):
        awg.ch1.function = "TRIANGLE_WAVE"
    assert transport.sent == []


def test_function_reply_outside_the_enum_is_a_protocol_error() -> None:
    with protocol([("SOUR1:FUNC?", "WIGGLE")]) as awg, pytest.raises(ProtocolError):
        _ = awg.ch1.function


def test_frequency_set_get_in_hz_with_quantities() -> None:
    with protocol([("SOUR1:FREQ 1000", None), OK, ("SOUR2:FREQ 2500000", None), OK,
                   ("SOUR1:FREQ?", "+1.000000000000000E+03")]) as awg:
        awg.ch1.frequency = 1000.0
        awg.ch2.frequency = Q_(2.5, "MHz")
        assert awg.ch1.frequency == Q_(1000.0, "Hz")


@pytest.mark.parametrize(("model", "top"), [("33522B", 30e6), ("33512B", 20e6), ("33500B", 20e6),
                                            ("33612A", 80e6), ("33622A", 120e6), ("33600A", 80e6)])
def test_frequency_limit_follows_the_model(model: str, top: float) -> None:
    with protocol([(f"SOUR1:FREQ {top:.15g}", None), OK], model=model) as awg:
        awg.ch1.frequency = top
    awg, transport = awg_on(model=model)
    with pytest.raises(SettingRangeError, match="outside the instrument range"):
        awg.ch1.frequency = top * 1.01
    assert transport.sent == []


def test_model_is_read_from_idn_when_not_given() -> None:
    with protocol([("*IDN?", IDN), ("SOUR1:FREQ 25000000", None), OK], model=None) as awg:
        awg.ch1.frequency = 25e6
        assert awg.model == "33522B"
        assert awg.spec.max_frequency_hz == 30e6


def test_a_non_33500_instrument_is_refused() -> None:
    with pytest.raises(ConfigError, match="not a Keysight 33500B/33600A"):
        model_spec("34461A")
    awg, transport = awg_on([("*IDN?", "Keysight Technologies,34461A,MY1,1.0")], model=None)
    with pytest.raises(ConfigError):
        awg.ch1.frequency = 1e3
    assert transport.sent == [b"*IDN?"]


def test_amplitude_forces_vpp_in_the_same_message() -> None:
    with protocol([("SOUR1:VOLT:UNIT VPP;:SOUR1:VOLT 0.5", None), OK,
                   ("SOUR2:VOLT:UNIT VPP;:SOUR2:VOLT?", "+2.000000000000000E+00")]) as awg:
        awg.ch1.amplitude = "500 mV"
        assert awg.ch2.amplitude == Q_(2.0, "V")


def test_offset_set_get() -> None:
    with protocol([("SOUR1:VOLT:OFFS -0.25", None), OK, ("SOUR1:VOLT:OFFS?", "+1.000000000000000E-01")]) as awg:
        awg.ch1.offset = Q_(-250, "mV")
        assert awg.ch1.offset == Q_(0.1, "V")


def test_amplitude_and_offset_ranges_depend_on_the_load() -> None:
    awg, transport = awg_on()
    with pytest.raises(SettingRangeError):
        awg.ch1.amplitude = 12.0          # 10 Vpp max into 50 ohm (the assumption while the load is unknown)
    with pytest.raises(SettingRangeError):
        awg.ch1.amplitude = 0.5e-3        # 1 mVpp min
    with pytest.raises(SettingRangeError):
        awg.ch1.offset = 6.0              # +-5 V into 50 ohm
    assert transport.sent == []
    with protocol([("OUTP1:LOAD INF", None), OK, ("SOUR1:VOLT:UNIT VPP;:SOUR1:VOLT 12", None), OK,
                   ("SOUR1:VOLT:OFFS?", "+0.000000000000000E+00"),
                   ("SOUR1:VOLT:OFFS -3", None), OK]) as awg:
        awg.ch1.load = math.inf
        awg.ch1.amplitude = 12.0          # allowed into high Z (20 Vpp max)
        _ = awg.ch1.offset
        awg.ch1.offset = -3.0             # 3 + 6 = 9 V <= 10 V into high Z


def test_offset_and_amplitude_together_must_fit_the_output_envelope() -> None:
    awg, transport = awg_on([("SOUR1:VOLT:UNIT VPP;:SOUR1:VOLT 6", None), OK])
    awg.ch1.amplitude = 6.0
    with pytest.raises(SettingRangeError, match="exceeds the output range 5 V"):
        awg.ch1.offset = 2.5              # 2.5 + 3 = 5.5 V > 5 V into 50 ohm
    assert transport.sent == [b"SOUR1:VOLT:UNIT VPP;:SOUR1:VOLT 6", b"SYST:ERR?"]


def test_load_set_get_including_high_z_as_infinity() -> None:
    with protocol([("OUTP1:LOAD 50", None), OK, ("OUTP2:LOAD INF", None), OK,
                   ("OUTP1:LOAD?", "+5.000000000000000E+01"), ("OUTP2:LOAD?", "+9.900000000000000E+37")]) as awg:
        awg.ch1.load = Q_(50, "ohm")
        awg.ch2.load = math.inf
        assert awg.ch1.load == Q_(50.0, "ohm")
        assert awg.ch2.load == Q_(math.inf, "ohm")


def test_load_out_of_range_is_refused() -> None:
    awg, transport = awg_on()
    with pytest.raises(SettingRangeError):
        awg.ch1.load = 0.5
    with pytest.raises(SettingRangeError):
        awg.ch1.load = "1 V"
    assert transport.sent == []


def test_changing_the_load_forgets_the_displayed_voltages() -> None:
    """The instrument rescales displayed amplitude/offset on a load change, so the cached ones are stale."""
    with protocol([("SOUR1:VOLT:OFFS?", "+0.000000000000000E+00"), ("SOUR1:VOLT:UNIT VPP;:SOUR1:VOLT 2", None), OK,
                   ("SOUR1:VOLT:OFFS 0.5", None), OK, ("OUTP1:LOAD INF", None), OK],
                  safety_limits={"max_drive_voltage": 2.5}) as awg:
        awg.ch1.amplitude = 2.0
        awg.ch1.offset = 0.5
        awg.ch1.load = math.inf
        assert "amplitude" not in awg.ch1.cache and "offset" not in awg.ch1.cache
    # setting the same load again (as after a reconnect) keeps them
    with protocol([("OUTP1:LOAD 50", None), OK, ("SOUR1:VOLT:UNIT VPP;:SOUR1:VOLT 2", None), OK,
                   ("OUTP1:LOAD 50", None), OK]) as awg:
        awg.ch1.load = 50
        awg.ch1.amplitude = 2.0
        awg.ch1.load = 50
        assert awg.ch1.cache["amplitude"].value == Q_(2.0, "V")


def test_output_on_off_and_query() -> None:
    with protocol([("OUTP1 1", None), OK, ("OUTP2 0", None), OK, ("OUTP1?", "1"), ("OUTP2?", "0")]) as awg:
        awg.ch1.output = True
        awg.ch2.output = False
        assert awg.ch1.output is True
        assert awg.ch2.output is False


def test_arb_sample_rate_set_get_and_model_limit() -> None:
    with protocol([("SOUR1:FUNC:ARB:SRAT 100000000", None), OK,
                   ("SOUR1:FUNC:ARB:SRAT?", "+1.000000000000000E+08")]) as awg:
        awg.ch1.arb_sample_rate = Q_(100, "MHz")
        assert awg.ch1.arb_sample_rate == Q_(1e8, "Hz")
    awg, transport = awg_on(model="33522B")
    with pytest.raises(SettingRangeError):
        awg.ch1.arb_sample_rate = 300e6      # 250 MSa/s on a 33522B
    assert transport.sent == []
    with protocol([("SOUR1:FUNC:ARB:SRAT 1000000000", None), OK], model="33622A") as awg:
        awg.ch1.arb_sample_rate = 1e9


def test_arb_waveform_select_and_query() -> None:
    with protocol([("SOUR1:FUNC:ARB PATTERN_1", None), OK, ("SOUR1:FUNC:ARB?", '"PATTERN_1"'),
                   ('SOUR2:FUNC:ARB "INT:\\BUILTIN\\EXP_RISE.ARB"', None), OK]) as awg:
        awg.ch1.arb_waveform = "PATTERN_1"
        assert awg.ch1.arb_waveform == "PATTERN_1"
        awg.ch2.arb_waveform = "INT:\\BUILTIN\\EXP_RISE.ARB"


@pytest.mark.parametrize("name", ["1ABC", "TOO_LONG_NAME", "has-dash", "", "a b"])
def test_invalid_arb_names_are_refused_without_sending(name: str) -> None:
    awg, transport = awg_on()
    with pytest.raises(SettingRangeError):
        awg.ch1.arb_waveform = name
    assert transport.sent == []


def test_burst_state_mode_and_cycles() -> None:
    with protocol([("SOUR1:BURS:STAT 1", None), OK, ("SOUR1:BURS:MODE TRIG", None), OK,
                   ("SOUR1:BURS:NCYC 1000", None), OK, ("SOUR2:BURS:NCYC INF", None), OK,
                   ("SOUR1:BURS:STAT?", "0"), ("SOUR1:BURS:MODE?", "GAT"),
                   ("SOUR1:BURS:NCYC?", "+1.000000000000000E+03"),
                   ("SOUR2:BURS:NCYC?", "+9.900000000000000E+37")]) as awg:
        awg.ch1.burst_state = True
        awg.ch1.burst_mode = "triggered"
        awg.ch1.burst_cycles = 1000
        awg.ch2.burst_cycles = math.inf
        assert awg.ch1.burst_state is False
        assert awg.ch1.burst_mode is BurstMode.GAT
        cycles = awg.ch1.burst_cycles
        assert cycles == 1000 and isinstance(cycles, int)
        assert awg.ch2.burst_cycles == math.inf


@pytest.mark.parametrize("cycles", [0, 2.5, 2e8])
def test_bad_burst_counts_are_refused(cycles: float) -> None:
    awg, transport = awg_on()
    with pytest.raises(SettingRangeError):
        awg.ch1.burst_cycles = cycles
    assert transport.sent == []


def test_trigger_source_and_software_trigger() -> None:
    with protocol([("TRIG1:SOUR BUS", None), OK, ("TRIG2:SOUR?", "EXT"), ("*TRG", None), OK]) as awg:
        awg.ch1.trigger_source = TriggerSource.BUS
        assert awg.ch2.trigger_source is TriggerSource.EXT
        awg.trigger()


def test_software_trigger_reports_instrument_errors() -> None:
    with protocol([("*TRG", None), ("SYST:ERR?", '-211,"Trigger ignored"'), OK]) as awg:
        with pytest.raises(InstrumentReportedError) as info:
            awg.trigger()
    assert info.value.code == -211 and info.value.command == "*TRG"


def test_catalog_and_byte_order_queries() -> None:
    with protocol([("SOUR1:DATA:VOL:CAT?", '"PAT_A","PAT_B"'), ("SOUR2:DATA:VOL:CAT?", '""'),
                   ("FORM:BORD?", "SWAP")]) as awg:
        assert awg.ch1.volatile_catalog() == ["PAT_A", "PAT_B"]
        assert awg.ch2.volatile_catalog() == []
        assert awg.read_byte_order() == "SWAP"


# -- instrument-reported errors --------------------------------------------------------------------

def test_instrument_error_after_a_setting_raises_with_code_message_and_command() -> None:
    with protocol([("SOUR1:FREQ 1000000", None), ("SYST:ERR?", '-222,"Data out of range"'), OK]) as awg:
        with pytest.raises(InstrumentReportedError) as info:
            awg.ch1.frequency = 1e6
    err = info.value
    assert (err.code, err.message, err.command) == (-222, "Data out of range", "SOUR1:FREQ 1000000")


# -- waveform upload -------------------------------------------------------------------------------

EIGHT = np.array([-1.0, -0.5, 0.0, 0.5, 1.0, 0.25, -0.25, 1.0 / 32767])
# rint(x * 32767), rounding halves to even: -16383.5 -> -16384, 16383.5 -> 16384, 8191.75 -> 8192
EIGHT_BLOCK = b"#216" + struct.pack("<8h", -32767, -16384, 0, 16384, 32767, 8192, -8192, 1)


def test_upload_sends_the_exact_little_endian_dac_block() -> None:
    with protocol([("SOUR1:DATA:VOL:CAT?", '""'), ("FORM:BORD SWAP", None),
                   (b"SOUR1:DATA:ARB:DAC PAT8," + EIGHT_BLOCK, None), ("*OPC?", "1"), OK]) as awg:
        awg.upload_waveform(1, "PAT8", EIGHT)


def test_upload_restores_the_timeout_after_waiting_for_completion() -> None:
    awg, transport = awg_on([("SOUR2:DATA:VOL:CAT?", '""'), ("FORM:BORD SWAP", None),
                             (b"SOUR2:DATA:ARB:DAC PAT8," + EIGHT_BLOCK, None), ("*OPC?", "1"), OK])
    before = transport.timeout
    awg.ch2.upload_waveform("PAT8", list(EIGHT))
    assert transport.timeout == before
    transport.assert_done()


def test_upload_error_reported_by_the_instrument_names_the_command() -> None:
    with protocol([("SOUR1:DATA:VOL:CAT?", '""'), ("FORM:BORD SWAP", None),
                   (b"SOUR1:DATA:ARB:DAC PAT8," + EIGHT_BLOCK, None), ("*OPC?", "1"),
                   ("SYST:ERR?", '-223,"Too much data"'), OK]) as awg:
        with pytest.raises(InstrumentReportedError) as info:
            awg.upload_waveform(1, "PAT8", EIGHT)
    assert info.value.code == -223
    assert info.value.message == "Too much data"
    assert info.value.command == "SOUR1:DATA:ARB:DAC PAT8"


def test_opc_reply_other_than_one_is_a_protocol_error() -> None:
    with protocol([("SOUR1:DATA:VOL:CAT?", '""'), ("FORM:BORD SWAP", None),
                   (b"SOUR1:DATA:ARB:DAC PAT8," + EIGHT_BLOCK, None), ("*OPC?", "0")]) as awg:
        with pytest.raises(ProtocolError):
            awg.upload_waveform(1, "PAT8", EIGHT)


@pytest.mark.parametrize(("name", "samples", "match"), [
    ("PAT", np.zeros(7), "7 samples"),
    ("PAT", np.zeros(1_000_001), "1000001 samples"),
    ("PAT", np.r_[np.zeros(8), 1.0001], r"samples must lie in \[-1, 1\]"),
    ("PAT", np.r_[np.zeros(8), -1.5], r"samples must lie in \[-1, 1\]"),
    ("PAT", np.r_[np.zeros(8), np.nan], "NaN"),
    ("PAT", np.zeros((4, 4)), "one-dimensional"),
    ("PAT", ["a"] * 8, "real numbers"),
    ("9PAT", np.zeros(8), "start with a letter"),
    ("PATTERN_TOO_LONG", np.zeros(8), "12 characters"),
    ("PAT-1", np.zeros(8), "letters, digits"),
])
def test_invalid_waveforms_are_refused_before_sending(name, samples, match) -> None:
    awg, transport = awg_on()
    with pytest.raises(SettingRangeError, match=match):
        awg.upload_waveform(1, name, samples)
    assert transport.sent == []


def test_bad_channel_is_refused() -> None:
    awg, transport = awg_on()
    with pytest.raises(SettingRangeError, match="channel 3"):
        awg.upload_waveform(3, "PAT", np.zeros(8))
    assert transport.sent == []


def test_waveform_memory_limit_can_be_raised_for_memory_options() -> None:
    awg, _ = awg_on(max_waveform_samples=2_000_000)
    assert awg.dac_codes("BIG", np.zeros(1_500_000)).size == 1_500_000


def test_dac_codes_are_full_scale_little_endian_int16() -> None:
    awg, _ = awg_on()
    codes = awg.dac_codes("PAT", EIGHT)
    assert codes.dtype == np.dtype("<i2")
    assert codes.tobytes() == EIGHT_BLOCK[4:]


# -- safety limits ---------------------------------------------------------------------------------

LIMIT = {"max_drive_voltage": "2.5 V"}


def test_drive_limit_is_a_known_safety_limit() -> None:
    assert Keysight33500B.safety_limit_units() == {"max_drive_voltage": "V"}
    with pytest.raises(ConfigError):
        awg_on(safety_limits={"max_voltage": 1})


def test_amplitude_breaching_the_drive_limit_with_the_cached_offset_sends_nothing() -> None:
    awg, transport = awg_on([("SOUR1:VOLT:UNIT VPP;:SOUR1:VOLT?", "+1.000000000000000E-01"),
                             ("SOUR1:VOLT:OFFS 1", None), OK], safety_limits=LIMIT)
    awg.ch1.offset = 1.0
    sent = list(transport.sent)
    with pytest.raises(SafetyLimitError, match="max_drive_voltage"):
        awg.ch1.amplitude = 4.0            # 1 + 2 = 3 V > 2.5 V
    assert transport.sent == sent
    transport.assert_done()


def test_offset_breaching_the_drive_limit_with_the_cached_amplitude_sends_nothing() -> None:
    awg, transport = awg_on([("SOUR1:VOLT:OFFS?", "+0.000000000000000E+00"),
                             ("SOUR1:VOLT:UNIT VPP;:SOUR1:VOLT 3", None), OK], safety_limits=LIMIT)
    awg.ch1.amplitude = 3.0
    sent = list(transport.sent)
    with pytest.raises(SafetyLimitError):
        awg.ch1.offset = -1.2              # 1.2 + 1.5 = 2.7 V > 2.5 V
    assert transport.sent == sent


def test_unknown_other_value_is_queried_not_guessed() -> None:
    awg, transport = awg_on([("SOUR1:VOLT:OFFS?", "+1.500000000000000E+00")], safety_limits=LIMIT)
    with pytest.raises(SafetyLimitError):
        awg.ch1.amplitude = 2.5            # 1.5 + 1.25 = 2.75 V > 2.5 V
    assert transport.sent == [b"SOUR1:VOLT:OFFS?"]   # a read; no setting was sent
    transport.assert_done()


def test_within_the_limit_the_setting_is_sent() -> None:
    with protocol([("SOUR1:VOLT:OFFS?", "+5.000000000000000E-01"), ("SOUR1:VOLT:UNIT VPP;:SOUR1:VOLT 4", None), OK],
                  safety_limits=LIMIT) as awg:
        awg.ch1.amplitude = 4.0            # 0.5 + 2 = 2.5 V: at the limit, allowed


def test_output_on_rechecks_the_present_drive() -> None:
    """Front-panel settings (or a load change) may have raised the drive since the driver set it."""
    awg, transport = awg_on([("SOUR1:VOLT:UNIT VPP;:SOUR1:VOLT?", "+8.000000000000000E+00"),
                             ("SOUR1:VOLT:OFFS?", "+0.000000000000000E+00")], safety_limits=LIMIT)
    with pytest.raises(SafetyLimitError):
        awg.ch1.output = True
    assert b"OUTP1 1" not in transport.sent
    transport.assert_done()
    # switching off is always allowed, and needs no query
    with protocol([("OUTP1 0", None), OK], safety_limits=LIMIT) as awg:
        awg.ch1.output = False


def test_play_waveform_protocol() -> None:
    pairs = [("SOUR1:DATA:VOL:CAT?", '""'), ("FORM:BORD SWAP", None),
             (b"SOUR1:DATA:ARB:DAC PAT8," + EIGHT_BLOCK, None), ("*OPC?", "1"), OK,
             ("SOUR1:FUNC:ARB PAT8", None), OK, ("SOUR1:FUNC ARB", None), OK, ("SOUR1:FUNC:ARB:FILT STEP", None), OK,
             ("SOUR1:FUNC:ARB:SRAT 100000000", None), OK,
             ("SOUR1:VOLT:UNIT VPP;:SOUR1:VOLT 2", None), OK, ("SOUR1:VOLT:OFFS 0.25", None), OK,
             ("OUTP1 1", None), OK]
    with protocol(pairs) as awg:
        awg.play_waveform(1, "PAT8", EIGHT, sample_rate="100 MHz", amplitude="2 V", offset=Q_(250, "mV"))
        assert awg.ch1.cache["arb_waveform"].value == "PAT8"


def test_play_waveform_orders_amplitude_and_offset_to_stay_within_the_limit() -> None:
    """From 1 Vpp at +2 V offset to 4 Vpp at 0 V: setting the amplitude first would pass 2 + 2 = 4 V."""
    pairs = [("SOUR2:VOLT:UNIT VPP;:SOUR2:VOLT?", "+1.000000000000000E+00"),
             ("SOUR2:VOLT:OFFS?", "+2.000000000000000E+00"),
             ("SOUR2:DATA:VOL:CAT?", '""'), ("FORM:BORD SWAP", None),
             (b"SOUR2:DATA:ARB:DAC PAT8," + EIGHT_BLOCK, None), ("*OPC?", "1"), OK,
             ("SOUR2:FUNC:ARB PAT8", None), OK, ("SOUR2:FUNC ARB", None), OK, ("SOUR2:FUNC:ARB:FILT STEP", None), OK,
             ("SOUR2:FUNC:ARB:SRAT 1000000", None), OK,
             ("SOUR2:VOLT:OFFS 0", None), OK, ("SOUR2:VOLT:UNIT VPP;:SOUR2:VOLT 4", None), OK,
             ("OUTP2 1", None), OK]
    with protocol(pairs, safety_limits=LIMIT) as awg:
        awg.ch2.play_waveform("PAT8", EIGHT, 1e6, 4.0, 0.0)


def test_play_waveform_breaching_the_limit_sends_nothing() -> None:
    awg, transport = awg_on(safety_limits=LIMIT)
    with pytest.raises(SafetyLimitError):
        awg.play_waveform(1, "PAT8", EIGHT, 1e8, amplitude=4.0, offset=1.0)
    assert transport.sent == []


def test_play_waveform_range_errors_send_nothing() -> None:
    awg, transport = awg_on(model="33522B")
    with pytest.raises(SettingRangeError):
        awg.play_waveform(1, "PAT8", EIGHT, 500e6, amplitude=1.0)        # > 250 MSa/s
    with pytest.raises(SettingRangeError):
        awg.play_waveform(1, "PAT8", EIGHT, 1e6, amplitude=1.0, offset=4.8)   # 4.8 + 0.5 > 5 V
    with pytest.raises(SettingRangeError):
        awg.play_waveform(1, "PAT8", EIGHT * 2, 1e6, amplitude=1.0)
    assert transport.sent == []


def test_snapshot_lists_both_channels() -> None:
    with protocol([("SOUR2:FREQ 5000", None), OK]) as awg:
        awg.ch2.frequency = 5e3
        snap = awg.snapshot()
    assert snap["channel 2"]["frequency"]["value"] == 5000.0
    assert snap["channel 1"] == {}
    assert [ch.id for ch in awg.channels] == [1, 2]


# -- issue 20 item 2: pattern timing ----------------------------------------------------------------

def _upload(ch: int, name: str, catalog: str = '""') -> list:
    return [(f"SOUR{ch}:DATA:VOL:CAT?", catalog), ("FORM:BORD SWAP", None),
            (f"SOUR{ch}:DATA:ARB:DAC {name},".encode() + EIGHT_BLOCK, None), ("*OPC?", "1"), OK]


def _play(ch: int, name: str, catalog: str = '""', arb_filter: str = "STEP") -> list:
    return [*_upload(ch, name, catalog), (f"SOUR{ch}:FUNC:ARB {name}", None), OK, (f"SOUR{ch}:FUNC ARB", None), OK,
            (f"SOUR{ch}:FUNC:ARB:FILT {arb_filter}", None), OK, (f"SOUR{ch}:FUNC:ARB:SRAT 100000000", None), OK,
            (f"SOUR{ch}:VOLT:UNIT VPP;:SOUR{ch}:VOLT 2", None), OK, (f"SOUR{ch}:VOLT:OFFS 0", None), OK,
            (f"OUTP{ch} 1", None), OK]


def test_patterns_play_with_the_step_filter_and_both_arbs_are_synchronised() -> None:
    pairs = [*_play(1, "IM8"), *_play(2, "PM8"), ("FUNC:ARB:SYNC", None), OK]
    with protocol(pairs) as awg:
        awg.play_waveform(1, "IM8", EIGHT, 100e6, 2.0)
        assert not awg.arbs_synchronized              # one channel: nothing to align
        awg.play_waveform(2, "PM8", EIGHT, 100e6, 2.0)
        assert awg.arbs_synchronized
        assert awg.snapshot()["arbs synchronized"]["value"] is True


def test_named_waveforms_stay_in_volatile_memory_and_are_selected_without_upload() -> None:
    pairs = [*_upload(1, "DECOY", '"SIGNAL"'), ("SOUR1:FUNC:ARB SIGNAL", None), OK,
             *_upload(1, "SIGNAL", '"SIGNAL","DECOY"')[:2], ("SOUR1:DATA:VOL:CLE", None),
             *_upload(1, "SIGNAL", '"SIGNAL","DECOY"')[2:]]
    with protocol(pairs) as awg:
        awg.upload_waveform(1, "DECOY", EIGHT)        # no DATA:VOL:CLE: SIGNAL stays
        awg.select_waveform(1, "SIGNAL")
        awg.upload_waveform(1, "SIGNAL", EIGHT)       # same name again: cleared first (no single delete)


def test_filter_sync_output_reference_and_trigger_slope() -> None:
    pairs = [("SOUR1:FUNC:ARB:FILT OFF", None), OK, ("SOUR2:FUNC:ARB:FILT?", "NORM"),
             ("OUTP:SYNC:SOUR CH1", None), OK, ("OUTP:SYNC 1", None), OK, ("OUTP:SYNC:MODE MARK", None), OK,
             ("SOUR1:MARK:POIN 0", None), OK, ("ROSC:SOUR EXT", None), OK, ("TRIG1:SLOP NEG", None), OK]
    with protocol(pairs) as awg:
        awg.ch1.arb_filter = "OFF"
        assert awg.ch2.arb_filter.name == "NORM"
        awg.sync_source = "CH1"
        awg.sync_output = True
        awg.sync_mode = "MARK"
        awg.ch1.marker_point = 0
        awg.reference_source = "EXT"
        awg.ch1.trigger_slope = "NEG"


def test_one_channel_models_have_no_channel_two() -> None:
    awg, transport = awg_on(model="33611A")
    assert awg.channels == [awg.ch1]
    with pytest.raises(SettingRangeError, match="one channel"):
        awg.play_waveform(2, "PAT8", EIGHT, 1e6, 1.0)
    assert transport.sent == []


def test_transcript_from_pymeasure_agilent33500_tests() -> None:
    """Independent source: PyMeasure ``tests/instruments/agilent/test_agilent33500.py`` (``test_shape``,
    ``test_output``: ``SOUR1:FUNC?`` -> shape, ``SOUR2:FUNC <shape>``, ``OUTP1?`` -> 1, ``OUTP2 0``), with the
    error-queue check qkdlab adds after every setting."""
    pairs = [("SOUR1:FUNC?", "ARB"), ("SOUR2:FUNC PULS", None), OK, ("OUTP1?", "1"), ("OUTP2 0", None), OK]
    with protocol(pairs) as awg:
        assert awg.ch1.function is Function.ARB
        awg.ch2.function = "PULS"
        assert awg.ch1.output is True
        awg.ch2.output = False
