"""The InfiniiVision scope through the real pyvisa stack, with photodiodes on the transmitter model."""

from __future__ import annotations

import numpy as np
import pytest

from qkdlab.drivers.oscilloscope import KeysightInfiniiVision
from qkdlab.errors import SettingRangeError
from qkdlab.sim import SimInstrument, SimulatedBench
from qkdlab.sim.physics import LIGHT_SPEED, PLANCK, SimParameters, _memory

SCOPE = "USB0::0x2A8D::0x1770::MY60000001::INSTR"
GAIN = {1: 5e4, 2: 5e3}
PERIOD, N_SLOTS, DUTY = 1e-8, 8, 0.1
IM_WAVE = np.array([1.0, 0.3, 1.0, -1.0, 0.6, 1.0, 0.0, 0.8])
PM_WAVE = np.array([0.0, 0.5, 1.0, -0.5, 0.0, 1.0, 0.5, -1.0])
# the screen: 9 ns/div from 5 ns before the pattern starts, so every slot k owns [kT - 4.5 ns, (k+1)T - 4.5 ns)
WINDOW_START, WINDOW = -5e-9, 90e-9
POINTS = 4500


def build(seed: int = 5) -> SimulatedBench:
    sim = SimulatedBench(
        [SimInstrument("scope", "keysight_infiniivision", SCOPE,
                       {"channels": {"1": "monitor", "2": "interferometer"},
                        "photodiode_gain_v_per_w": {str(k): v for k, v in GAIN.items()}})],
        parameters=SimParameters(im_drift_v_per_s=0.0, pulse_duty_cycle=DUTY), seed=seed)
    model = sim.model
    model.source.enabled, model.source.power_w = True, 1e-3
    model.im_bias_v = model.im_bias_for("null")
    vpi = model.params.im_vpi_rf_v
    im, pm = model.awg[1], model.awg[2]
    im.output, im.function, im.arb_waveform, im.arb_sample_rate = True, "ARB", IM_WAVE, 1 / PERIOD
    im.amplitude_vpp, im.offset_v = vpi, vpi / 2   # null (-1) to peak (+1)
    pm.output, pm.function, pm.arb_waveform, pm.arb_sample_rate = True, "ARB", PM_WAVE, 1 / PERIOD
    pm.amplitude_vpp, pm.offset_v = 4.0, 0.0      # ±2 V on the phase modulator
    return sim


def open_scope(sim: SimulatedBench) -> KeysightInfiniiVision:
    scope = KeysightInfiniiVision(SCOPE, "scope", visa_library=sim.visa_library)
    scope.trigger_source = "EXTERNAL"               # the pattern clock
    scope.trigger_level = 0.5
    scope.trigger_sweep = "NORMAL"
    # screens -20..140 mV and -120..840 mV: one division below 0 V keeps the noisy floor on screen
    for ch, scale in ((scope.ch1, 0.02), (scope.ch2, 0.12)):
        ch.impedance = "FIFTY"
        ch.scale = scale
        ch.offset = 3 * scale
    return scope


@pytest.fixture
def bench():
    sim = build()
    yield sim
    sim.close()


@pytest.fixture
def scope(bench):
    instrument = open_scope(bench)
    yield instrument
    instrument.close()


def test_averaged_monitor_trace_reproduces_the_model_within_noise(bench, scope) -> None:
    wave = scope.acquire([1], averages=64, window_start=WINDOW_START, window_duration=WINDOW, points=POINTS)[1]
    assert wave.times.size == POINTS
    assert wave.times[0] == pytest.approx(WINDOW_START, abs=1e-15)     # the screen starts where asked
    assert np.diff(wave.times) == pytest.approx(np.full(POINTS - 1, WINDOW / POINTS), rel=1e-6)
    assert not wave.any_clipped
    truth = GAIN[1] * bench.model.optical_waveform("monitor", wave.times)
    residual = wave.volts - truth
    sigma = 0.004 * 8 * 0.02 / np.sqrt(64)     # 0.4 % of the screen per sample, averaged 64 times
    assert abs(residual.mean()) < 5 * sigma / np.sqrt(POINTS)
    assert residual.std() == pytest.approx(sigma, rel=0.1)
    assert truth.max() > 500 * sigma           # the pulses themselves are far above the noise


def test_per_slot_energies_from_the_trace_match_the_pulse_train(bench, scope) -> None:
    wave = scope.acquire([1], averages=64, window_start=WINDOW_START, window_duration=WINDOW, points=POINTS)[1]
    model, p = bench.model, bench.model.params
    dt = wave.times[1] - wave.times[0]
    slot = np.floor((wave.times + 0.45 * PERIOD) / PERIOD).astype(int)
    measured = np.array([wave.volts[slot == k].sum() * dt for k in range(N_SLOTS)]) / GAIN[1]
    train = model.pulse_train()
    photon = PLANCK * LIGHT_SPEED / 1550e-9
    tap = p.monitor_tap_ratio / (1 - p.monitor_tap_ratio)
    expected = (train.photons + train.leakage_photons) * photon * tap
    assert measured == pytest.approx(expected, rel=0, abs=2e-3 * expected.max())
    # pulse energies alone: subtract the inter-pulse floor read from the gaps of the same trace
    gap = ((wave.times % PERIOD) > 0.3 * PERIOD) & ((wave.times % PERIOD) < 0.9 * PERIOD)
    floor = np.median(wave.volts[gap]) / GAIN[1]
    pulses = measured - floor * PERIOD
    assert pulses / pulses.max() == pytest.approx(train.photons / train.photons.max(), abs=2e-3)
    # and the IM transfer is what shapes them: brightest where the drive is at the peak
    assert set(np.flatnonzero(pulses > 0.99 * pulses.max())) == set(np.flatnonzero(IM_WAVE == 1.0))


def test_interferometer_trace_tracks_the_pm_drive(bench, scope) -> None:
    waves = scope.acquire([1, 2], averages=64, window_start=WINDOW_START, window_duration=WINDOW, points=POINTS)
    mon, itf = waves[1], waves[2]
    assert np.array_equal(mon.times, itf.times)
    assert not (mon.any_clipped or itf.any_clipped)
    p = bench.model.params
    phase = bench.model.pm_phase(_memory(2.0 * PM_WAVE, p.pm_memory))
    fringe = 0.5 * (1 + p.interferometer_visibility * np.cos(phase + p.interferometer_phase_rad))
    expected = fringe * 10 ** (-p.interferometer_loss_db / 10) * (1 - p.monitor_tap_ratio) / p.monitor_tap_ratio
    bright = IM_WAVE > 0
    for k in np.flatnonzero(bright):
        top = np.abs(mon.times - (k + DUTY / 2) * PERIOD) < 0.3e-9     # flat top of pulse k
        ratio = (itf.volts[top].mean() / GAIN[2]) / (mon.volts[top].mean() / GAIN[1])
        assert ratio == pytest.approx(expected[k], rel=0.02)
    # moving the PM drive moves the read-out: invert the drive and the fringe follows
    bench.model.awg[2].amplitude_vpp = -4.0
    moved = scope.acquire([2], averages=64, window_start=WINDOW_START, window_duration=WINDOW, points=POINTS)[2]
    truth = GAIN[2] * bench.model.optical_waveform("interferometer", moved.times)
    assert np.abs(moved.volts - truth).max() < 6 * 0.004 * 8 * 0.12 / 8
    assert np.abs(moved.volts - itf.volts).max() > 0.1


def test_too_small_a_scale_is_flagged_as_clipping(bench, scope) -> None:
    scope.ch1.scale = 1e-3            # 8 mV of screen against ~100 mV pulses
    scope.ch1.offset = 4e-3
    wave = scope.acquire([1], averages=8, window_start=WINDOW_START, window_duration=WINDOW, points=POINTS)[1]
    truth = GAIN[1] * bench.model.optical_waveform("monitor", wave.times)
    top = 8e-3
    assert wave.any_clipped
    assert np.all(wave.clipped[truth > top + 1e-4])       # well above the screen: at the rail
    assert not np.any(wave.clipped[truth < top - 1e-4])   # on screen: measured
    assert wave.volts[wave.clipped].max() <= top + 1e-9   # a clipped sample reads at most the screen top


def test_the_bench_seed_reproduces_every_record() -> None:
    records = []
    for seed in (5, 5, 6):
        sim = build(seed)
        scope = open_scope(sim)
        records.append(scope.acquire([1, 2], averages=4, window_start=WINDOW_START, window_duration=WINDOW,
                                     points=1000))
        scope.close()
        sim.close()
    for ch in (1, 2):
        assert np.array_equal(records[0][ch].volts, records[1][ch].volts)
        assert not np.array_equal(records[0][ch].volts, records[2][ch].volts)
        assert np.allclose(records[0][ch].volts, records[2][ch].volts, atol=8 * 0.004 * 8 * 0.12 / 2)


def test_out_of_range_scale_never_reaches_the_scope(bench, scope) -> None:
    before = list(bench.emulators["scope"].sent_messages())
    with pytest.raises(SettingRangeError):
        scope.ch1.scale = 10.0
    with pytest.raises(SettingRangeError):
        scope.acquire([1], averages=100000, window_duration=WINDOW)
    assert bench.emulators["scope"].sent_messages() == before


def test_averaging_advances_the_virtual_clock_by_whole_patterns(bench, scope) -> None:
    start = bench.model.clock_s
    scope.acquire([1], averages=256, window_start=0.0, window_duration=80e-9, points=1000)
    assert bench.model.clock_s - start == pytest.approx(256 * N_SLOTS * PERIOD, rel=1e-9)
