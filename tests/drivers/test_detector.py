"""Protocol tests of the ID Quantique ID210 driver: exact command/reply pairs, native scaling,
read-back verification, ranges and steps refused before anything is sent."""

from __future__ import annotations

import pytest

from qkdlab.drivers.detector import (
    EFFICIENCY_STEPS,
    CountingMode,
    DetectorMode,
    FrequencyMode,
    IDQID210,
)
from qkdlab.errors import InstrumentReportedError, OverrangeError, ProtocolError, SettingRangeError
from qkdlab.testing import ProtocolTransport, expected_protocol
from qkdlab.units import Q_


def spd_on(pairs=()) -> tuple[IDQID210, ProtocolTransport]:
    transport = ProtocolTransport(pairs)
    return IDQID210(transport, "spd"), transport


def test_terminators_and_interface() -> None:
    assert IDQID210.interface == "visa"
    assert IDQID210.default_settings["write_termination"] == "\n"
    assert IDQID210.default_settings["read_termination"] == "\n"
    assert IDQID210.safety_limit_units() == {}


# -- mode ----------------------------------------------------------------------------------------

def test_mode_is_sent_as_its_token_and_verified_by_read_back() -> None:
    with expected_protocol(IDQID210, [("Detector:Mode EXTERNAL_GATING", None), ("Detector:Mode?", "EXTERNAL_GATING"),
                                      ("Detector:Mode FREE_RUNNING", None), ("Detector:Mode?", "FREE_RUNNING")]) as spd:
        spd.mode = DetectorMode.EXTERNAL_GATING
        spd.mode = "free_running"
        assert spd.cache["mode"].value is DetectorMode.FREE_RUNNING


@pytest.mark.parametrize(("reply", "mode"), [
    ("INTERNAL_GATING", DetectorMode.INTERNAL_GATING), ("free_gating", DetectorMode.FREE_GATING),
    ("0", DetectorMode.DISABLED), ("1", DetectorMode.INTERNAL_GATING), ("2", DetectorMode.EXTERNAL_GATING),
    ("3", DetectorMode.FREE_RUNNING), ("4", DetectorMode.FREE_GATING)])
def test_mode_reply_as_token_any_case_or_number(reply: str, mode: DetectorMode) -> None:
    with expected_protocol(IDQID210, [("Detector:Mode?", reply)]) as spd:
        assert spd.mode is mode


def test_unknown_mode_is_refused_without_sending() -> None:
    spd, transport = spd_on()
    with pytest.raises(SettingRangeError):
        spd.mode = "GATED"
    assert transport.sent == []


def test_mode_garbage_reply_is_a_protocol_error() -> None:
    with expected_protocol(IDQID210, [("Detector:Mode?", "\xfe\x13?!")]) as spd, pytest.raises(ProtocolError):
        _ = spd.mode


def test_mode_read_back_mismatch_is_reported() -> None:
    with expected_protocol(IDQID210, [("Detector:Mode DISABLED", None), ("Detector:Mode?", "INTERNAL_GATING")]) as spd:
        with pytest.raises(InstrumentReportedError, match="mode"):
            spd.mode = "DISABLED"


# -- efficiency: tenths of a percent ---------------------------------------------------------------

def test_efficiency_in_tenths_of_a_percent() -> None:
    with expected_protocol(IDQID210, [("Detector:Efficiency 100", None), ("Detector:Efficiency?", "100"),
                                      ("Detector:Efficiency 125", None), ("Detector:Efficiency?", "125"),
                                      ("Detector:Efficiency 250", None), ("Detector:Efficiency?", "250"),
                                      ("Detector:Efficiency?", "75")]) as spd:
        spd.efficiency = 0.1
        spd.efficiency = "12.5 %"
        spd.efficiency = Q_(0.25, "dimensionless")
        assert spd.efficiency == pytest.approx(0.075)


def test_every_efficiency_step_maps_to_its_native_value() -> None:
    natives = [50, 75, 100, 125, 150, 175, 200, 225, 250]
    pairs = []
    for n in natives:
        pairs += [(f"Detector:Efficiency {n}", None), ("Detector:Efficiency?", str(n))]
    with expected_protocol(IDQID210, pairs) as spd:
        for step in EFFICIENCY_STEPS:
            spd.efficiency = step


@pytest.mark.parametrize("bad", [0.11, 0.04, 0.3, "1 V"])
def test_efficiency_off_step_or_out_of_range_sends_nothing(bad: object) -> None:
    spd, transport = spd_on()
    with pytest.raises(SettingRangeError):
        spd.efficiency = bad
    assert transport.sent == []


def test_efficiency_the_instrument_did_not_take_is_reported() -> None:
    with expected_protocol(IDQID210, [("Detector:Efficiency 150", None), ("Detector:Efficiency?", "100")]) as spd:
        with pytest.raises(InstrumentReportedError, match="efficiency"):
            spd.efficiency = 0.15


def test_efficiency_garbage_reply() -> None:
    with expected_protocol(IDQID210, [("Detector:Efficiency?", "ten")]) as spd, pytest.raises(ProtocolError):
        _ = spd.efficiency


# -- times: ns, ps, tenths of a second ----------------------------------------------------------------

def test_dead_time_in_ns() -> None:
    with expected_protocol(IDQID210, [("Detector:Dead_Time 10000", None), ("Detector:Dead_Time?", "10000"),
                                      ("Detector:Dead_Time 100", None), ("Detector:Dead_Time?", "100"),
                                      ("Detector:Dead_Time?", "2500")]) as spd:
        spd.dead_time = Q_(10, "us")
        spd.dead_time = 100e-9
        assert spd.dead_time == Q_(2.5e-6, "s")


@pytest.mark.parametrize("bad", [150e-9, 50e-9, 200e-6, "3 V"])
def test_dead_time_off_step_or_out_of_range_sends_nothing(bad: object) -> None:
    spd, transport = spd_on()
    with pytest.raises(SettingRangeError):
        spd.dead_time = bad
    assert transport.sent == []


def test_gate_width_in_ps() -> None:
    with expected_protocol(IDQID210, [("Detector:Gate_Width 2500", None), ("Detector:Gate_Width?", "2500"),
                                      ("Detector:Gate_Width 25000", None), ("Detector:Gate_Width?", "25000"),
                                      ("Detector:Gate_Width?", "1000")]) as spd:
        spd.gate_width = "2.5 ns"
        spd.gate_width = 25e-9
        assert spd.gate_width == Q_(1e-9, "s")


@pytest.mark.parametrize("bad", [0.5e-9, 26e-9, -1e-9])
def test_gate_width_out_of_range_sends_nothing(bad: float) -> None:
    spd, transport = spd_on()
    with pytest.raises(SettingRangeError):
        spd.gate_width = bad
    assert transport.sent == []


def test_trigger_delay_in_ps() -> None:
    with expected_protocol(IDQID210, [("Detector:Trigger_Delay 4321", None), ("Detector:Trigger_Delay?", "4321"),
                                      ("Detector:Trigger_Delay 0", None), ("Detector:Trigger_Delay?", "0"),
                                      ("Detector:Trigger_Delay?", "20009")]) as spd:
        spd.trigger_delay = Q_(4.321, "ns")
        spd.trigger_delay = 0
        assert spd.trigger_delay.to("ns").magnitude == pytest.approx(20.009)


@pytest.mark.parametrize("bad", [-1e-12, 20.01e-9])
def test_trigger_delay_out_of_range_sends_nothing(bad: float) -> None:
    spd, transport = spd_on()
    with pytest.raises(SettingRangeError):
        spd.trigger_delay = bad
    assert transport.sent == []


def test_trigger_delay_read_back_mismatch() -> None:
    pairs = [("Detector:Trigger_Delay 4000", None), ("Detector:Trigger_Delay?", "3999")]
    with expected_protocol(IDQID210, pairs) as spd:
        with pytest.raises(InstrumentReportedError):
            spd.trigger_delay = 4e-9


def test_integration_time_in_tenths_of_a_second() -> None:
    with expected_protocol(IDQID210, [("Counter:Integration_Time 10", None), ("Counter:Integration_Time?", "10"),
                                      ("Counter:Integration_Time 2", None), ("Counter:Integration_Time?", "2"),
                                      ("Counter:Integration_Time?", "1000")]) as spd:
        spd.integration_time = 1.0
        spd.integration_time = "200 ms"
        assert spd.integration_time == Q_(100.0, "s")


@pytest.mark.parametrize("bad", [0.3, 0.1, 100.2, 0.0])
def test_integration_time_off_step_or_out_of_range_sends_nothing(bad: float) -> None:
    spd, transport = spd_on()
    with pytest.raises(SettingRangeError):
        spd.integration_time = bad
    assert transport.sent == []


# -- gating frequency: Hz, 1-2-5 ------------------------------------------------------------------------

def test_gate_frequency_in_hz_on_the_1_2_5_sequence() -> None:
    with expected_protocol(IDQID210, [("Detector:Frequency 5000000", None), ("Detector:Frequency?", "5000000"),
                                      ("Detector:Frequency 20000", None), ("Detector:Frequency?", "20000"),
                                      ("Detector:Frequency 1000000000", None), ("Detector:Frequency?", "1000000000"),
                                      ("Detector:Frequency?", "100000000")]) as spd:
        spd.gate_frequency = 5e6
        spd.gate_frequency = "20 kHz"
        spd.gate_frequency = Q_(1, "GHz")
        assert spd.gate_frequency == Q_(1e8, "Hz")


@pytest.mark.parametrize("bad", [3e6, 1.5e3, 500.0, 2e9, 25e6])
def test_gate_frequency_off_sequence_or_out_of_range_sends_nothing(bad: float) -> None:
    spd, transport = spd_on()
    with pytest.raises(SettingRangeError):
        spd.gate_frequency = bad
    assert transport.sent == []


# -- counter modes --------------------------------------------------------------------------------------

def test_counting_and_frequency_modes() -> None:
    pairs = [("Counter:Counting_Mode Totalize", None), ("Counter:Counting_Mode?", "TOTALIZE"),
             ("Counter:Counting_Mode Frequency", None), ("Counter:Counting_Mode?", "Frequency"),
             ("Counter:Frequency_Mode Last", None), ("Counter:Frequency_Mode?", "last"),
             ("Counter:Frequency_Mode?", "Current")]
    with expected_protocol(IDQID210, pairs) as spd:
        spd.counting_mode = "totalize"
        spd.counting_mode = CountingMode.FREQUENCY
        spd.frequency_mode = FrequencyMode.LAST
        assert spd.frequency_mode is FrequencyMode.CURRENT


def test_unknown_counting_mode_sends_nothing_and_bad_reply_is_a_protocol_error() -> None:
    spd, transport = spd_on([("Counter:Counting_Mode?", "Histogram")])
    with pytest.raises(SettingRangeError):
        spd.counting_mode = "histogram"
    assert transport.sent == []
    with pytest.raises(ProtocolError):
        _ = spd.counting_mode


# -- count readings ------------------------------------------------------------------------------------

def test_count_rates_from_single_values_and_statistics_lists() -> None:
    pairs = [("Counter:Detection?", "12345"), ("Counter:Detection?", "2.5E+04,1.5E+02,1.2E-02,2.47E+04,2.53E+04"),
             ("Counter:Gate?", "1000000"), ("Counter:Clock?", "1.0E+08, 0, 0, 1E8, 1E8")]
    with expected_protocol(IDQID210, pairs) as spd:
        assert spd.detection_rate == Q_(12345.0, "Hz")
        assert spd.detection_rate == Q_(25000.0, "Hz")
        assert spd.gate_rate == Q_(1e6, "Hz")
        assert spd.clock_rate == Q_(1e8, "Hz")


@pytest.mark.parametrize("reply", ["\xfe\x13?!", "", "lots"])
def test_count_rate_garbage_is_a_protocol_error(reply: str) -> None:
    with expected_protocol(IDQID210, [("Counter:Detection?", reply)]) as spd, pytest.raises(ProtocolError):
        _ = spd.detection_rate


def test_count_rate_overrange() -> None:
    with expected_protocol(IDQID210, [("Counter:Gate?", "9.9E37")]) as spd, pytest.raises(OverrangeError):
        _ = spd.gate_rate


def test_read_counter_with_statistics_in_frequency_mode() -> None:
    with expected_protocol(IDQID210, [("Counter:Counting_Mode?", "Frequency"),
                                      ("Counter:Detection?", "2.5E+04,1.5E+02,1.2E-02,2.47E+04,2.53E+04"),
                                      ("Counter:Gate?", "1000000")]) as spd:
        reading = spd.read_counter("detection")
        assert reading.value == Q_(25000.0, "Hz")
        assert reading.std == Q_(150.0, "Hz")
        assert reading.relative_uncertainty_2sigma == pytest.approx(0.012)
        assert (reading.minimum, reading.maximum) == (Q_(24700.0, "Hz"), Q_(25300.0, "Hz"))
        gate = spd.read_counter("gate")  # counting mode now cached: no second query
        assert gate.value == Q_(1e6, "Hz") and gate.std is None and gate.minimum is None


def test_read_counter_in_totalize_mode_gives_counts() -> None:
    with expected_protocol(IDQID210, [("Counter:Counting_Mode Totalize", None), ("Counter:Counting_Mode?", "Totalize"),
                                      ("Counter:Clock?", "123456789")]) as spd:
        spd.counting_mode = CountingMode.TOTALIZE
        reading = spd.read_counter("clock")
        assert reading.value == Q_(123456789.0, "dimensionless")


@pytest.mark.parametrize("reply", ["1,2,3", "1,2,x,4,5", "9.9E37"])
def test_read_counter_malformed_replies(reply: str) -> None:
    with expected_protocol(IDQID210, [("Counter:Counting_Mode?", "Frequency"), ("Counter:Detection?", reply)]) as spd:
        with pytest.raises((ProtocolError, OverrangeError)):
            spd.read_counter()


def test_read_counter_unknown_name_sends_nothing() -> None:
    spd, transport = spd_on()
    with pytest.raises(ValueError, match="unknown counter"):
        spd.read_counter("photons")
    assert transport.sent == []


# -- identity, error checks off, snapshot ---------------------------------------------------------------

def test_identify_with_a_comma_separated_idn() -> None:
    with expected_protocol(IDQID210, [("*IDN?", "ID Quantique,ID210,SN1234,3.2")]) as spd:
        identity = spd.identify()
        assert (identity.manufacturer, identity.model, identity.serial, identity.firmware) == (
            "ID Quantique", "ID210", "SN1234", "3.2")


def test_identify_with_a_plain_idn_and_garbage() -> None:
    with expected_protocol(IDQID210, [("*IDN?", "ID210 single-photon detector v2"), ("*IDN?", "\x00\x13")]) as spd:
        identity = spd.identify()
        assert identity.manufacturer == "ID Quantique" and identity.model == "ID210 single-photon detector v2"
        with pytest.raises(ProtocolError):
            spd.identify()


def test_read_back_can_be_switched_off() -> None:
    with expected_protocol(IDQID210, [("Detector:Efficiency 200", None)], check_errors=False) as spd:
        spd.efficiency = 0.2


def test_snapshot_records_settings_in_si() -> None:
    pairs = [("Detector:Gate_Width 3000", None), ("Detector:Gate_Width?", "3000"),
             ("Detector:Mode INTERNAL_GATING", None), ("Detector:Mode?", "INTERNAL_GATING")]
    with expected_protocol(IDQID210, pairs) as spd:
        spd.gate_width = 3e-9
        spd.mode = "INTERNAL_GATING"
        snap = spd.snapshot()
        assert snap["gate_width"]["value"] == pytest.approx(3e-9) and snap["gate_width"]["unit"] == "s"
        assert snap["mode"]["value"] == "INTERNAL_GATING"


# -- issue 20 item 1: read-backs no source shows are optional --------------------------------------

def test_set_counting_mode_succeeds_when_its_query_is_unanswered_and_is_not_asked_again() -> None:
    """The only source (``SPD_ID210``) sets the counting mode but never queries it: silence after
    ``Counter:Counting_Mode?`` must not turn a working set into a timeout."""
    spd, transport = spd_on([("Counter:Counting_Mode Totalize", None), ("Counter:Counting_Mode?", None),
                             ("Counter:Counting_Mode Frequency", None)])
    spd.optional_query_timeout = 0.05
    spd.counting_mode = CountingMode.TOTALIZE
    spd.counting_mode = CountingMode.FREQUENCY     # no second query: remembered as unsupported
    transport.assert_done()
    assert spd.cache["counting_mode"].value is CountingMode.FREQUENCY
    assert spd.unsupported_queries == {"Counter:Counting_Mode?"}
    assert spd.snapshot()["unsupported queries"] == ["Counter:Counting_Mode?"]


def test_snapshot_update_skips_queries_a_probe_found_unsupported() -> None:
    unsupported = {"Detector:Trigger_Delay?", "Counter:Counting_Mode?", "Counter:Frequency_Mode?"}
    pairs = [("Detector:Mode?", "INTERNAL_GATING"), ("Detector:Efficiency?", "100"), ("Detector:Dead_Time?", "10000"),
             ("Detector:Gate_Width?", "2000"), ("Detector:Frequency?", "1000000"),
             ("Counter:Integration_Time?", "10")]
    transport = ProtocolTransport(pairs)
    spd = IDQID210(transport, "spd", unsupported_queries=unsupported)
    snap = spd.snapshot(update=True)
    transport.assert_done()
    assert "trigger_delay" not in snap and snap["unsupported queries"] == sorted(unsupported)


def test_trigger_delay_still_verified_where_the_query_answers() -> None:
    with expected_protocol(IDQID210, [("Detector:Trigger_Delay 1500", None), ("Detector:Trigger_Delay?", "1400")]) as spd, \
            pytest.raises(InstrumentReportedError, match="read back"):
        spd.trigger_delay = 1.5e-9


def test_transcript_from_the_spd_id210_class() -> None:
    """Independent source: the third-party ``SPD_ID210`` class (A. Afifi, 2020; search-index id 19078969106):
    ``'Detector:Efficiency %d'`` in tenths of a percent, ``'Counter:Integration_Time %d'`` in tenths of a
    second, ``'Detector:Frequency %d'`` in Hz, ``'Counter:Counting_Mode %s'`` with ``Frequency``, and
    ``Counter:Detection?``; qkdlab adds its read-backs (optional where that class shows no query)."""
    pairs = [("Detector:Efficiency 100", None), ("Detector:Efficiency?", "100"),
             ("Counter:Integration_Time 10", None), ("Counter:Integration_Time?", "10"),
             ("Detector:Frequency 1000000", None), ("Detector:Frequency?", "1000000"),
             ("Counter:Counting_Mode Frequency", None), ("Counter:Counting_Mode?", "Frequency"),
             ("Counter:Detection?", "1234")]
    with expected_protocol(IDQID210, pairs) as spd:
        spd.efficiency = 0.10
        spd.integration_time = 1.0
        spd.gate_frequency = 1e6
        spd.counting_mode = CountingMode.FREQUENCY
        assert spd.read_counter().value == Q_(1234, "Hz")
