"""The simulated time tagger on the simulated bench: counts, histograms and tags from the physics model."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from qkdlab.drivers.time_tagger import ChannelSettings, TimeTagger
from qkdlab.errors import SettingRangeError
from qkdlab.sim import SimInstrument, SimulatedBench
from qkdlab.sim.instruments.time_tagger import SimulatedTimeTagger
from qkdlab.units import Q_

PATTERN = np.array([1.0, 0.4, -0.2, -1.0])   # four pulse slots of different intensity


@pytest.fixture
def bench() -> Iterator[SimulatedBench]:
    sim = SimulatedBench([SimInstrument("tagger", "swabian_time_tagger")], seed=21)
    sim.model.source.enabled = True
    for detector in sim.model.detectors.values():
        detector.trigger_delay_s = 4e-9        # gate [4, 6] ns around the pulse arrival
    yield sim
    sim.close()


@pytest.fixture
def tagger(bench: SimulatedBench) -> SimulatedTimeTagger:
    return bench.emulators["tagger"]


def play_pattern(bench: SimulatedBench, rate_hz: float = 1e8) -> None:
    """Drive the intensity modulator with PATTERN at ``rate_hz`` pulses per second, biased at quadrature."""
    model = bench.model
    channel = model.awg[1]
    channel.output, channel.function = True, "ARB"
    channel.arb_waveform, channel.arb_sample_rate = PATTERN, rate_hz
    channel.amplitude_vpp, channel.offset_v = 2.0, 0.0
    model.im_bias_v = model.im_bias_for("quad+")


def test_it_is_a_time_tagger_with_an_identity(tagger: SimulatedTimeTagger) -> None:
    assert isinstance(tagger, TimeTagger)
    identity = tagger.identify()
    assert identity.model == "Time Tagger Ultra" and identity.serial == "SIM-TT-0001"
    assert tagger.channels() == [1, 2, 3]
    with pytest.raises(ValueError, match="unknown simulated time tagger option"):
        SimulatedTimeTagger(tagger.model, "t", serial="x", colour="red")


def test_count_rates_agree_with_the_detector_model(bench: SimulatedBench, tagger: SimulatedTimeTagger) -> None:
    """Gated at every pulse (as the tagger's tags are), the rates match detector_counts within statistics."""
    model = bench.model
    for detector in model.detectors.values():
        detector.gate_frequency_hz = float("inf")
    rates = tagger.count_rates([1, 2, 3], Q_(200, "ms"))
    for channel in (1, 2):
        detections, _ = model.detector_counts(channel, 1.0)
        assert rates[channel].to("Hz").magnitude == pytest.approx(detections, rel=0.04)
    assert rates[3] == Q_(1.0 / model.pulse_period_s(), "Hz")   # one clock tag per (one-slot) pattern
    assert rates[1] > rates[2]                                   # detector 2 is 10 % less efficient


def test_counts_are_exact_for_the_clock_across_many_blocks(bench: SimulatedBench, tagger: SimulatedTimeTagger) -> None:
    play_pattern(bench)                                          # 40 ns patterns: 2.5e6 per 100 ms
    start = bench.model.clock_s
    counts = tagger.counts([3], 0.1)
    assert counts == {3: 2_500_000}
    assert bench.model.clock_s == pytest.approx(start + 0.1, rel=1e-6)


def test_histogram_against_the_pattern_clock_peaks_at_the_pulse_slots(bench: SimulatedBench,
                                                                      tagger: SimulatedTimeTagger) -> None:
    play_pattern(bench)
    model = bench.model
    model.detectors[1].dead_time_s = 1e-9                        # no detector dead time: every slot seen alike
    arrival = model.params.detector_arrival_s[0]
    period = model.pulse_period_s()
    edges, counts = tagger.histogram(1, 3, 100e-12, 400, 0.05)
    assert edges.shape == (401,) and counts.shape == (400,)
    assert edges[1] == pytest.approx(100e-12) and edges[-1] == pytest.approx(40e-9)
    centres = 0.5 * (edges[:-1] + edges[1:])
    slot_positions = arrival + period * np.arange(len(PATTERN))
    near = np.min(np.abs(centres[:, None] - slot_positions[None, :]), axis=1) < 0.5e-9
    assert counts[~near].sum() == 0                              # clicks only at the pulse positions
    per_slot = []
    for position in slot_positions:
        window = np.abs(centres - position) < 0.5e-9
        peak = centres[window][np.argmax(counts[window])]
        assert abs(peak - position) <= 150e-12
        per_slot.append(counts[window].sum())
    probability = model.click_probability(1)                      # what each slot's intensity should give
    expected = probability / probability.sum() * sum(per_slot)
    assert np.all(np.abs(per_slot - expected) < 5 * np.sqrt(expected) + 1)
    assert np.argmax(per_slot) == np.argmax(probability) and np.argmin(per_slot) == np.argmin(probability)


def test_input_delay_shifts_the_histogram(bench: SimulatedBench, tagger: SimulatedTimeTagger) -> None:
    play_pattern(bench)
    bench.model.detectors[1].dead_time_s = 1e-9
    edges, before = tagger.histogram(1, 3, 100e-12, 400, 0.01)
    tagger.configure_channel(1, delay_s="2 ns")
    _, after = tagger.histogram(1, 3, 100e-12, 400, 0.01)
    shift = np.argmax(np.correlate(after.astype(float), before.astype(float), mode="full")) - (len(before) - 1)
    assert shift == 20                                           # 2 ns in 100 ps bins


def test_timestamps_sorted_within_the_duration(bench: SimulatedBench, tagger: SimulatedTimeTagger) -> None:
    play_pattern(bench)
    duration = 2e-3
    tags = tagger.timestamps([1, 2, 3], duration)
    for channel, t in tags.items():
        assert t.dtype == np.int64
        assert t.size > 0, channel
        assert np.all(np.diff(t) >= 0)
        assert t[0] >= 0 and t[-1] < duration * 1e12
    clock = tags[3]
    assert np.all(np.diff(clock) == 40_000)                      # one tag per 40 ns pattern
    dead_ps = bench.model.detectors[1].dead_time_s * 1e12
    assert np.diff(tags[1]).min() >= dead_ps - 1000              # detector dead time (minus jitter)


def test_tagger_dead_time_thins_the_clock(tagger: SimulatedTimeTagger) -> None:
    applied = tagger.configure_channel(3, dead_time_s=Q_(1, "us"))
    assert applied.dead_time_s == pytest.approx(1e-6)
    rate = tagger.count_rates([3], 1e-3)[3].to("Hz").magnitude
    assert rate == pytest.approx(1e6, rel=0.01)                 # every 100th tag of a 100 MHz clock survives
    assert tagger.configure_channel(3, dead_time_s=0).dead_time_s == pytest.approx(2e-9)   # the minimum


def test_a_trigger_level_the_pulses_never_cross_records_nothing(tagger: SimulatedTimeTagger) -> None:
    tagger.configure_channel(1, trigger_level_v=1.5)
    counts = tagger.counts([1, 3], 1e-3)
    assert counts[1] == 0 and counts[3] > 0
    tagger.configure_channel(1, trigger_level_v="300 mV")
    assert tagger.counts([1], 1e-3)[1] > 0


def test_bad_settings_are_refused_and_change_nothing(tagger: SimulatedTimeTagger) -> None:
    before = tagger.channel_settings(2)
    with pytest.raises(SettingRangeError):
        tagger.configure_channel(2, trigger_level_v=3.0, delay_s=1e-9)
    with pytest.raises(SettingRangeError):
        tagger.configure_channel(2, dead_time_s=3e-3)
    with pytest.raises(SettingRangeError):
        tagger.configure_channel(4, trigger_level_v=0.1)
    with pytest.raises(SettingRangeError):
        tagger.counts([1], 0)
    assert tagger.channel_settings(2) == before


def test_snapshot_lists_configured_channels(tagger: SimulatedTimeTagger) -> None:
    tagger.configure_channel(2, trigger_level_v=0.25)
    snap = tagger.snapshot()
    assert list(snap) == ["channel 2"]
    assert snap["channel 2"]["trigger_level"]["value"] == 0.25
    assert sorted(tagger.snapshot(update=True)) == ["channel 1", "channel 2", "channel 3"]
    assert tagger.channel_settings(1) == ChannelSettings(0.5, 0.0, 2e-9)


def test_same_seed_same_tags() -> None:
    runs = []
    for _ in range(2):
        sim = SimulatedBench([SimInstrument("tagger", "swabian_time_tagger")], seed=8)
        try:
            sim.model.source.enabled = True
            runs.append(sim.emulators["tagger"].timestamps([1, 2], 1e-3))
        finally:
            sim.close()
    assert all(np.array_equal(runs[0][ch], runs[1][ch]) for ch in (1, 2))
    assert runs[0][1].size > 0
