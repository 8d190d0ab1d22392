"""The ground-truth physics model, checked against closed forms and brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qkdlab.sim.physics import PLANCK, LIGHT_SPEED, SimParameters, TransmitterModel, _apply_dead_time, _memory


def make(**overrides) -> TransmitterModel:
    model = TransmitterModel(SimParameters(**overrides), seed=11)
    model.source.enabled = True
    model.source.power_w = 1e-3
    return model


def test_extinction_ratio_of_the_bias_curve_is_the_configured_one() -> None:
    model = make(im_extinction_ratio_db=25.0, im_drift_v_per_s=0.0)
    bias = np.linspace(-10, 10, 20001)
    transmission = model.im_transmission(bias)
    assert 10 * np.log10(transmission.max() / transmission.min()) == pytest.approx(25.0, abs=1e-3)
    # maxima are 2 Vπ apart, and the insertion loss sets the peak
    assert transmission.max() == pytest.approx(10 ** (-model.params.im_insertion_loss_db / 10), rel=1e-6)


def test_lock_points_give_peak_null_and_half_transmission() -> None:
    model = make(im_drift_v_per_s=0.0)
    t = {point: float(model.im_transmission(model.im_bias_for(point))) for point in ("peak", "null", "quad+", "quad-")}
    t_max = 10 ** (-model.params.im_insertion_loss_db / 10)
    inv_er = 10 ** (-model.params.im_extinction_ratio_db / 10)
    assert t["peak"] == pytest.approx(t_max)
    assert t["null"] == pytest.approx(t_max * inv_er)
    assert t["quad+"] == pytest.approx(t_max * (1 + inv_er) / 2)
    assert t["quad-"] == pytest.approx(t_max * (1 + inv_er) / 2)
    for point in ("peak", "null", "quad+", "quad-"):
        assert -10 <= model.im_bias_for(point) <= 10


def test_bias_drift_moves_the_null_on_the_virtual_clock() -> None:
    model = make(im_drift_v_per_s=1e-3)
    null_now = model.im_bias_for("null")
    model.advance(1000.0)
    assert model.im_bias_for("null") - null_now == pytest.approx(1.0)
    model.im_bias_v = null_now  # an unlocked bias no longer sits at the null
    assert model.im_transmission(model.im_bias_v) > 5 * model.im_transmission(model.im_bias_for("null"))


def test_pm_phase_follows_vpi_and_nonlinearity() -> None:
    model = make(pm_nonlinearity_rad_per_v2=0.0, pm_phase_offset_rad=0.0, pm_vpi_rf_v=4.0)
    assert model.pm_phase(4.0) == pytest.approx(math.pi)
    model = make(pm_nonlinearity_rad_per_v2=0.02, pm_phase_offset_rad=0.1, pm_vpi_rf_v=4.0)
    assert model.pm_phase(2.0) - model.pm_phase(0.0) == pytest.approx(math.pi / 2 + 0.02 * 4)


def test_finite_bandwidth_memory_makes_the_next_pulse_remember_the_previous_setting() -> None:
    # pattern of one 'kick' in ten pulses on the PM: the pulse after it gets c1 of the kick's phase
    c1, c2 = 0.05, 0.01
    model = make(pm_memory=(c1, c2), pm_nonlinearity_rad_per_v2=0.0, pm_phase_offset_rad=0.0, pm_vpi_rf_v=4.0)
    wave = np.full(10, -1.0)
    wave[3] = 1.0
    ch = model.awg[2]
    ch.output, ch.function, ch.arb_waveform, ch.amplitude_vpp, ch.offset_v = True, "ARB", wave, 4.0, 2.0
    phase = model.pulse_train().phase  # drive 0 V except 4 V at slot 3
    assert phase[0] == pytest.approx(0.0)
    assert phase[3] == pytest.approx(math.pi * (1 - c1 - c2))
    assert phase[4] == pytest.approx(math.pi * c1)
    assert phase[5] == pytest.approx(math.pi * c2)
    assert np.array_equal(_memory(np.eye(1, 5, 0)[0], (0.5,)), np.array([0.5, 0.5, 0, 0, 0]))


def test_pulse_photon_number_from_power_duty_cycle_and_photon_energy() -> None:
    model = make(pulse_duty_cycle=0.1, pulse_rate_hz=100e6, im_memory=())
    model.im_bias_v = model.im_bias_for("peak")
    train = model.pulse_train()
    p = model.params
    energy = PLANCK * LIGHT_SPEED / 1550e-9
    expected = (1e-3 * 10 ** (-(p.im_insertion_loss_db + p.pm_insertion_loss_db) / 10)
                * (1 - p.im_tap_ratio) * (1 - p.monitor_tap_ratio) * 0.1 * 1e-8 / energy)
    assert train.photons[0] == pytest.approx(expected, rel=1e-9)
    assert train.period_s == pytest.approx(1e-8)


def test_leakage_between_pulses_is_set_by_the_extinction_ratio() -> None:
    model = make(im_extinction_ratio_db=30.0, im_drift_v_per_s=0.0, pulse_duty_cycle=0.1)
    model.im_bias_v = model.im_bias_for("null")
    ch = model.awg[1]  # RF pulses swing the IM from null to peak
    ch.output, ch.function, ch.arb_waveform = True, "ARB", np.ones(4)
    ch.amplitude_vpp, ch.offset_v = 0.0, -model.params.im_vpi_rf_v
    train = model.pulse_train()
    ratio = train.leakage_photons[0] / train.photons[0]
    assert ratio == pytest.approx(1e-3 * 0.9 / 0.1, rel=1e-6)  # 1/ER × (inter-pulse time / pulse time)


def test_back_reflection_is_injected_probe_power_times_isolation() -> None:
    model = make(isolation_db=55.0)
    model.source.enabled = False
    assert model.optical_power("backreflection") == 0.0
    model.probe.enabled, model.probe.power_w = True, 2e-3
    assert model.optical_power("injected") == pytest.approx(2e-3)
    assert model.optical_power("backreflection") == pytest.approx(2e-3 * 10 ** -5.5)
    model.probe_attenuation_db = 10.0  # the probe VOA sets what is injected
    assert model.optical_power("injected") == pytest.approx(2e-4)
    assert model.optical_power("backreflection") == pytest.approx(2e-4 * 10 ** -5.5)


def test_the_transmitters_own_light_also_leaves_circulator_port_3() -> None:
    model = make(isolation_db=55.0)
    model.source.enabled = True
    forward = model.optical_power("monitor") * (1 - model.params.monitor_tap_ratio) / model.params.monitor_tap_ratio
    assert forward > 0
    assert model.optical_power("backreflection") == pytest.approx(forward)


def test_the_two_interferometer_outputs_share_the_light() -> None:
    model = make(interferometer_visibility=1.0, interferometer_loss_db=0.0)
    model.source.enabled = True
    model.im_bias_v = model.im_bias_for("peak")
    for drive in (-2.0, 0.0, 1.3):
        ch = model.awg[2]
        ch.output, ch.function, ch.offset_v = True, "DC", drive
        total = model.optical_power("interferometer") + model.optical_power("interferometer_b")
        assert total == pytest.approx(model.optical_power("monitor") * 99)  # lossless coupler: nothing lost


def test_interferometer_fringe_visibility() -> None:
    model = make(interferometer_visibility=0.9, im_extinction_ratio_db=60.0, im_memory=(), pm_memory=())
    model.im_bias_v = model.im_bias_for("peak")
    ch = model.awg[2]
    ch.output, ch.function = True, "DC"
    powers = []
    for volts in np.linspace(-5, 5, 801):
        ch.offset_v = float(volts)
        powers.append(model.optical_power("interferometer"))
    powers = np.array(powers)
    visibility = (powers.max() - powers.min()) / (powers.max() + powers.min())
    assert visibility == pytest.approx(0.9, abs=2e-3)


def test_attenuated_port_follows_the_voa_and_its_shutter() -> None:
    model = make()
    before = model.optical_power("attenuated")
    model.voa_attenuation_db = 10.0
    assert model.optical_power("attenuated") == pytest.approx(before / 10)
    model.voa_enabled = False
    assert model.optical_power("attenuated") == 0.0
    with pytest.raises(ValueError, match="unknown optical port"):
        model.optical_power("nowhere")


def test_power_readings_are_seeded_and_noisy_around_the_mean() -> None:
    a, b = make(), make()
    readings_a = [a.measure_power("monitor", 0.01) for _ in range(200)]
    readings_b = [b.measure_power("monitor", 0.01) for _ in range(200)]
    assert readings_a == readings_b
    mean = a.optical_power("monitor")
    assert np.mean(readings_a) == pytest.approx(mean, rel=2e-3)
    assert np.std(readings_a) > 0
    assert a.clock_s == pytest.approx(2.0)


def test_detector_efficiency_versus_delay_shows_the_mode_mismatch() -> None:
    model = make()
    for d in (1, 2):
        model.detectors[d].gate_width_s = 1e-9
    delays = np.linspace(0, 10e-9, 2001)
    eta1 = np.array([model.detector_efficiency(1, t) for t in delays])
    eta2 = np.array([model.detector_efficiency(2, t) for t in delays])
    # the gate centred on the arrival gives the best overlap; arrivals differ by 0.3 ns
    best1 = delays[eta1.argmax()] + 0.5e-9
    best2 = delays[eta2.argmax()] + 0.5e-9
    assert best1 == pytest.approx(model.params.detector_arrival_s[0], abs=1e-11)
    assert best2 - best1 == pytest.approx(0.3e-9, abs=2e-11)
    # with a wide gate the efficiency reaches setting × detector scale
    model.detectors[2].gate_width_s = 20e-9
    assert model.detector_efficiency(2, 0.0) == pytest.approx(0.10 * 0.9, rel=1e-6)


def test_detector_counts_match_the_click_probability_and_dead_time() -> None:
    model = make()
    det = model.detectors[1]
    det.gate_width_s, det.trigger_delay_s, det.dead_time_s, det.gate_frequency_hz = 3e-9, 3.5e-9, 1e-6, 1e6
    p = float(np.mean(model.click_probability(1)))
    detections, gates = model.detector_counts(1, 2.0)
    assert gates == 2_000_000
    expected = gates * p / (1 + p * 1)  # one gate blocked after each click at 1 MHz with 1 µs dead time
    assert detections == pytest.approx(expected, rel=5 * math.sqrt(expected) / expected)
    model.voa_attenuation_db = 20
    fewer, _ = model.detector_counts(1, 2.0)
    assert fewer < detections / 5


def test_time_tags_respect_dead_time_and_the_pattern_clock() -> None:
    model = make()
    model.detectors[1].dead_time_s = 100e-9
    model.detectors[1].trigger_delay_s = 3.5e-9
    model.detectors[1].gate_width_s = 3e-9
    model.voa_attenuation_db = -20.0  # bright: many clicks, dead time matters
    tags = model.time_tags([1, 3], 1e-3)
    assert np.all(np.diff(tags[1]) >= 100_000)
    assert tags[3].size == 100_000  # one pattern (one pulse, no AWG pattern) per 10 ns
    assert tags[1].min() >= 0 and tags[1].max() < 1e9


def test_dead_time_filter_matches_a_brute_force_loop() -> None:
    rng = np.random.default_rng(5)
    for _ in range(30):
        tags = np.sort(rng.integers(0, 10_000, size=300))
        dead = int(rng.integers(1, 200))
        kept, last = [], None
        for t in tags:
            if last is None or t - last >= dead:
                kept.append(t)
                last = t
        assert _apply_dead_time(tags, dead).tolist() == kept


def test_faraday_mirror_doubles_the_phase_and_shapes_the_leakage_phase() -> None:
    single = make(pm_memory=(), faraday_mirror=False)
    double = make(pm_memory=(), faraday_mirror=True, pm_electrode_transit_s=150e-12, pm_drive_pulse_width_s=200e-12)
    for model in (single, double):
        ch = model.awg[2]
        ch.output, ch.function, ch.offset_v = True, "DC", 1.0
    assert double.pulse_train().phase[0] == pytest.approx(2 * single.pulse_train().phase[0])
    t = np.linspace(-50e-12, 600e-12, 651)
    fraction = double.leakage_phase_fraction(t)
    # Bourassa et al. App. D: for L = 150 ps and w = 200 ps the maximal fractional phase is 2/3
    assert fraction.max() == pytest.approx(2 / 3, abs=1e-9)
    # brute force: integrate Eq. (D2), A(t - 2τ) over τ in [t, t + L], numerically
    length, width = 150e-12, 200e-12
    for ti, fi in zip(t[::25], fraction[::25]):
        tau = np.linspace(ti, ti + length, 200001)
        x = ti - 2 * tau
        inside = ((x >= -2 * length - width) & (x < -2 * length)).astype(float)
        expected = np.trapezoid(inside, tau) / length if ti >= 0 else 0.0
        assert fi == pytest.approx(expected, abs=1e-4)
    assert np.all(single.leakage_phase_fraction(t) == 0)


def test_unknown_simulation_parameter_is_named() -> None:
    with pytest.raises(ValueError, match="unknown simulation parameter.*im_vpi_typo"):
        SimParameters.from_dict({"im_vpi_typo": 3})
    assert SimParameters.from_dict({"pm_memory": [0.1]}).pm_memory == (0.1,)


# -- instantaneous optical power (what a fast photodiode on a sampling scope sees) --------------

IM_WAVE = np.array([1.0, 0.3, 1.0, -1.0, 0.6, 1.0, 0.0, 0.8])
PM_WAVE = np.array([0.0, 0.5, 1.0, -0.5, 0.0, 1.0, 0.5, -1.0])


def patterned(**overrides) -> TransmitterModel:
    """An 8-slot pattern at 100 MSa/s: IM from null (-1) to peak (+1), PM over ±2 V; bias at the null."""
    model = make(im_drift_v_per_s=0.0, **overrides)
    model.im_bias_v = model.im_bias_for("null")
    vpi = model.params.im_vpi_rf_v
    im, pm = model.awg[1], model.awg[2]
    im.output, im.function, im.arb_waveform, im.arb_sample_rate = True, "ARB", IM_WAVE, 100e6
    im.amplitude_vpp, im.offset_v = vpi, vpi / 2
    pm.output, pm.function, pm.arb_waveform, pm.arb_sample_rate = True, "ARB", PM_WAVE, 100e6
    pm.amplitude_vpp, pm.offset_v = 4.0, 0.0
    return model


def test_optical_waveform_levels_edges_and_slot_energies() -> None:
    model = patterned(pulse_rise_time_s=40e-12, pulse_duty_cycle=0.1)
    p = model.params
    period, duty, n = 1e-8, 0.1, len(IM_WAVE)
    tap = p.monitor_tap_ratio / (1 - p.monitor_tap_ratio)
    after_pm = 1e-3 * 10 ** (-p.pm_insertion_loss_db / 10) * (1 - p.im_tap_ratio) * (1 - p.monitor_tap_ratio)
    v_eff = _memory(p.im_vpi_rf_v / 2 * IM_WAVE + p.im_vpi_rf_v / 2, p.im_memory)
    pulse_level = after_pm * model.im_transmission(model.im_bias_v, v_eff) * tap
    leak_level = after_pm * float(model.im_transmission(model.im_bias_v, 0.0)) * tap
    slots = np.arange(n)
    # flat tops and the inter-pulse floor, far from any edge
    mid_pulse = model.optical_waveform("monitor", slots * period + duty * period / 2)
    mid_gap = model.optical_waveform("monitor", slots * period + 0.6 * period)
    assert mid_pulse == pytest.approx(pulse_level, rel=1e-9)
    assert mid_gap == pytest.approx(np.full(n, leak_level), rel=1e-9)
    # 10-90 % rise time of the first pulse's leading edge, found numerically
    t = np.arange(-200e-12, 200e-12, 0.01e-12)
    edge = (model.optical_waveform("monitor", t) - leak_level) / (pulse_level[0] - leak_level)
    rise = t[np.argmax(edge >= 0.9)] - t[np.argmax(edge >= 0.1)]
    assert rise == pytest.approx(40e-12, abs=0.05e-12)
    # each pulse plus the leakage after it carries that slot's pulse_train energy
    train = model.pulse_train()
    energy = PLANCK * LIGHT_SPEED / 1550e-9
    dt = 0.5e-12
    for k in slots:
        grid = (k - 0.45) * period + (np.arange(round(period / dt)) + 0.5) * dt
        integral = float(np.sum(model.optical_waveform("monitor", grid))) * dt
        assert integral == pytest.approx((train.photons[k] + train.leakage_photons[k]) * energy * tap, rel=1e-6)
    # the pattern repeats: times wrap modulo n T, also before the trigger
    probe = np.linspace(-3e-9, 12e-9, 301)
    assert np.allclose(model.optical_waveform("monitor", probe + 3 * n * period),
                       model.optical_waveform("monitor", probe), rtol=1e-9, atol=0)


def test_optical_waveform_interferometer_follows_the_pm_and_averages_to_the_power_meter() -> None:
    model = patterned()
    p = model.params
    period, n = 1e-8, len(PM_WAVE)
    dt = 1e-12
    grid = (np.arange(round(n * period / dt)) + 0.5) * dt
    for port in ("monitor", "interferometer"):
        mean = float(np.mean(model.optical_waveform(port, grid)))
        assert mean == pytest.approx(model.optical_power(port), rel=1e-6)
    # fringe per slot from the PM drive after memory, and the same slot phase on the leakage that follows
    phase = model.pm_phase(_memory(2.0 * PM_WAVE, p.pm_memory))
    fringe = 0.5 * (1 + p.interferometer_visibility * np.cos(phase + p.interferometer_phase_rad))
    expected = fringe * 10 ** (-p.interferometer_loss_db / 10) * (1 - p.monitor_tap_ratio) / p.monitor_tap_ratio
    for at in (0.05, 0.6):  # middle of the pulse, middle of the gap after it
        t = (np.arange(n) + at) * period
        ratio = model.optical_waveform("interferometer", t) / model.optical_waveform("monitor", t)
        assert ratio == pytest.approx(expected, rel=1e-9)


def test_optical_waveform_is_dark_without_the_source_and_names_its_ports() -> None:
    model = patterned()
    model.source.enabled = False
    assert np.all(model.optical_waveform("monitor", np.linspace(0, 1e-7, 11)) == 0)
    with pytest.raises(ValueError, match="monitor"):
        model.optical_waveform("attenuated", np.zeros(3))
