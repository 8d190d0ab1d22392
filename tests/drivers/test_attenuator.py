"""Protocol tests of the Keysight 81577A VOA driver: slot/channel addressing, dB handling, the
offset, the shutter and the ``min_attenuation`` safety limit."""

from __future__ import annotations

import pytest

from qkdlab.drivers.attenuator import Keysight81577A, db_value
from qkdlab.errors import ConfigError, InstrumentReportedError, ProtocolError, SafetyLimitError, SettingRangeError
from qkdlab.testing import ProtocolTransport, expected_protocol
from qkdlab.units import Q_

OK = ("SYST:ERR?", '+0,"No error"')
OFFSET_0 = (":INP1:CHAN1:OFFS?", "+0.000000E+00")


def voa_on(pairs=(), **kwargs) -> tuple[Keysight81577A, ProtocolTransport]:
    transport = ProtocolTransport(pairs)
    return Keysight81577A(transport, "voa", **kwargs), transport


def test_db_value_accepts_floats_strings_and_decibel_quantities() -> None:
    assert db_value(10, "x") == 10.0
    assert db_value("12.5 dB", "x") == 12.5
    assert db_value("-3dB", "x") == -3.0
    assert db_value("1e1", "x") == 10.0
    assert db_value(Q_(7, "dB"), "x") == 7.0
    for bad in ("10 W", "ten", Q_(0.5, "dimensionless"), Q_(1, "mW"), True, float("nan"), None):
        with pytest.raises(SettingRangeError):
            db_value(bad, "x")


def test_attenuation_set_reads_the_offset_once_then_sends_with_channel() -> None:
    with expected_protocol(Keysight81577A, [OFFSET_0, (":INP1:CHAN1:ATT 10.0000", None), OK,
                                            (":INP1:CHAN1:ATT 12.3450", None), OK,
                                            (":INP1:CHAN1:ATT 0.0000", None), OK]) as voa:
        voa.attenuation = 10
        voa.attenuation = "12.345 dB"
        voa.attenuation = Q_(0, "dB")
        cached = voa.cache["attenuation"]
        assert isinstance(cached.value, float) and cached.value == 0.0


def test_attenuation_get_is_a_plain_float_in_db() -> None:
    with expected_protocol(Keysight81577A, [(":INP1:CHAN1:ATT?", "+1.234500E+01")]) as voa:
        value = voa.attenuation
        assert isinstance(value, float) and value == pytest.approx(12.345)


def test_attenuation_range_follows_the_offset() -> None:
    voa, transport = voa_on([(":INP1:CHAN1:OFFS?", "+5.000000E+00"), (":INP1:CHAN1:ATT 65.0000", None), OK])
    with pytest.raises(SettingRangeError, match=r"\[5, 65\]"):
        voa.attenuation = 4.9
    voa.attenuation = 65
    with pytest.raises(SettingRangeError):
        voa.attenuation = 65.1
    transport.assert_done()
    assert b":INP1:CHAN1:ATT 4.9000" not in transport.sent


def test_attenuation_refused_values_send_no_setting() -> None:
    voa, transport = voa_on([OFFSET_0])
    for bad in (-0.5, 60.5, "3 W", Q_(2, "dimensionless")):
        with pytest.raises(SettingRangeError):
            voa.attenuation = bad
    assert all(not msg.startswith(b":INP1:CHAN1:ATT ") for msg in transport.sent)


def test_min_attenuation_limit_refuses_low_filter_values_before_sending() -> None:
    voa, transport = voa_on([(":INP1:CHAN1:OFFS?", "+2.000000E+00"), (":INP1:CHAN1:ATT 32.0000", None), OK],
                            safety_limits={"min_attenuation": "30 dB"})
    with pytest.raises(SafetyLimitError, match="filter attenuation 28 dB is below .*min_attenuation = 30 dB"):
        voa.attenuation = 30       # displayed 30 with a 2 dB offset is a 28 dB filter
    voa.attenuation = 32
    transport.assert_done()
    assert transport.sent == [b":INP1:CHAN1:OFFS?", b":INP1:CHAN1:ATT 32.0000", b"SYST:ERR?"]


def test_min_attenuation_limit_parses_and_rejects_bad_values() -> None:
    voa, _ = voa_on(safety_limits={"min_attenuation": 25})
    assert voa.safety_limits == {"min_attenuation": 25.0}
    voa, _ = voa_on(safety_limits={"min_attenuation": Q_(25, "dB")})
    assert voa.safety_limits == {"min_attenuation": 25.0}
    with pytest.raises(ConfigError, match="min_attenuation"):
        voa_on(safety_limits={"min_attenuation": "25 W"})
    with pytest.raises(ConfigError, match="unknown safety limit"):
        voa_on(safety_limits={"max_attenuation": 25})
    assert Keysight81577A.safety_limit_units() == {"min_attenuation": "dB"}


def test_offset_set_drops_the_cached_attenuation() -> None:
    with expected_protocol(Keysight81577A, [OFFSET_0, (":INP1:CHAN1:ATT 10.0000", None), OK,
                                            (":INP1:CHAN1:OFFS 1.5000", None), OK,
                                            (":INP1:CHAN1:ATT?", "+1.150000E+01")]) as voa:
        voa.attenuation = 10
        voa.offset = "1.5 dB"
        assert "attenuation" not in voa.cache
        assert voa.cache["offset"].value == 1.5
        assert voa.filter_attenuation == pytest.approx(10.0)


def test_offset_range() -> None:
    voa, transport = voa_on()
    for bad in (-200.5, 201, "x dB"):
        with pytest.raises(SettingRangeError):
            voa.offset = bad
    assert transport.sent == []


def test_wavelength_in_metres() -> None:
    with expected_protocol(Keysight81577A, [(":INP1:CHAN1:WAV 1.31e-06", None), OK,
                                            (":INP1:CHAN1:WAV?", "+1.550000E-06")]) as voa:
        voa.wavelength = "1310 nm"
        assert voa.wavelength == Q_(1.55e-6, "m")
    voa, transport = voa_on()
    with pytest.raises(SettingRangeError):
        voa.wavelength = "1700 nm"
    assert transport.sent == []


def test_shutter_open_close_and_state() -> None:
    with expected_protocol(Keysight81577A, [(":OUTP1:CHAN1:STAT ON", None), OK, (":OUTP1:CHAN1:STAT OFF", None), OK,
                                            (":OUTP1:CHAN1:STAT?", "1"), (":OUTP1:CHAN1:STAT?", "0"),
                                            (":OUTP1:CHAN1:STAT?", "+0")]) as voa:
        voa.open_shutter()
        voa.close_shutter()
        assert voa.shutter_open is True
        assert voa.shutter_open is False
        assert voa.shutter_open is False


def test_shutter_state_garbled_is_a_protocol_error() -> None:
    with expected_protocol(Keysight81577A, [(":OUTP1:CHAN1:STAT?", "2")]) as voa:
        with pytest.raises(ProtocolError):
            voa.shutter_open


def test_opening_the_shutter_checks_the_present_filter_attenuation() -> None:
    # attenuation read from the instrument (not the cache: the front panel may have changed it)
    with expected_protocol(Keysight81577A, [(":INP1:CHAN1:ATT?", "+3.500000E+01"), OFFSET_0,
                                            (":OUTP1:CHAN1:STAT ON", None), OK],
                           safety_limits={"min_attenuation": 30}) as voa:
        voa.shutter_open = True
    voa, transport = voa_on([(":INP1:CHAN1:ATT?", "+1.000000E+01"), OFFSET_0],
                            safety_limits={"min_attenuation": 30})
    with pytest.raises(SafetyLimitError):
        voa.open_shutter()
    assert b":OUTP1:CHAN1:STAT ON" not in transport.sent
    transport.assert_done()


def test_closing_the_shutter_is_always_allowed() -> None:
    with expected_protocol(Keysight81577A, [(":OUTP1:CHAN1:STAT OFF", None), OK],
                           safety_limits={"min_attenuation": 30}) as voa:
        voa.shutter_open = False


def test_other_slot_and_channel_addressing() -> None:
    """Issue 20 item 5: offset, attenuation and shutter all name the module channel."""
    with expected_protocol(Keysight81577A, [(":INP3:CHAN2:OFFS?", "+0"), (":INP3:CHAN2:ATT 7.0000", None), OK,
                                            (":OUTP3:CHAN2:STAT OFF", None), OK,
                                            (":SLOT3:IDN?", "Agilent Technologies,81577A,DE41200123,V1.0")],
                           slot=3, channel=2) as voa:
        voa.attenuation = 7
        voa.shutter_open = False
        assert voa.identify().model == "81577A"
    with pytest.raises(ConfigError):
        voa_on(channel=0)


def test_instrument_error_after_a_setting_is_reported() -> None:
    with expected_protocol(Keysight81577A, [OFFSET_0, (":INP1:CHAN1:ATT 50.0000", None),
                                            ("SYST:ERR?", '-222,"Data out of range"'), OK]) as voa:
        with pytest.raises(InstrumentReportedError) as info:
            voa.attenuation = 50
        assert info.value.code == -222


def test_identify_module_and_mainframe() -> None:
    with expected_protocol(Keysight81577A, [(":SLOT1:IDN?", "Keysight Technologies,81577A,DE001,V1.0"),
                                            ("*IDN?", "Keysight Technologies,8164B,MY001,V5.25")]) as voa:
        assert voa.identify().serial == "DE001"
        assert voa.mainframe_identity().model == "8164B"


def test_reconnect_restores_offset_before_attenuation_and_shutter_last() -> None:
    pairs = [(":OUTP1:CHAN1:STAT OFF", None), OK, (":INP1:CHAN1:OFFS 1.0000", None), OK,
             (":INP1:CHAN1:ATT 20.0000", None), OK,
             ("*CLS", None), (":INP1:CHAN1:OFFS 1.0000", None), OK, (":INP1:CHAN1:ATT 20.0000", None), OK,
             (":OUTP1:CHAN1:STAT OFF", None), OK]
    with expected_protocol(Keysight81577A, pairs, name="voa") as voa:
        voa.shutter_open = False
        voa.offset = 1
        voa.attenuation = 20
        assert voa.reconnect() == ["voa.offset", "voa.attenuation", "voa.shutter_open"]


def test_safety_read_before_opening_keeps_the_set_attenuation_for_reconnects() -> None:
    with expected_protocol(Keysight81577A, [OFFSET_0, (":INP1:CHAN1:ATT 40.0000", None), OK,
                                            (":INP1:CHAN1:ATT?", "+4.000000E+01"),
                                            (":OUTP1:CHAN1:STAT ON", None), OK],
                           safety_limits={"min_attenuation": 30}) as voa:
        voa.attenuation = 40
        voa.open_shutter()
        assert voa.cache["attenuation"].source == "set"


def test_min_attenuation_holds_whichever_way_the_offset_applies() -> None:
    """Issue 20 item 5: the 'displayed = filter + offset' rule has no source, so with a negative
    offset a displayed 10 dB may be a 10 dB filter: refused under a 12 dB limit (main allowed it)."""
    voa, transport = voa_on([(":INP1:CHAN1:OFFS?", "-5.0")], safety_limits={"min_attenuation": 12})
    with pytest.raises(SafetyLimitError, match="10 dB"):
        voa.attenuation = 10
    assert transport.sent == [b":INP1:CHAN1:OFFS?"]


def test_transcript_from_third_party_8157x_front_ends() -> None:
    """Independent sources: a Qt front end for an 8163x attenuator (search-index id 38672315887) sends
    ``':INP2:CHAN1:ATT ' + text + 'dB'`` and queries ``:INP2:CHAN1:ATT?``; ``voa_agilent.py`` (id 15381028402)
    switches ``:OUTP<slot>:STAT ON|OFF``. qkdlab sends the number without the (default) dB suffix, adds the
    channel to the shutter and checks the error queue after each setting."""
    pairs = [(":INP2:CHAN1:OFFS?", "+0.000000E+00"), (":INP2:CHAN1:ATT 12.5000", None), OK,
             (":INP2:CHAN1:ATT?", "+1.250000E+01"), (":OUTP2:CHAN1:STAT OFF", None), OK]
    with expected_protocol(Keysight81577A, pairs, slot=2) as voa:
        voa.attenuation = 12.5
        assert voa.attenuation == pytest.approx(12.5)
        voa.close_shutter()
