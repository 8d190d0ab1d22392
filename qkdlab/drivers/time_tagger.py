"""Counters and time taggers: qkdlab's own interface, and an adapter for the Swabian Time Tagger.

Why an interface of our own: time taggers are driven through vendor libraries (not VISA), CI
cannot count on those being installed, and scans need only a handful of operations. ``TimeTagger``
names them, in SI units at the edge:

- ``configure_channel``: trigger level, input delay and dead time of one input;
- ``counts`` / ``count_rates``: events per channel over a duration;
- ``histogram``: a start-stop histogram of click times relative to the last start tag — with the
  pattern clock as start this gives the clicks per pulse slot, which is how per-slot intensities
  (decoy levels, pulse correlations) are measured;
- ``timestamps``: the raw tags (int64 picoseconds from the start of the acquisition);
- ``identify``, ``snapshot``, ``close``: what the bench does with every instrument.

Implementations: ``SwabianTimeTagger`` below (real hardware through Swabian's library) and
``qkdlab.sim.instruments.time_tagger.SimulatedTimeTagger`` (tags from the simulated bench).
``start_stop_histogram`` is the vectorised histogram both can use on raw tags.
"""

from __future__ import annotations

import abc
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
import pint

from ..errors import ConfigError, InstrumentConnectionError, InstrumentReportedError, SettingRangeError, Timeout
from ..units import Q_, to_si
from .base import Identity

__all__ = ["TimeTagger", "SwabianTimeTagger", "ChannelSettings", "start_stop_histogram", "histogram_edges_s",
           "PS_PER_S"]

PS_PER_S = 1_000_000_000_000


@dataclass(frozen=True)
class ChannelSettings:
    """What one input is set to (as the tagger applied it, e.g. a dead time rounded to clock cycles)."""

    trigger_level_v: float
    delay_s: float
    dead_time_s: float


def _si(value: Any, unit: str, what: str) -> float:
    """An SI float from a quantity, a string such as '2 ns', or a float already in ``unit``."""
    try:
        result = to_si(value, unit)
    except (pint.DimensionalityError, pint.UndefinedUnitError, ValueError, TypeError, AttributeError) as exc:
        raise SettingRangeError(f"{what}: {value!r} is not a value in {unit} ({exc})") from None
    if not math.isfinite(result):
        raise SettingRangeError(f"{what}: {value!r} is not finite")
    return result


def _to_ps(seconds: float) -> int:
    return int(round(seconds * PS_PER_S))


def histogram_edges_s(bin_width_ps: int, n_bins: int) -> np.ndarray:
    """The ``n_bins + 1`` bin edges in seconds of a histogram starting at 0."""
    return np.arange(n_bins + 1, dtype=np.int64) * bin_width_ps / PS_PER_S


def start_stop_histogram(click_ps: np.ndarray, start_ps: np.ndarray, bin_width_ps: int, n_bins: int,
                         *, previous_start_ps: int | None = None) -> np.ndarray:
    """Histogram of click times relative to the last start tag before (or at) each click.

    ``click_ps`` and ``start_ps`` are int64 picoseconds on the same time axis; ``start_ps`` must be
    sorted (``click_ps`` need not be). Clicks before the first start are measured from
    ``previous_start_ps`` (a start carried over from an earlier block) or dropped; differences
    beyond ``n_bins * bin_width_ps`` are dropped. Bin ``i`` counts differences in
    ``[i·w, (i+1)·w)``. Vectorised (one ``searchsorted`` and one ``bincount``): the cost is a few
    tens of ns per click, far above the 1e7 events/s a live analysis needs.
    """
    if bin_width_ps <= 0 or n_bins <= 0:
        raise ValueError(f"bin width ({bin_width_ps} ps) and number of bins ({n_bins}) must be positive")
    clicks = np.asarray(click_ps, dtype=np.int64)
    starts = np.asarray(start_ps, dtype=np.int64)
    if previous_start_ps is not None:
        starts = np.concatenate(([np.int64(previous_start_ps)], starts))
    if clicks.size == 0 or starts.size == 0:
        return np.zeros(n_bins, dtype=np.int64)
    index = np.searchsorted(starts, clicks, side="right") - 1
    valid = index >= 0
    delta = clicks[valid] - starts[index[valid]]
    bins = delta // bin_width_ps
    bins = bins[bins < n_bins]
    return np.bincount(bins, minlength=n_bins).astype(np.int64)


class TimeTagger(abc.ABC):
    """qkdlab's interface to a counter / time tagger. Times in seconds at the edge (floats, quantities
    or strings such as ``"2 ns"``), picoseconds inside; channel numbers are the tagger's inputs.

    ``interface = "library"`` tells ``qkdlab.bench.Bench`` that it is opened through a vendor
    library with ``cls(resource, name, **settings)``, not through VISA or serial.
    """

    interface: ClassVar[str] = "library"
    #: Safety limits the driver understands (name -> unit); time taggers protect nothing.
    extra_safety_limits: ClassVar[dict[str, str]] = {}
    name: str

    def __init__(self, name: str) -> None:
        self.name = name
        self._channel_cache: dict[int, tuple[ChannelSettings, float]] = {}

    @classmethod
    def safety_limit_units(cls) -> dict[str, str]:
        """Every safety-limit name this driver checks, with its unit (none for a time tagger)."""
        return dict(cls.extra_safety_limits)

    # -- what implementations provide ----------------------------------------------------------
    @abc.abstractmethod
    def identify(self) -> Identity:
        """Ask the tagger what it is."""

    @abc.abstractmethod
    def channels(self) -> list[int]:
        """The input channels this tagger has."""

    @abc.abstractmethod
    def _apply_channel(self, channel: int, trigger_level_v: float | None, delay_ps: int | None,
                       dead_time_ps: int | None) -> ChannelSettings:
        """Apply the given settings (None: leave as is); return what the input is now set to."""

    @abc.abstractmethod
    def _read_channel(self, channel: int) -> ChannelSettings:
        """Query what one input is set to."""

    @abc.abstractmethod
    def _counts(self, channels: list[int], duration_ps: int) -> dict[int, int]: ...

    @abc.abstractmethod
    def _histogram(self, click_channel: int, start_channel: int, bin_width_ps: int, n_bins: int,
                   duration_ps: int) -> np.ndarray: ...

    @abc.abstractmethod
    def _timestamps(self, channels: list[int], duration_ps: int) -> dict[int, np.ndarray]: ...

    @abc.abstractmethod
    def close(self) -> None:
        """Release the tagger."""

    # -- the interface ---------------------------------------------------------------------------
    def configure_channel(self, channel: int, *, trigger_level_v: Any = None, delay_s: Any = None,
                          dead_time_s: Any = None) -> ChannelSettings:
        """Set the trigger level (V), input delay (s) and dead time (s) of one input; omitted ones stay.

        Everything is validated before anything is applied. Returns the settings the tagger applied.
        """
        channel = self._check_channel(channel)
        level = None if trigger_level_v is None else _si(trigger_level_v, "V", f"{self.name} ch{channel} trigger level")
        delay = None if delay_s is None else _si(delay_s, "s", f"{self.name} ch{channel} delay")
        dead = None if dead_time_s is None else _si(dead_time_s, "s", f"{self.name} ch{channel} dead time")
        if dead is not None and dead < 0:
            raise SettingRangeError(f"{self.name} ch{channel}: dead time {dead:g} s is negative; nothing was applied")
        applied = self._apply_channel(channel, level, None if delay is None else _to_ps(delay),
                                      None if dead is None else _to_ps(dead))
        self._channel_cache[channel] = (applied, time.time())
        return applied

    def channel_settings(self, channel: int) -> ChannelSettings:
        """Query what one input is set to."""
        channel = self._check_channel(channel)
        settings = self._read_channel(channel)
        self._channel_cache[channel] = (settings, time.time())
        return settings

    def counts(self, channels: Iterable[int], duration_s: Any) -> dict[int, int]:
        """Count the events on each channel during ``duration_s``."""
        chans = self._check_channels(channels)
        return self._counts(chans, self._duration_ps(duration_s))

    def count_rates(self, channels: Iterable[int], duration_s: Any) -> dict[int, pint.Quantity]:
        """Measure the mean event rate on each channel over ``duration_s`` (counts / duration, in Hz)."""
        chans = self._check_channels(channels)
        duration_ps = self._duration_ps(duration_s)
        counts = self._counts(chans, duration_ps)
        seconds = duration_ps / PS_PER_S
        return {ch: Q_(counts[ch] / seconds, "Hz") for ch in chans}

    def histogram(self, click_channel: int, start_channel: int, bin_width_s: Any, n_bins: int,
                  duration_s: Any) -> tuple[np.ndarray, np.ndarray]:
        """Start-stop histogram of ``click_channel`` times relative to the last ``start_channel`` tag.

        Returns ``(bin_edges_s, counts)``: ``n_bins + 1`` edges in seconds from 0 and ``n_bins``
        int64 counts. The bin width is rounded to whole picoseconds.
        """
        click = self._check_channel(click_channel)
        start = self._check_channel(start_channel)
        width_ps = _to_ps(_si(bin_width_s, "s", f"{self.name} histogram bin width"))
        if width_ps < 1:
            raise SettingRangeError(f"{self.name}: histogram bin width {bin_width_s!r} is below 1 ps")
        if isinstance(n_bins, bool) or int(n_bins) != n_bins or n_bins < 1:
            raise SettingRangeError(f"{self.name}: number of histogram bins {n_bins!r} must be a positive integer")
        counts = self._histogram(click, start, width_ps, int(n_bins), self._duration_ps(duration_s))
        return histogram_edges_s(width_ps, int(n_bins)), np.asarray(counts, dtype=np.int64)

    def timestamps(self, channels: Iterable[int], duration_s: Any) -> dict[int, np.ndarray]:
        """The sorted time tags of each channel during ``duration_s``: int64 ps from the acquisition start."""
        chans = self._check_channels(channels)
        return self._timestamps(chans, self._duration_ps(duration_s))

    def snapshot(self, update: bool = False) -> dict[str, Any]:
        """Settings snapshot in the format of ``Instrument.snapshot``: one entry per input channel.

        Without ``update`` only the channels configured (or queried) through this object appear.
        """
        if update:  # settings belong to an input; its falling edge (negative channel) shares them
            for channel in sorted({abs(c) for c in self.channels()}):
                self.channel_settings(channel)
        out: dict[str, Any] = {}
        for channel, (settings, stamp) in sorted(self._channel_cache.items()):
            out[f"channel {channel}"] = {
                name: {"value": value, "unit": unit, "label": name.replace("_", " "), "time_unix_s": stamp,
                       "source": "get"}
                for name, value, unit in (("trigger_level", settings.trigger_level_v, "V"),
                                          ("delay", settings.delay_s, "s"),
                                          ("dead_time", settings.dead_time_s, "s"))}
        return out

    def __enter__(self) -> TimeTagger:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    # -- validation ----------------------------------------------------------------------------------
    def _check_channel(self, channel: Any) -> int:
        if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) or channel not in self.channels():
            raise SettingRangeError(f"{self.name}: channel {channel!r} does not exist; channels: {self.channels()}")
        return int(channel)

    def _check_channels(self, channels: Iterable[int]) -> list[int]:
        chans = [self._check_channel(ch) for ch in channels]
        if not chans:
            raise SettingRangeError(f"{self.name}: no channels given")
        return list(dict.fromkeys(chans))

    def _duration_ps(self, duration_s: Any) -> int:
        seconds = _si(duration_s, "s", f"{self.name} duration")
        duration_ps = _to_ps(seconds)
        if duration_ps <= 0:
            raise SettingRangeError(f"{self.name}: duration {duration_s!r} must be positive")
        return duration_ps


def load_swabian_library() -> ModuleType:
    """Import Swabian's Python library: ``Swabian.TimeTagger`` (current wheels) or ``TimeTagger`` (older)."""
    try:
        from Swabian import TimeTagger as library  # type: ignore[import-not-found]
        return library
    except ImportError:
        pass
    try:
        import TimeTagger as library  # type: ignore[import-not-found, no-redef]
        return library
    except ImportError:
        raise InstrumentConnectionError(
            "the Swabian Time Tagger library is not installed: neither 'from Swabian import TimeTagger' nor "
            "'import TimeTagger' works. Install it with 'pip install Swabian-TimeTagger' (Linux wheels on PyPI) "
            "or Swabian's installer, or use the simulated bench (qkdlab ... --sim)") from None


class SwabianTimeTagger(TimeTagger):
    """A Swabian Instruments Time Tagger (20, Ultra, X) through Swabian's Python library.

    ``resource`` is the serial number ("" for the first tagger found). The library is imported when
    the object is created; without it ``InstrumentConnectionError`` says how to install it.
    ``library`` and ``tagger`` let a caller pass an imported library module and an already-created
    tagger (e.g. a network or virtual tagger); a tagger passed in is not freed by ``close``.

    Settings (bench config ``settings:``): ``channels: {<ch>: {trigger_level_v: .., delay_s: ..,
    dead_time_s: ..}}`` applied on opening, and ``resolution`` (a ``Resolution`` member name, e.g.
    "HighResA", for models that offer it).

    API used, all times in ps (Swabian's Python API reference, checked against the
    swabian-timetagger 2.22 wheel): ``createTimeTagger(serial, resolution=...)``,
    ``freeTimeTagger``, ``setTriggerLevel(ch, V)``/``getTriggerLevel``, ``getTriggerLevelRange(ch)``,
    ``setInputDelay(ch, ps)``/``getInputDelay``, ``setDeadtime(ch, ps) -> applied ps``/``getDeadtime``,
    ``getDeadtimeRange(ch)`` (a dead time below the minimum is raised to it by the library, one above
    the maximum is refused here), ``getChannelList()``, ``getModel``/``getSerial``/``getFirmwareVersion``,
    ``Countrate(tagger, channels).getCountsTotal()``,
    ``Histogram(tagger, click_channel, start_channel, binwidth, n_bins)``,
    ``TimeTagStream(tagger, n_max_events, channels)`` with ``getTimestamps``/``getChannels``/
    ``getEventTypes``/``hasOverflows``/``tStart``, and ``startFor(ps)``/``waitUntilFinished(ms)``.

    Fast pattern clocks and falling edges (issue 20) [API names from Swabian's own examples and lab
    scripts in the search index: ``tagger.setConditionalFilter(trigger=[periodic_channel],
    filtered=[random_channel])`` (index id 41290892679, "opens a gate for any event on the trigger
    channels and lets only one event of each filtered channel pass"), ``setEventDivider(SYNC, 937)``
    with ``setTestSignal`` (id 38058848127), ``setTestSignal([1, 2, 3], True)`` (id 8409735886); a
    negative channel number is the falling edge of that input (Swabian's convention; the background
    survey §5.7)]: ``channels()`` lists rising (positive) and falling (negative) channels;
    ``set_conditional_filter`` keeps only the pattern-clock ticks that follow a detector click (a
    100 MHz clock otherwise floods the USB link), ``set_event_divider`` passes one clock tick in N,
    ``set_test_signal`` switches the built-in test signal for a first-contact check. Settings
    ``conditional_filter: {trigger: [..], filtered: [..]}``, ``event_dividers: {ch: N}`` and
    ``test_signal: [..]`` apply them on opening; the snapshot records them.

    Semantics to know:
    - ``count_rates`` divides the total count by the requested duration (``Countrate.getData()``
      measures from the first tag instead, which overstates low rates);
    - ``histogram`` uses Swabian's ``Histogram``, a multiple-start multiple-stop histogram: it equals
      "relative to the last start" when the histogram range ``n_bins·bin_width`` does not exceed the
      spacing of the start tags (one pattern period for the pattern clock); a longer range counts
      each click against every earlier start within range;
    - ``timestamps`` streams through a ``TimeTagStream`` buffer of ``max_stream_events`` tags
      (setting ``max_stream_events``); a full buffer or an overflow of the USB stream raises
      ``InstrumentReportedError`` rather than returning incomplete data.
    """

    def __init__(self, resource: str = "", name: str | None = None, *, library: ModuleType | None = None,
                 tagger: Any = None, resolution: str | None = None,
                 channels: Mapping[int | str, Mapping[str, Any]] | None = None,
                 max_stream_events: int = 50_000_000, wait_margin_s: float = 10.0,
                 conditional_filter: Mapping[str, Iterable[int]] | None = None,
                 event_dividers: Mapping[int | str, int] | None = None, test_signal: Iterable[int] = ()) -> None:
        super().__init__(name or "time_tagger")
        self._signal_settings: dict[str, Any] = {}
        self.serial = resource
        self.library = library if library is not None else load_swabian_library()
        self.max_stream_events = int(max_stream_events)
        self.wait_margin_s = float(wait_margin_s)
        self._owns_tagger = tagger is None
        if tagger is None:
            kwargs: dict[str, Any] = {}
            if resolution is not None:
                try:
                    kwargs["resolution"] = getattr(self.library.Resolution, resolution)
                except AttributeError:
                    raise ConfigError(f"{self.name}: unknown Time Tagger resolution {resolution!r}") from None
            try:
                tagger = self.library.createTimeTagger(resource, **kwargs)
            except (RuntimeError, ValueError, OSError) as exc:
                raise InstrumentConnectionError(
                    f"{self.name}: cannot open Swabian Time Tagger {resource or '(first found)'!r}: {exc}; "
                    "check that it is connected, powered and not in use by another program") from exc
        self._tagger = tagger
        self._channels: list[int] | None = None
        try:
            for key, settings in (channels or {}).items():
                unknown = set(settings) - {"trigger_level_v", "delay_s", "dead_time_s"}
                if unknown:
                    raise ConfigError(f"{self.name}: channel {key} settings {sorted(unknown)} are unknown; "
                                      "use trigger_level_v, delay_s, dead_time_s")
                self.configure_channel(int(key), **settings)
            if conditional_filter:
                self.set_conditional_filter(conditional_filter.get("trigger", ()), conditional_filter.get("filtered", ()))
            for key, divider in (event_dividers or {}).items():
                self.set_event_divider(int(key), divider)
            if test_signal:
                self.set_test_signal(test_signal, True)
        except Exception:
            self.close()   # do not leave the tagger claimed by a half-built object
            raise

    @property
    def tagger(self) -> Any:
        """The library's tagger object (``InstrumentConnectionError`` once closed)."""
        if self._tagger is None:
            raise InstrumentConnectionError(f"{self.name}: the time tagger was closed")
        return self._tagger

    # -- helpers -------------------------------------------------------------------------------
    def _call(self, what: str, fn: Any, *args: Any) -> Any:
        """Call the library; its exceptions become InstrumentReportedError naming the call."""
        try:
            return fn(*args)
        except (RuntimeError, ValueError, TypeError, OverflowError) as exc:
            raise InstrumentReportedError(None, str(exc), f"{what}{args}", self.name) from exc

    def _run(self, measurement: Any, duration_ps: int) -> None:
        """Run a measurement for ``duration_ps`` and wait for it (timeout: duration + margin)."""
        self._call("startFor", measurement.startFor, duration_ps)
        timeout_ms = int((duration_ps / PS_PER_S + self.wait_margin_s) * 1000)
        if not measurement.waitUntilFinished(timeout_ms):
            measurement.stop()
            raise Timeout(f"{self.name}: a {duration_ps / PS_PER_S:g} s measurement did not finish within "
                          f"{timeout_ms / 1000:g} s; is the tagger still connected?")

    # -- TimeTagger ----------------------------------------------------------------------------
    def identify(self) -> Identity:
        t = self.tagger
        firmware = str(t.getFirmwareVersion()) if hasattr(t, "getFirmwareVersion") else ""
        return Identity("Swabian Instruments", str(t.getModel()), str(t.getSerial()), firmware)

    def channels(self) -> list[int]:
        """The tagger's channels (``getChannelList``): rising edges positive, falling edges negative."""
        if self._channels is None:
            listed = [int(ch) for ch in self.tagger.getChannelList()]
            self._channels = sorted(ch for ch in listed if ch != 0)
        return self._channels

    def set_conditional_filter(self, trigger: Iterable[int], filtered: Iterable[int]) -> None:
        """Pass an event of a ``filtered`` channel (the pattern clock) only after an event on a
        ``trigger`` channel (a detector): ``setConditionalFilter(trigger=..., filtered=...)``."""
        trig, filt = self._check_channels(trigger), self._check_channels(filtered)
        self._call("setConditionalFilter", lambda t, f: self.tagger.setConditionalFilter(trigger=t, filtered=f),
                   trig, filt)
        self._signal_settings["conditional filter"] = {"trigger": trig, "filtered": filt}

    def clear_conditional_filter(self) -> None:
        """Let every event through again (``clearConditionalFilter``)."""
        self._call("clearConditionalFilter", self.tagger.clearConditionalFilter)
        self._signal_settings.pop("conditional filter", None)

    def set_event_divider(self, channel: int, divider: int) -> None:
        """Pass one event in ``divider`` on ``channel`` (``setEventDivider``): a fast clock at a rate
        the link carries."""
        ch = self._check_channel(channel)
        if isinstance(divider, bool) or int(divider) != divider or not 1 <= int(divider) <= 65535:
            raise SettingRangeError(f"{self.name} ch{ch}: event divider {divider!r} must be a whole number "
                                    "1..65535 [unverified upper bound]; nothing was applied")
        self._call("setEventDivider", self.tagger.setEventDivider, ch, int(divider))
        self._signal_settings.setdefault("event dividers", {})[str(ch)] = int(divider)

    def set_test_signal(self, channels: Iterable[int], enabled: bool = True) -> None:
        """Feed the built-in test signal to ``channels`` instead of their inputs (``setTestSignal``)."""
        chans = self._check_channels(channels)
        self._call("setTestSignal", self.tagger.setTestSignal, chans, bool(enabled))
        shown = set(self._signal_settings.get("test signal", []))
        shown = shown | set(chans) if enabled else shown - set(chans)
        self._signal_settings["test signal"] = sorted(shown)

    def snapshot(self, update: bool = False) -> dict[str, Any]:
        """The channel settings, plus conditional filter, event dividers and test signal as set here."""
        out = super().snapshot(update=update)
        for key, value in self._signal_settings.items():
            out[key] = {"value": value, "unit": "", "label": key, "time_unix_s": None, "source": "set"}
        return out

    def _apply_channel(self, channel: int, trigger_level_v: float | None, delay_ps: int | None,
                       dead_time_ps: int | None) -> ChannelSettings:
        t = self.tagger
        if trigger_level_v is not None and hasattr(t, "getTriggerLevelRange"):
            low, high = (float(v) for v in t.getTriggerLevelRange(channel))
            if not low <= trigger_level_v <= high:
                raise SettingRangeError(f"{self.name} ch{channel}: trigger level {trigger_level_v:g} V is outside "
                                        f"[{low:g}, {high:g}] V; nothing was applied")
        if dead_time_ps is not None and hasattr(t, "getDeadtimeRange"):
            # Below the minimum the library raises the dead time to it (and returns what it applied);
            # above the maximum it throws, so refuse that before touching anything.
            high_ps = int(t.getDeadtimeRange(channel)[1])
            if dead_time_ps > high_ps:
                raise SettingRangeError(f"{self.name} ch{channel}: dead time {dead_time_ps} ps exceeds the maximum "
                                        f"{high_ps} ps; nothing was applied")
        if trigger_level_v is not None:
            self._call("setTriggerLevel", t.setTriggerLevel, channel, float(trigger_level_v))
        if delay_ps is not None:
            self._call("setInputDelay", t.setInputDelay, channel, int(delay_ps))
        if dead_time_ps is not None:
            self._call("setDeadtime", t.setDeadtime, channel, int(dead_time_ps))
        return self._read_channel(channel)

    def _read_channel(self, channel: int) -> ChannelSettings:
        t = self.tagger
        return ChannelSettings(float(t.getTriggerLevel(channel)), int(t.getInputDelay(channel)) / PS_PER_S,
                               int(t.getDeadtime(channel)) / PS_PER_S)

    def _counts(self, channels: list[int], duration_ps: int) -> dict[int, int]:
        rate = self._call("Countrate", self.library.Countrate, self.tagger, channels)
        self._run(rate, duration_ps)
        totals = np.asarray(rate.getCountsTotal(), dtype=np.int64)
        return {ch: int(n) for ch, n in zip(channels, totals, strict=True)}

    def _histogram(self, click_channel: int, start_channel: int, bin_width_ps: int, n_bins: int,
                   duration_ps: int) -> np.ndarray:
        hist = self._call("Histogram", self.library.Histogram, self.tagger, click_channel, start_channel,
                          bin_width_ps, n_bins)
        self._run(hist, duration_ps)
        return np.asarray(hist.getData(), dtype=np.int64)

    def _timestamps(self, channels: list[int], duration_ps: int) -> dict[int, np.ndarray]:
        stream = self._call("TimeTagStream", self.library.TimeTagStream, self.tagger, self.max_stream_events, channels)
        self._run(stream, duration_ps)
        buffer = stream.getData()
        if int(buffer.size) >= self.max_stream_events:
            raise InstrumentReportedError(
                None, f"the stream buffer of {self.max_stream_events} tags filled up, so tags were lost; "
                "use a shorter duration or a larger max_stream_events", "TimeTagStream", self.name)
        if bool(buffer.hasOverflows):
            raise InstrumentReportedError(
                None, "the tagger reported a stream overflow (more tags than the USB link carries); "
                "lower the rates or the number of channels", "TimeTagStream", self.name)
        tags = np.asarray(buffer.getTimestamps(), dtype=np.int64)
        chans = np.asarray(buffer.getChannels(), dtype=np.int64)
        types = np.asarray(buffer.getEventTypes())
        keep = types == 0  # Tag::Type TimeTag; errors/overflow markers are not time tags
        tags, chans = tags[keep] - np.int64(buffer.tStart), chans[keep]
        return {ch: np.sort(tags[chans == ch]) for ch in channels}

    def close(self) -> None:
        """Free the tagger (only if this object created it)."""
        tagger, self._tagger = self._tagger, None
        if tagger is not None and self._owns_tagger:
            self.library.freeTimeTagger(tagger)

