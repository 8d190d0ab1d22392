"""A simulated time tagger: the ``TimeTagger`` interface computed from the simulated bench's tags.

Wiring of the simulated bench: input 1 and 2 are single-photon detectors 1 and 2, input 3 the
pattern clock (one tag per start of the AWG pattern). Every result comes from
``model.time_tags(channels, duration)`` (which advances the virtual clock by the duration) and then
goes through what the tagger's own front end does to it:

- trigger level: the detector and clock outputs are positive pulses of ``signal_amplitude_v``
  (option, default 1.0 V) on a 0 V baseline, so an input records its tags only while
  ``0 < level < amplitude`` (default level 0.5 V) and nothing otherwise, as a real input whose
  threshold the pulses never cross;
- input delay: every tag of the input is shifted by the delay; tags shifted out of the acquisition
  window are not part of it;
- dead time: tags closer than the dead time to the previous recorded tag of the same input are
  dropped (non-paralysable). As on a Time Tagger Ultra [from Swabian's API reference], the
  minimum is 2 ns (smaller requests are raised to it, and the applied value is returned) and the
  maximum 2147 us (larger ones are refused); trigger levels are limited to +-2.5 V.

Long acquisitions are generated in blocks of at most ~4 million pulses (whole pattern periods),
so memory stays bounded whatever the duration; histograms and dead time carry their state across
block edges. The histogram is ``start_stop_histogram`` (numpy, vectorised).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ...drivers.base import Identity
from ...drivers.time_tagger import PS_PER_S, ChannelSettings, TimeTagger, start_stop_histogram
from ...errors import SettingRangeError

__all__ = ["SimulatedTimeTagger"]

#: Detector inputs and the pattern clock, as the simulated bench wires them.
_CHANNELS = (1, 2, 3)
_MIN_DEAD_PS = 2_000
_MAX_DEAD_PS = 2_147_000_000
_LEVEL_RANGE_V = (-2.5, 2.5)
#: Pulses per generated block: bounds memory (a few tens of MB per channel at worst).
_PULSES_PER_BLOCK = 4_000_000


def _dead_time_filter(tags: np.ndarray, dead_ps: int, last_kept: int | None) -> tuple[np.ndarray, int | None]:
    """Drop tags within ``dead_ps`` of the previous recorded tag; ``last_kept`` carries over from the
    previous block. Only runs of close tags need the sequential pass; the rest is vectorised."""
    if tags.size == 0:
        return tags, last_kept
    if dead_ps <= 0:
        return tags, int(tags[-1])
    first_blocked = last_kept is not None and int(tags[0]) - last_kept < dead_ps
    if not first_blocked and not np.any(np.diff(tags) < dead_ps):  # the usual case: nothing to drop
        return tags, int(tags[-1])
    arr = tags if last_kept is None else np.concatenate((np.array([last_kept], dtype=np.int64), tags))
    close = np.diff(arr) < dead_ps
    keep = np.ones(arr.size, dtype=bool)
    conflicts = np.flatnonzero(close) + 1
    if conflicts.size:
        last = int(arr[0])
        for i in conflicts.tolist():
            if i == 1 or not close[i - 2]:   # the predecessor was not itself in conflict, so it is kept
                last = int(arr[i - 1])
            if int(arr[i]) - last < dead_ps:
                keep[i] = False
            else:
                last = int(arr[i])
    if last_kept is not None:
        keep = keep[1:]
        arr = arr[1:]
    kept = arr[keep]
    return kept, (int(kept[-1]) if kept.size else last_kept)


class SimulatedTimeTagger(TimeTagger):
    """A time tagger on the simulated bench: ``SimulatedTimeTagger(model, name, **options)``.

    Options: ``serial`` (default "SIM-TT-0001"), ``model_name`` (default "Time Tagger Ultra"),
    ``signal_amplitude_v`` (default 1.0 V, the height of the detector and clock pulses).
    """

    def __init__(self, model: Any, name: str, **options: Any) -> None:
        super().__init__(name)
        unknown = set(options) - {"serial", "model_name", "signal_amplitude_v"}
        if unknown:
            raise ValueError(f"{name}: unknown simulated time tagger option(s) {sorted(unknown)}; "
                             "known: serial, model_name, signal_amplitude_v")
        self.model = model
        self.serial = str(options.get("serial", "SIM-TT-0001"))
        self.model_name = str(options.get("model_name", "Time Tagger Ultra"))
        self.signal_amplitude_v = float(options.get("signal_amplitude_v", 1.0))
        self.settings = {ch: ChannelSettings(0.5, 0.0, _MIN_DEAD_PS / PS_PER_S) for ch in _CHANNELS}
        self.closed = False

    # -- TimeTagger ----------------------------------------------------------------------------
    def identify(self) -> Identity:
        return Identity("Swabian Instruments (simulated)", self.model_name, self.serial, "qkdlab-sim")

    def channels(self) -> list[int]:
        return list(_CHANNELS)

    def _apply_channel(self, channel: int, trigger_level_v: float | None, delay_ps: int | None,
                       dead_time_ps: int | None) -> ChannelSettings:
        old = self.settings[channel]
        if trigger_level_v is not None and not _LEVEL_RANGE_V[0] <= trigger_level_v <= _LEVEL_RANGE_V[1]:
            raise SettingRangeError(f"{self.name} ch{channel}: trigger level {trigger_level_v:g} V is outside "
                                    f"[{_LEVEL_RANGE_V[0]:g}, {_LEVEL_RANGE_V[1]:g}] V; nothing was applied")
        if dead_time_ps is not None and dead_time_ps > _MAX_DEAD_PS:
            raise SettingRangeError(f"{self.name} ch{channel}: dead time {dead_time_ps} ps exceeds the maximum "
                                    f"{_MAX_DEAD_PS} ps; nothing was applied")
        new = ChannelSettings(
            old.trigger_level_v if trigger_level_v is None else float(trigger_level_v),
            old.delay_s if delay_ps is None else delay_ps / PS_PER_S,
            old.dead_time_s if dead_time_ps is None else max(dead_time_ps, _MIN_DEAD_PS) / PS_PER_S)
        self.settings[channel] = new
        return new

    def _read_channel(self, channel: int) -> ChannelSettings:
        return self.settings[channel]

    def _counts(self, channels: list[int], duration_ps: int) -> dict[int, int]:
        totals = dict.fromkeys(channels, 0)
        for block in self._blocks(channels, duration_ps):
            for ch in channels:
                totals[ch] += int(block[ch].size)
        return totals

    def _histogram(self, click_channel: int, start_channel: int, bin_width_ps: int, n_bins: int,
                   duration_ps: int) -> np.ndarray:
        counts = np.zeros(n_bins, dtype=np.int64)
        previous_start: int | None = None
        for block in self._blocks([click_channel, start_channel], duration_ps):
            starts = block[start_channel]
            counts += start_stop_histogram(block[click_channel], starts, bin_width_ps, n_bins,
                                           previous_start_ps=previous_start)
            if starts.size:
                previous_start = int(starts[-1])
        return counts

    def _timestamps(self, channels: list[int], duration_ps: int) -> dict[int, np.ndarray]:
        parts: dict[int, list[np.ndarray]] = {ch: [] for ch in channels}
        for block in self._blocks(channels, duration_ps):
            for ch in channels:
                parts[ch].append(block[ch])
        out = {}
        for ch in channels:
            tags = np.concatenate(parts[ch]) if parts[ch] else np.zeros(0, dtype=np.int64)
            if tags.size > 1 and np.any(np.diff(tags) < 0):  # a tag jittered across a block edge
                tags = np.sort(tags)
            out[ch] = tags
        return out

    def close(self) -> None:
        """Nothing to release; the simulated bench owns the model."""
        self.closed = True

    # -- tag generation --------------------------------------------------------------------------
    def _blocks(self, channels: list[int], duration_ps: int) -> Iterator[dict[int, np.ndarray]]:
        """Yield the recorded tags per channel, block by block, on the acquisition's time axis (ps).

        Each block is a call to ``model.time_tags`` covering whole pattern periods; the tagger's
        trigger level, delay and dead time are applied here, with dead time carried across blocks.
        """
        model = self.model
        with model.lock:
            slots = len(model.pulse_train().photons)
            pattern_s = model.pulse_period_s() * slots
        block_s = max(1, _PULSES_PER_BLOCK // slots) * pattern_s
        duration_s = duration_ps / PS_PER_S
        recorded = [ch for ch in channels if 0.0 < self.settings[ch].trigger_level_v < self.signal_amplitude_v]
        last_kept: dict[int, int | None] = dict.fromkeys(channels)
        done_s = 0.0
        while duration_s - done_s > duration_s * 1e-12:
            length_s = min(block_s, duration_s - done_s)
            offset_ps = int(round(done_s * PS_PER_S))
            # Ask for a hair more than whole patterns, so the model's int(duration / pattern) is not one
            # short through rounding; tags past the acquisition's end are cut below.
            asked_s = length_s * (1 + 1e-9)
            raw = model.time_tags(recorded, asked_s) if recorded else {}
            if not recorded:
                model.advance(asked_s)
            block: dict[int, np.ndarray] = {}
            for ch in channels:
                if ch not in raw:
                    block[ch] = np.zeros(0, dtype=np.int64)
                    continue
                settings = self.settings[ch]
                tags = raw[ch] + np.int64(offset_ps + int(round(settings.delay_s * PS_PER_S)))
                tags = tags[(tags >= 0) & (tags < duration_ps)]
                block[ch], last_kept[ch] = _dead_time_filter(
                    tags, int(round(settings.dead_time_s * PS_PER_S)), last_kept[ch])
            yield block
            done_s += length_s
