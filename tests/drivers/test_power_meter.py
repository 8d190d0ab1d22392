"""Protocol tests of the power-meter drivers: exact commands, native scaling, errors."""

from __future__ import annotations

import pytest

from qkdlab.drivers.power_meter import Keysight8163B, ThorlabsPM100
from qkdlab.errors import InstrumentReportedError, OverrangeError, ProtocolError, SettingRangeError
from qkdlab.testing import ProtocolTransport, expected_protocol
from qkdlab.units import Q_

OK = ("SYST:ERR?", '+0,"No error"')
PM_INIT = [("SENS:POW:UNIT W", None), OK]
HEADS_INIT = [("SENS1:CHAN1:POW:UNIT 1", None), OK, ("SENS2:CHAN1:POW:UNIT 1", None), OK]


def test_pm100_forces_watts_and_reads_power() -> None:
    with expected_protocol(ThorlabsPM100, PM_INIT + [("MEAS:POW?", "1.234500E-06")]) as pm:
        assert pm.power == Q_(1.2345e-6, "W")


def test_pm100_wavelength_in_metres_sent_in_nm() -> None:
    with expected_protocol(ThorlabsPM100, PM_INIT + [("SENS:CORR:WAV 1310", None), OK,
                                                     ("SENS:CORR:WAV?", "1550")]) as pm:
        pm.wavelength = Q_(1310, "nm")
        assert pm.wavelength.to("nm").magnitude == pytest.approx(1550)


def test_pm100_range_averaging_and_auto_range() -> None:
    pairs = PM_INIT + [("SENS:POW:RANG:AUTO 0", None), OK, ("SENS:POW:RANG:UPP 0.001", None), OK,
                       ("SENS:AVER:COUN 100", None), OK, ("SENS:AVER:COUN?", "100"), ("SENS:POW:RANG:AUTO?", "1")]
    with expected_protocol(ThorlabsPM100, pairs) as pm:
        pm.auto_range = False
        pm.range_upper = "1 mW"
        pm.averaging_count = 100
        count = pm.averaging_count
        assert count == 100 and isinstance(count, int)
        assert pm.auto_range is True


def test_pm100_overrange_garbage_and_reported_errors() -> None:
    pairs = PM_INIT + [("MEAS:POW?", "9.9E37"), ("MEAS:POW?", "NaN?x"),
                       ("SENS:AVER:COUN 5", None), ("SYST:ERR?", '-113,"Undefined header"'), OK]
    with expected_protocol(ThorlabsPM100, pairs) as pm:
        with pytest.raises(OverrangeError):
            pm.power
        with pytest.raises(ProtocolError):
            pm.power
        with pytest.raises(InstrumentReportedError) as info:
            pm.averaging_count = 5
    assert (info.value.code, info.value.command) == (-113, "SENS:AVER:COUN 5")


def test_pm100_out_of_range_sends_nothing() -> None:
    transport = ProtocolTransport(PM_INIT)
    pm = ThorlabsPM100(transport)
    sent = list(transport.sent)
    with pytest.raises(SettingRangeError):
        pm.wavelength = 2e-6
    with pytest.raises(SettingRangeError):
        pm.averaging_count = 0
    assert transport.sent == sent


def test_pm100_zeroing_polls_until_done_and_returns_the_offset() -> None:
    pairs = PM_INIT + [("SENS:CORR:COLL:ZERO:INIT", None), OK, ("SENS:CORR:COLL:ZERO:STAT?", "1"),
                       ("SENS:CORR:COLL:ZERO:STAT?", "0"), ("SENS:CORR:COLL:ZERO:MAGN?", "2.0E-10")]
    with expected_protocol(ThorlabsPM100, pairs) as pm:
        assert pm.zero(poll_s=0.0) == Q_(2e-10, "W")


def test_pm100_sensor_identity_and_dbm() -> None:
    pairs = PM_INIT + [("SYST:SENS:IDN?", "S155C,1234567,07-Jan-2026,1,18,289"), ("MEAS:POW?", "1.0E-03")]
    with expected_protocol(ThorlabsPM100, pairs) as pm:
        assert pm.sensor_identity()["name"] == "S155C"
        assert pm.power_dbm == pytest.approx(0.0)


def test_8163b_heads_use_slot_and_channel_addressing() -> None:
    pairs = HEADS_INIT + [("SENS2:CHAN1:POW:ATIM 0.5", None), OK, ("READ2:CHAN1:POW?", "+3.000000E-09"),
                          ("FETC1:CHAN1:POW?", "+1.0E-06"), ("SENS1:CHAN1:POW:WAV 1.31e-06", None), OK]
    with expected_protocol(Keysight8163B, pairs) as meter:
        meter.head(2).averaging_time = "500 ms"
        assert meter.power(2, 1) == Q_(3e-9, "W")
        assert meter.head(1, 1).last_power == Q_(1e-6, "W")
        meter.head(1).wavelength = 1310e-9
        with pytest.raises(KeyError, match="no head at slot 3"):
            meter.head(3)


def test_8163b_auto_range_identity_and_snapshot() -> None:
    pairs = HEADS_INIT + [("SENS1:CHAN1:POW:RANG:AUTO 0", None), OK, ("SENS1:CHAN1:POW:RANG:AUTO?", "1"),
                          ("*IDN?", "Keysight Technologies,8163B,MY123,V5.25")]
    with expected_protocol(Keysight8163B, pairs) as meter:
        meter.head(1).auto_range = False
        assert meter.head(1).auto_range is True
        assert meter.identify().model == "8163B"
        snapshot = meter.snapshot()
    assert snapshot["channel 1,1"]["auto_range"]["value"] is True
    assert "power" not in snapshot["channel 1,1"]  # readings are not settings


def test_pm100_identity() -> None:
    with expected_protocol(ThorlabsPM100, PM_INIT + [("*IDN?", "Thorlabs,PM100D,P0012345,2.8.0")]) as pm:
        assert pm.identify().serial == "P0012345"
