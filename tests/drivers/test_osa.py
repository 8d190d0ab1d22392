"""Protocol tests of the Yokogawa AQ6370 OSA driver: exact commands, SI units, limits, trace read-out."""

from __future__ import annotations

import numpy as np
import pytest

from qkdlab.drivers import driver_class
from qkdlab.drivers.osa import YokogawaAQ6370
from qkdlab.errors import InstrumentReportedError, ProtocolError, SettingRangeError
from qkdlab.testing import ProtocolTransport, expected_protocol

OK = ("SYST:ERR?", '+0,"No error"')
INIT = [(":FORMat:DATA ASCii", None), OK, (":DISPlay:TRACe:Y1:SPACing LOGarithmic", None), OK,
        (":SENSe:SWEep:POINts:AUTO 0", None), OK]


def test_registered_under_its_config_name() -> None:
    assert driver_class("yokogawa_aq6370") is YokogawaAQ6370


def test_sweep_settings_in_si_sent_in_metres() -> None:
    pairs = INIT + [(":SENSe:WAVelength:CENTer 1.550000000e-06", None), OK,
                    (":SENSe:WAVelength:SPAN 6.000000000e-10", None), OK,
                    (":SENSe:BWIDth:RESolution 2.000e-11", None), OK,
                    (":SENSe:SWEep:POINts 1001", None), OK,
                    (":SENSe:WAVelength:CENTer?", "+1.5500100000E-06"), (":SENSe:BWIDth:RESolution?", "+5.0000E-11")]
    with expected_protocol(YokogawaAQ6370, pairs) as osa:
        osa.centre = "1550 nm"
        osa.span = "0.6 nm"
        osa.resolution = "0.02 nm"
        osa.points = 1001
        assert osa.centre.to("nm").magnitude == pytest.approx(1550.01)
        assert osa.resolution.to("nm").magnitude == pytest.approx(0.05)


def test_out_of_range_and_non_discrete_settings_send_nothing() -> None:
    transport = ProtocolTransport(INIT)
    osa = YokogawaAQ6370(transport)
    sent = list(transport.sent)
    for name, value in (("resolution", "0.03 nm"), ("resolution", "5 nm"), ("centre", "2000 nm"), ("points", 20),
                        ("averages", 1000), ("span", "-1 nm")):
        with pytest.raises(SettingRangeError):
            setattr(osa, name, value)
    with pytest.raises(SettingRangeError):
        osa.measure(centre="1550 nm", span="1 nm", resolution="0.03 nm", points=1001)
    assert transport.sent == sent


def test_sweep_polls_the_operation_register_until_bit_0() -> None:
    pairs = INIT + [(":INITiate:SMODe 1", None), OK, ("*CLS", None), (":INITiate:IMMediate", None), OK,
                    (":STATus:OPERation:EVENt?", "0"), (":STATus:OPERation:EVENt?", "+1")]
    with expected_protocol(YokogawaAQ6370, pairs) as osa:
        osa.sweep(poll_s=0.0)


def test_trace_levels_in_dbm_come_back_in_watts() -> None:
    pairs = INIT + [(":TRACe:X? TRA", "1.5499E-06,1.5500E-06,1.5501E-06"), (":TRACe:Y? TRA", "-30.0,-20.0,-210.0"),
                    (":SENSe:SWEep:POINts?", "3"), (":SENSe:BWIDth:RESolution?", "2.0E-11")]
    with expected_protocol(YokogawaAQ6370, pairs) as osa:
        spectrum = osa.trace()
    assert spectrum.wavelengths.to("nm").magnitude == pytest.approx([1549.9, 1550.0, 1550.1])
    np.testing.assert_allclose(spectrum.power.to("W").magnitude, [1e-6, 1e-5, 1e-24])
    assert spectrum.resolution.to("nm").magnitude == pytest.approx(0.02)


def test_short_or_garbled_trace_is_a_protocol_error() -> None:
    pairs = INIT + [(":TRACe:X? TRA", "1.5499E-06,1.5500E-06,1.5501E-06"), (":TRACe:Y? TRA", "-30.0,-20.0"),
                    (":SENSe:SWEep:POINts?", "3"), (":SENSe:BWIDth:RESolution?", "2.0E-11"),
                    (":TRACe:X? TRA", "1.5499E-06,#garbage")]
    with expected_protocol(YokogawaAQ6370, pairs) as osa:
        with pytest.raises(ProtocolError, match="3 wavelengths and 2 levels"):
            osa.trace()
        with pytest.raises(ProtocolError, match="not comma-separated"):
            osa.trace()


def test_a_refused_setting_raises_with_the_instrument_error() -> None:
    pairs = INIT + [(":SENSe:AVERage:COUNt 5", None), ("SYST:ERR?", '-221,"Settings conflict"'), OK]
    with expected_protocol(YokogawaAQ6370, pairs) as osa:
        with pytest.raises(InstrumentReportedError) as info:
            osa.averages = 5
    assert info.value.code == -221
