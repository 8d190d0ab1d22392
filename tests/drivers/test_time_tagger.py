"""The time-tagger layer: the start-stop histogram, the ``TimeTagger`` interface's checks, and the
Swabian adapter.

The adapter is exercised two ways:
- against ``RecordingSwabianLibrary`` below, a test double written from Swabian's documented Python
  API (signatures checked against the swabian-timetagger 2.22 wheel). It records every call, so
  the tests pin the adapter's conversions (seconds -> integer ps, ms timeouts), its order of
  checks (ranges before anything is applied) and its handling of stream buffers — the same role
  ``ProtocolTransport`` plays for VISA drivers. It is not used outside these tests;
- against the real library where it is installed (``pytest.importorskip``; skipped here).
"""

from __future__ import annotations

import sys
import time
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from qkdlab.drivers.time_tagger import (
    ChannelSettings,
    SwabianTimeTagger,
    TimeTagger,
    histogram_edges_s,
    load_swabian_library,
    start_stop_histogram,
)
from qkdlab.errors import (
    ConfigError,
    InstrumentConnectionError,
    InstrumentReportedError,
    SettingRangeError,
    Timeout,
)
from qkdlab.units import Q_

# -- start_stop_histogram ------------------------------------------------------------------------


def test_histogram_counts_clicks_relative_to_the_last_start() -> None:
    starts = np.array([0, 1000, 2000], dtype=np.int64)
    clicks = np.array([50, 150, 1050, 1999, 2000, 2310, -5], dtype=np.int64)
    counts = start_stop_histogram(clicks, starts, bin_width_ps=100, n_bins=5)
    # 50->bin0, 150->bin1, 1050->bin0, 1999->999 (out of range), 2000->bin0, 2310->bin3, -5: before any start
    assert counts.tolist() == [3, 1, 0, 1, 0]
    assert counts.dtype == np.int64


def test_histogram_with_a_start_carried_over_and_unsorted_clicks() -> None:
    starts = np.array([1000], dtype=np.int64)
    clicks = np.array([1020, 20, 990], dtype=np.int64)
    counts = start_stop_histogram(clicks, starts, 10, 10, previous_start_ps=-40)
    # 20 - (-40) = 60 -> bin 6; 990 - (-40) = 1030 -> out; 1020 - 1000 = 20 -> bin 2
    assert counts.tolist() == [0, 0, 1, 0, 0, 0, 1, 0, 0, 0]


def test_histogram_edge_cases() -> None:
    assert start_stop_histogram(np.array([], dtype=np.int64), np.array([0]), 10, 3).tolist() == [0, 0, 0]
    assert start_stop_histogram(np.array([5]), np.array([], dtype=np.int64), 10, 3).tolist() == [0, 0, 0]
    with pytest.raises(ValueError):
        start_stop_histogram(np.array([5]), np.array([0]), 0, 3)
    assert histogram_edges_s(250, 4).tolist() == pytest.approx([0, 250e-12, 500e-12, 750e-12, 1000e-12])


def test_histogram_matches_a_direct_computation_and_is_fast() -> None:
    rng = np.random.default_rng(1)
    starts = np.sort(rng.integers(0, 10**9, 20_000))
    clicks = rng.integers(0, 10**9, 2_000_000)
    t0 = time.process_time()    # CPU seconds: the cost of the histogram, not the machine's load
    counts = start_stop_histogram(clicks, starts, 1000, 50)
    elapsed = time.process_time() - t0
    sample = clicks[:5000]
    expected = np.zeros(50, dtype=np.int64)
    for c in sample.tolist():
        before = starts[starts <= c]
        if before.size and (c - before[-1]) // 1000 < 50:
            expected[(c - before[-1]) // 1000] += 1
    assert np.array_equal(start_stop_histogram(sample, starts, 1000, 50), expected)
    assert counts.sum() > 0
    assert elapsed < 2.0, f"2e6 clicks took {elapsed:.2f} s of CPU"


# -- a test double of Swabian's library -------------------------------------------------------------


class _Tagger:
    def __init__(self, serial: str) -> None:
        self.serial = serial or "1740000FIRST"
        self.calls: list[tuple[Any, ...]] = []
        self.levels: dict[int, float] = {}
        self.delays: dict[int, int] = {}
        self.deadtimes: dict[int, int] = {}

    def getChannelList(self) -> list[int]:
        return [1, 2, 3, 4, -1, -2, -3, -4]

    def setConditionalFilter(self, trigger: list[int], filtered: list[int]) -> None:
        self.calls.append(("setConditionalFilter", tuple(trigger), tuple(filtered)))

    def clearConditionalFilter(self) -> None:
        self.calls.append(("clearConditionalFilter",))

    def setEventDivider(self, channel: int, divider: int) -> None:
        self.calls.append(("setEventDivider", channel, divider))

    def setTestSignal(self, channels: list[int], state: bool) -> None:
        self.calls.append(("setTestSignal", tuple(channels), state))

    def getTriggerLevelRange(self, channel: int) -> list[float]:
        return [-2.5, 2.5]

    def getDeadtimeRange(self, channel: int) -> list[int]:
        return [2000, 2_147_000_000]

    def setTriggerLevel(self, channel: int, voltage: float) -> None:
        self.calls.append(("setTriggerLevel", channel, voltage))
        self.levels[channel] = voltage

    def getTriggerLevel(self, channel: int) -> float:
        return self.levels.get(channel, 0.5)

    def setInputDelay(self, channel: int, delay: int) -> None:
        assert isinstance(delay, int)
        self.calls.append(("setInputDelay", channel, delay))
        self.delays[channel] = delay

    def getInputDelay(self, channel: int) -> int:
        return self.delays.get(channel, 0)

    def setDeadtime(self, channel: int, deadtime: int) -> int:
        assert isinstance(deadtime, int)
        self.calls.append(("setDeadtime", channel, deadtime))
        self.deadtimes[channel] = max(2000, (deadtime // 1000) * 1000)   # raised to the minimum, rounded
        return self.deadtimes[channel]

    def getDeadtime(self, channel: int) -> int:
        return self.deadtimes.get(channel, 2000)

    def getModel(self) -> str:
        return "Time Tagger Ultra"

    def getSerial(self) -> str:
        return self.serial

    def getFirmwareVersion(self) -> str:
        return "FW 1.2"


class _Measurement:
    finishes = True

    def __init__(self, library: RecordingSwabianLibrary) -> None:
        self.library = library
        library.measurements.append(self)
        self.started: int | None = None
        self.timeout: int | None = None
        self.stopped = False

    def startFor(self, capture_duration: int, clear: bool = True) -> None:
        assert isinstance(capture_duration, int)
        self.started = capture_duration

    def waitUntilFinished(self, timeout: int = -1) -> bool:
        self.timeout = timeout
        return self.finishes

    def stop(self) -> None:
        self.stopped = True


class RecordingSwabianLibrary:
    """A stand-in for ``Swabian.TimeTagger`` that records calls and replays scripted data."""

    def __init__(self, *, fail_open: bool = False) -> None:
        self.fail_open = fail_open
        self.measurements: list[_Measurement] = []
        self.freed: list[_Tagger] = []
        self.created: list[tuple[str, dict[str, Any]]] = []
        self.counts_total: list[int] = []
        self.histogram_data = np.zeros(0)
        self.stream: dict[str, Any] = {}
        self.Resolution = SimpleNamespace(Standard=0, HighResA=1)
        lib = self

        class Countrate(_Measurement):
            def __init__(self, tagger: _Tagger, channels: list[int]) -> None:
                super().__init__(lib)
                self.args = (tagger, list(channels))

            def getCountsTotal(self) -> np.ndarray:
                return np.array(lib.counts_total, dtype=np.int64)

        class Histogram(_Measurement):
            def __init__(self, tagger: _Tagger, click_channel: int, start_channel: int = -134217728,
                         binwidth: int = 1000, n_bins: int = 1000) -> None:
                super().__init__(lib)
                self.args = (tagger, click_channel, start_channel, binwidth, n_bins)

            def getData(self) -> np.ndarray:
                return np.asarray(lib.histogram_data, dtype=np.int32)

        class TimeTagStream(_Measurement):
            def __init__(self, tagger: _Tagger, n_max_events: int, channels: list[int]) -> None:
                super().__init__(lib)
                self.args = (tagger, n_max_events, list(channels))

            def getData(self) -> SimpleNamespace:
                s = lib.stream
                return SimpleNamespace(
                    getTimestamps=lambda: np.array(s["tags"], dtype=np.int64),
                    getChannels=lambda: np.array(s["channels"], dtype=np.int32),
                    getEventTypes=lambda: np.array(s["types"], dtype=np.uint8),
                    size=len(s["tags"]), hasOverflows=s.get("overflow", False), tStart=s["t_start"])

        self.Countrate, self.Histogram, self.TimeTagStream = Countrate, Histogram, TimeTagStream

    def createTimeTagger(self, serial: str = "", **kwargs: Any) -> _Tagger:
        self.created.append((serial, kwargs))
        if self.fail_open:
            raise RuntimeError("No Time Tagger with serial 'X' found")
        return _Tagger(serial)

    def freeTimeTagger(self, tagger: _Tagger) -> None:
        self.freed.append(tagger)


@pytest.fixture
def lib() -> RecordingSwabianLibrary:
    return RecordingSwabianLibrary()


def test_adapter_opens_identifies_and_frees(lib: RecordingSwabianLibrary) -> None:
    tt = SwabianTimeTagger("1740000ABC", "tagger", library=lib, resolution="HighResA")
    assert lib.created == [("1740000ABC", {"resolution": 1})]
    identity = tt.identify()
    assert (identity.manufacturer, identity.model, identity.serial, identity.firmware) == (
        "Swabian Instruments", "Time Tagger Ultra", "1740000ABC", "FW 1.2")
    assert tt.channels() == [-4, -3, -2, -1, 1, 2, 3, 4]     # falling edges are channels too
    assert tt.interface == "library" and isinstance(tt, TimeTagger)
    tagger = tt.tagger
    tt.close()
    assert lib.freed == [tagger]
    tt.close()
    assert len(lib.freed) == 1
    with pytest.raises(InstrumentConnectionError, match="closed"):
        tt.identify()


def test_adapter_open_failure_is_a_connection_error() -> None:
    with pytest.raises(InstrumentConnectionError, match="cannot open Swabian Time Tagger"):
        SwabianTimeTagger("X", library=RecordingSwabianLibrary(fail_open=True))
    with pytest.raises(ConfigError, match="resolution"):
        SwabianTimeTagger("X", library=RecordingSwabianLibrary(), resolution="Ultrafine")


def test_a_tagger_passed_in_is_not_freed(lib: RecordingSwabianLibrary) -> None:
    tagger = _Tagger("given")
    tt = SwabianTimeTagger("", library=lib, tagger=tagger)
    assert lib.created == []
    tt.close()
    assert lib.freed == []


def test_configure_channel_converts_to_ps_and_returns_what_was_applied(lib: RecordingSwabianLibrary) -> None:
    tt = SwabianTimeTagger("", library=lib)
    applied = tt.configure_channel(2, trigger_level_v="120 mV", delay_s=Q_(1.5, "ns"), dead_time_s=10.4e-9)
    assert tt.tagger.calls == [("setTriggerLevel", 2, pytest.approx(0.12)), ("setInputDelay", 2, 1500),
                               ("setDeadtime", 2, 10400)]
    assert applied == ChannelSettings(pytest.approx(0.12), 1.5e-9, 10e-9)   # dead time rounded by the tagger
    assert tt.snapshot()["channel 2"]["dead_time"]["value"] == pytest.approx(10e-9)
    tt.configure_channel(1, delay_s=-2e-9)
    assert tt.tagger.calls[-1] == ("setInputDelay", 1, -2000)
    assert tt.configure_channel(1, dead_time_s=0).dead_time_s == pytest.approx(2e-9)   # the tagger's minimum


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"trigger_level_v": 3.0}, "trigger level"), ({"dead_time_s": 3e-3}, "dead time"),
    ({"dead_time_s": -1e-9}, "negative"), ({"delay_s": "2 V"}, "not a value in s"),
    ({"trigger_level_v": float("nan")}, "not finite")])
def test_bad_channel_settings_apply_nothing(lib: RecordingSwabianLibrary, kwargs: dict, match: str) -> None:
    tt = SwabianTimeTagger("", library=lib)
    with pytest.raises(SettingRangeError, match=match):
        tt.configure_channel(1, **{"delay_s": 1e-9, **kwargs})
    assert tt.tagger.calls == []


def test_unknown_channels_are_refused(lib: RecordingSwabianLibrary) -> None:
    tt = SwabianTimeTagger("", library=lib)
    for bad in (0, 5, -5, True, "1"):
        with pytest.raises(SettingRangeError):
            tt.counts([bad], 1.0)
    assert lib.measurements == []


def test_channel_settings_from_the_config_are_applied_on_opening(lib: RecordingSwabianLibrary) -> None:
    tt = SwabianTimeTagger("", library=lib, channels={"3": {"trigger_level_v": 0.8, "dead_time_s": "5 ns"}})
    assert tt.tagger.calls == [("setTriggerLevel", 3, 0.8), ("setDeadtime", 3, 5000)]
    with pytest.raises(ConfigError, match="unknown"):
        SwabianTimeTagger("", library=lib, channels={1: {"level": 0.1}})
    with pytest.raises(SettingRangeError):
        SwabianTimeTagger("", library=lib, channels={1: {"trigger_level_v": 9.0}})
    assert len(lib.freed) == 2          # a tagger is not left claimed when its settings fail


def test_counts_and_rates_use_the_total_count_over_the_requested_duration(lib: RecordingSwabianLibrary) -> None:
    tt = SwabianTimeTagger("", library=lib, wait_margin_s=2.0)
    lib.counts_total = [1500, 20]
    assert tt.counts([1, 3], "0.5 s") == {1: 1500, 3: 20}
    measurement = lib.measurements[-1]
    assert measurement.args[1] == [1, 3]
    assert measurement.started == 500_000_000_000 and measurement.timeout == 2500
    rates = tt.count_rates([1, 3], 0.5)
    assert rates == {1: Q_(3000.0, "Hz"), 3: Q_(40.0, "Hz")}


def test_a_measurement_that_does_not_finish_times_out(lib: RecordingSwabianLibrary) -> None:
    tt = SwabianTimeTagger("", library=lib)
    lib.counts_total = [1]
    _Measurement.finishes = False
    try:
        with pytest.raises(Timeout):
            tt.counts([1], 1e-3)
    finally:
        _Measurement.finishes = True
    assert lib.measurements[-1].stopped


def test_histogram_arguments_and_edges(lib: RecordingSwabianLibrary) -> None:
    tt = SwabianTimeTagger("", library=lib)
    lib.histogram_data = np.arange(4)
    edges, counts = tt.histogram(1, 3, "250 ps", 4, 2.0)
    hist = lib.measurements[-1]
    assert hist.args[1:] == (1, 3, 250, 4)
    assert hist.started == 2 * 10**12
    assert counts.tolist() == [0, 1, 2, 3] and counts.dtype == np.int64
    assert edges.tolist() == pytest.approx([0, 250e-12, 500e-12, 750e-12, 1000e-12])
    for bad_width, bad_bins in ((0.1e-12, 4), (1e-9, 0), (1e-9, 2.5)):
        with pytest.raises(SettingRangeError):
            tt.histogram(1, 3, bad_width, bad_bins, 1.0)


def test_timestamps_are_per_channel_relative_to_the_stream_start(lib: RecordingSwabianLibrary) -> None:
    tt = SwabianTimeTagger("", library=lib, max_stream_events=100)
    lib.stream = {"tags": [1_000_300, 1_000_100, 1_000_200, 1_000_250, 1_000_400],
                  "channels": [1, 3, 1, 0, 3], "types": [0, 0, 0, 4, 0], "t_start": 1_000_000}
    tags = tt.timestamps([1, 3], 1e-6)
    stream = lib.measurements[-1]
    assert stream.args[1:] == (100, [1, 3]) and stream.started == 1_000_000
    assert tags[1].tolist() == [200, 300] and tags[3].tolist() == [100, 400]
    assert tags[1].dtype == np.int64


def test_lost_tags_raise_instead_of_returning_incomplete_data(lib: RecordingSwabianLibrary) -> None:
    tt = SwabianTimeTagger("", library=lib, max_stream_events=3)
    lib.stream = {"tags": [1, 2, 3], "channels": [1, 1, 1], "types": [0, 0, 0], "t_start": 0}
    with pytest.raises(InstrumentReportedError, match="buffer"):
        tt.timestamps([1], 1e-6)
    lib.stream = {"tags": [1], "channels": [1], "types": [0], "t_start": 0, "overflow": True}
    with pytest.raises(InstrumentReportedError, match="overflow"):
        tt.timestamps([1], 1e-6)


def test_durations_must_be_positive_times(lib: RecordingSwabianLibrary) -> None:
    tt = SwabianTimeTagger("", library=lib)
    for bad in (0, -1.0, "1 V", 1e-13):
        with pytest.raises(SettingRangeError):
            tt.counts([1], bad)
    assert lib.measurements == []


def test_library_errors_name_the_call(lib: RecordingSwabianLibrary) -> None:
    tt = SwabianTimeTagger("", library=lib)

    def refuse(channel: int, voltage: float) -> None:
        raise RuntimeError("channel is in use by a virtual channel")

    tt.tagger.setTriggerLevel = refuse
    with pytest.raises(InstrumentReportedError, match="setTriggerLevel"):
        tt.configure_channel(1, trigger_level_v=0.3)


def test_snapshot_with_update_reads_every_channel(lib: RecordingSwabianLibrary) -> None:
    tt = SwabianTimeTagger("", library=lib)
    snap = tt.snapshot(update=True)
    assert sorted(snap) == ["channel 1", "channel 2", "channel 3", "channel 4"]
    assert snap["channel 4"]["trigger_level"] | {"time_unix_s": 0} == {
        "value": 0.5, "unit": "V", "label": "trigger level", "time_unix_s": 0, "source": "get"}


# -- without the library ------------------------------------------------------------------------------


def test_missing_library_is_a_clear_connection_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "Swabian", None)
    monkeypatch.setitem(sys.modules, "TimeTagger", None)
    with pytest.raises(InstrumentConnectionError, match="pip install Swabian-TimeTagger"):
        load_swabian_library()
    with pytest.raises(InstrumentConnectionError, match="not installed"):
        SwabianTimeTagger("1740000ABC", "tagger")


# -- with the real library (skipped where it is not installed) -----------------------------------------


def test_real_library_has_the_api_the_adapter_uses() -> None:
    real = pytest.importorskip("Swabian.TimeTagger")
    assert load_swabian_library() is real
    for name in ("createTimeTagger", "freeTimeTagger", "Countrate", "Histogram", "TimeTagStream", "Resolution"):
        assert hasattr(real, name), name
    for name in ("getCountsTotal", "startFor", "waitUntilFinished", "stop"):
        assert hasattr(real.Countrate, name), name
    for name in ("getTimestamps", "getChannels", "getEventTypes", "hasOverflows", "tStart", "size"):
        assert hasattr(real.TimeTagStreamBuffer, name), name


def test_real_library_without_that_tagger_is_a_connection_error() -> None:
    pytest.importorskip("Swabian.TimeTagger")
    with pytest.raises(InstrumentConnectionError, match="NO-SUCH-SERIAL"):
        SwabianTimeTagger("NO-SUCH-SERIAL", "tagger")


# -- issue 20 item 7 -------------------------------------------------------------------------------

def test_falling_edge_channels_are_usable(lib: RecordingSwabianLibrary) -> None:
    """A negative channel is the falling edge of its input (Swabian's convention); main dropped them."""
    tt = SwabianTimeTagger("", library=lib)
    assert -1 in tt.channels() and 1 in tt.channels()
    lib.counts_total = [7, 9]
    assert tt.counts([-1, 1], 1.0) == {-1: 7, 1: 9}


def test_conditional_filter_event_divider_and_test_signal(lib: RecordingSwabianLibrary) -> None:
    """Calls as in Swabian's examples: ``setConditionalFilter(trigger=[..], filtered=[..])``,
    ``setEventDivider(SYNC, 937)``, ``setTestSignal([1, 2, 3], True)`` (module docstring)."""
    tt = SwabianTimeTagger("", library=lib, conditional_filter={"trigger": [1, 2], "filtered": [3]},
                           event_dividers={"3": 100}, test_signal=[4])
    calls = tt.tagger.calls
    assert ("setConditionalFilter", (1, 2), (3,)) in calls
    assert ("setEventDivider", 3, 100) in calls and ("setTestSignal", (4,), True) in calls
    snap = tt.snapshot()
    assert snap["conditional filter"]["value"] == {"trigger": [1, 2], "filtered": [3]}
    assert snap["event dividers"]["value"] == {"3": 100} and snap["test signal"]["value"] == [4]
    with pytest.raises(SettingRangeError):
        tt.set_event_divider(3, 0)
    tt.clear_conditional_filter()
    assert "conditional filter" not in tt.snapshot()
