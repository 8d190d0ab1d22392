"""Protocol tests of the power-meter drivers: exact commands, native scaling, errors."""

from __future__ import annotations

import pytest

from qkdlab.drivers.power_meter import Keysight8163B, ThorlabsPM100
from qkdlab.errors import InstrumentError, InstrumentReportedError, OverrangeError, ProtocolError, SettingRangeError
from qkdlab.testing import ProtocolTransport, expected_protocol
from qkdlab.units import Q_

OK = ("SYST:ERR?", '+0,"No error"')
SENSOR = "S155C,1234567,07-Jan-2026,1,18,289"
PM_INIT = [("SENS:POW:UNIT W", None), OK, ("SYST:SENS:IDN?", SENSOR)]
SENSOR_RANGE = [("SENS:CORR:WAV? MIN", "8.000000E+02"), ("SENS:CORR:WAV? MAX", "1.700000E+03")]
HEADS = ((1, 1), (2, 1))
HEADS_INIT = [("SENS1:CHAN1:POW:UNIT 1", None), OK, ("SENS2:CHAN1:POW:UNIT 1", None), OK]


def test_pm100_forces_watts_and_reads_power() -> None:
    with expected_protocol(ThorlabsPM100, PM_INIT + [("MEAS:POW?", "1.234500E-06")]) as pm:
        assert pm.power == Q_(1.2345e-6, "W")


def test_pm100_wavelength_in_metres_sent_in_nm() -> None:
    with expected_protocol(ThorlabsPM100, PM_INIT + SENSOR_RANGE + [("SENS:CORR:WAV 1310", None), OK,
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
    transport = ProtocolTransport(PM_INIT + SENSOR_RANGE)
    pm = ThorlabsPM100(transport)
    assert pm.wavelength_range == pytest.approx((800e-9, 1700e-9))   # read once, here
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
    with expected_protocol(Keysight8163B, pairs, heads=HEADS) as meter:
        meter.head(2).averaging_time = "500 ms"
        assert meter.power(2, 1) == Q_(3e-9, "W")
        assert meter.head(1, 1).last_power == Q_(1e-6, "W")
        meter.head(1).wavelength = 1310e-9
        with pytest.raises(KeyError, match="no head at slot 3"):
            meter.head(3)


def test_8163b_auto_range_identity_and_snapshot() -> None:
    pairs = HEADS_INIT + [("SENS1:POW:RANG:AUTO 0", None), OK, ("SENS1:POW:RANG:AUTO?", "1"),
                          ("*IDN?", "Keysight Technologies,8163B,MY123,V5.25")]
    with expected_protocol(Keysight8163B, pairs, heads=HEADS) as meter:
        meter.head(1).auto_range = False
        assert meter.head(1).auto_range is True
        assert meter.identify().model == "8163B"
        snapshot = meter.snapshot()
    assert snapshot["channel 1,1"]["auto_range"]["value"] is True
    assert "power" not in snapshot["channel 1,1"]  # readings are not settings


def test_pm100_identity() -> None:
    with expected_protocol(ThorlabsPM100, PM_INIT + [("*IDN?", "Thorlabs,PM100D,P0012345,2.8.0")]) as pm:
        assert pm.identify().serial == "P0012345"


# -- issue 20 items 4 and 8 ------------------------------------------------------------------------

def test_8163b_opens_slot_one_only_by_default_and_ranges_per_slot() -> None:
    """Item 4: default heads configure slot 1 only (slot 2 may hold the laser or VOA); auto-range is a
    per-slot command as public scripts send it (``sens<slot>:pow:rang:auto 1``); manual range; zeroing."""
    pairs = [("SENS1:CHAN1:POW:UNIT 1", None), OK,
             ("SENS1:POW:RANG:AUTO 1", None), OK,
             ("SENS1:CHAN1:POW:RANG -20", None), OK,
             ("SENS1:CHAN1:CORR:COLL:ZERO", None), ("*OPC?", "1"), OK]
    with expected_protocol(Keysight8163B, pairs) as meter:
        assert [h.name for h in meter.channels] == ["keysight8163b.s1c1"]
        meter.head(1).auto_range = True
        meter.head(1).range_dbm = -20
        meter.head(1).zero()


def test_pm100_wavelength_range_is_the_sensors_own() -> None:
    """Item 8: an InGaAs head reports 800..1700 nm: 1750 nm is refused before sending; 400..1800 nm
    (the old fixed range) would have let it through."""
    transport = ProtocolTransport(PM_INIT + [("SENS:CORR:WAV? MIN", "8.000000E+02"),
                                             ("SENS:CORR:WAV? MAX", "1.700000E+03")])
    pm = ThorlabsPM100(transport)
    with pytest.raises(SettingRangeError, match="1.7e-06"):
        pm.wavelength = "1750 nm"
    transport.assert_done()


def test_pm100_without_a_sensor_refuses_to_open() -> None:
    """Item 8: PyMeasure ``thorlabspm100usb.py`` refuses "no sensor" (``SYST:SENSOR:IDN?``)."""
    transport = ProtocolTransport([("SENS:POW:UNIT W", None), OK, ("SYST:SENS:IDN?", "no sensor,0,0,0,0,0")])
    with pytest.raises(InstrumentError, match="no sensor"):
        ThorlabsPM100(transport, "pm")


def test_pm100_transcript_from_pymeasure_thorlabspm100usb() -> None:
    """Independent source: PyMeasure ``thorlabspm100usb.py`` reads ``SENS:CORR:WAV? MIN``/``MAX`` in nm
    and ``MEAS:POW?`` in W (the driver has no protocol test there; these are its exact strings)."""
    pairs = PM_INIT + [("SENS:CORR:WAV? MIN", "400"), ("SENS:CORR:WAV? MAX", "1100"), ("MEAS:POW?", "2.5E-06")]
    with expected_protocol(ThorlabsPM100, pairs) as pm:
        assert pm.wavelength_range == pytest.approx((400e-9, 1100e-9))
        assert pm.power == Q_(2.5e-6, "W")


def test_8163b_transcript_from_public_scripts() -> None:
    """Independent source: a lab script for 8163B power-meter slots (search-index id 37848458164) sends
    ``'sens' + slot + ':pow:unit 0'``, ``'sens' + slot + ':pow:rang:auto 1'`` and ``':pow:atim <t>s'`` (SCPI is
    case-insensitive; qkdlab sends upper case, W as unit 1, and names the channel where the script omits it)."""
    pairs = [("SENS3:CHAN1:POW:UNIT 1", None), OK, ("SENS3:POW:RANG:AUTO 1", None), OK,
             ("SENS3:CHAN1:POW:ATIM 0.5", None), OK, ("READ3:CHAN1:POW?", "+2.500000E-06")]
    with expected_protocol(Keysight8163B, pairs, heads=((3, 1),)) as meter:
        meter.head(3).auto_range = True
        meter.head(3).averaging_time = 0.5
        assert meter.power(3) == Q_(2.5e-6, "W")
