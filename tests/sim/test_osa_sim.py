"""The OSA emulator through the real pyvisa stack, and the mode dependence seen alike by scope, tagger and OSA."""

from __future__ import annotations

import numpy as np
import pytest

from qkdlab.drivers.osa import YokogawaAQ6370
from qkdlab.errors import InstrumentReportedError
from qkdlab.sim import SimInstrument, SimulatedBench
from qkdlab.sim.physics import LIGHT_SPEED, SimParameters, TransmitterModel

OSA = "TCPIP0::192.168.1.20::inst0::INSTR"


def _pulses(model: TransmitterModel, pm_volts: float) -> None:
    """Carve a pulse in every slot (IM at the null, DC carving drive) and hold the PM at ``pm_volts``."""
    model.source.enabled = True
    model.im_bias_v = model.im_bias_for("null")
    for ch, volts in ((1, 3.6), (2, pm_volts)):
        model.awg[ch].output, model.awg[ch].function, model.awg[ch].offset_v = True, "DC", volts


@pytest.fixture
def bench():
    sim = SimulatedBench([SimInstrument("osa", "yokogawa_aq6370", OSA)], seed=5)
    yield sim
    sim.close()


@pytest.fixture
def osa(bench):
    inst = YokogawaAQ6370(OSA, "osa", visa_library=bench.visa_library, timeout=2)
    yield inst
    inst.close()


def _centroid_hz(spectrum) -> float:
    nu = LIGHT_SPEED / spectrum.wavelengths.to("m").magnitude
    p = spectrum.power.to("W").magnitude
    return float((p * nu).sum() / p.sum())


def test_spectrum_follows_the_chirp_of_the_pm_drive(bench, osa) -> None:
    sweep = {"centre": "1550 nm", "span": "0.6 nm", "resolution": "0.02 nm", "points": 1001, "averages": 10}
    centroids = {}
    for volts in (-3.0, 3.0):
        _pulses(bench.model, volts)
        centroids[volts] = _centroid_hz(osa.measure(**sweep))
    expected = bench.model.params.mode_chirp_hz_per_v * 6.0  # higher frequency = shorter wavelength
    assert centroids[3.0] - centroids[-3.0] == pytest.approx(expected, rel=0.1)


def test_resolution_broadens_and_the_power_is_the_monitor_power(bench, osa) -> None:
    _pulses(bench.model, 0.0)
    widths = []
    for resolution in ("0.02 nm", "0.1 nm"):
        s = osa.measure(centre="1550 nm", span="2 nm", resolution=resolution, points=2001, averages=10)
        nu = LIGHT_SPEED / s.wavelengths.to("m").magnitude
        p = s.power.to("W").magnitude
        mean = (p * nu).sum() / p.sum()
        widths.append(np.sqrt((p * (nu - mean) ** 2).sum() / p.sum()))
        # a narrow line reads its full power; a spectrum integrates to the power over the filter's width
        fwhm_hz = LIGHT_SPEED * float(s.resolution.to("m").magnitude) / 1550e-9**2
        integral = p.sum() * abs(nu[1] - nu[0]) / (fwhm_hz * 1.0644)  # ∫ Gaussian of unit peak = 1.0644 FWHM
        assert integral == pytest.approx(bench.model.optical_power("monitor"), rel=0.02)
    assert widths[1] > 3 * widths[0]


def test_unsupported_format_is_refused_by_the_instrument(bench, osa) -> None:
    with pytest.raises(InstrumentReportedError):
        osa.write(":FORMat:DATA REAL,64")
        osa.check_errors(":FORMat:DATA REAL,64")


def test_scope_tagger_and_truth_see_the_same_delay() -> None:
    """The setting-dependent delay moves the scope's waveform and the tagger's clicks alike."""
    params = SimParameters(mode_delay_s_per_v=20e-12, mode_chirp_hz_per_v=0.0)  # large, to see it in few clicks
    model = TransmitterModel(params, seed=3)
    period = 1 / params.pulse_rate_hz
    t = np.arange(-0.2e-9, 1.2e-9, 1e-12)
    centroid, arrival = {}, {}
    for volts in (-3.0, 3.0):
        _pulses(model, volts)
        w = model.optical_waveform("monitor", t)
        centroid[volts] = (w * t).sum() / w.sum()
        model.detectors[1].trigger_delay_s = 4.2e-9
        tags = model.time_tags([1], 0.05)[1]
        arrival[volts] = np.mean(np.mod(tags * 1e-12, period))
    assert centroid[3.0] - centroid[-3.0] == pytest.approx(120e-12, rel=1e-3)
    assert arrival[3.0] - arrival[-3.0] == pytest.approx(120e-12, abs=15e-12)


def test_zero_delay_and_chirp_leave_the_mode_unchanged() -> None:
    model = TransmitterModel(SimParameters(mode_delay_s_per_v=0.0, mode_chirp_hz_per_v=0.0))
    _pulses(model, 3.0)
    train = model.pulse_train()
    assert np.all(train.delays() == 0) and np.all(train.frequency_shifts() == 0)
    assert model.mode_infidelity(0.0, 0.0) == pytest.approx(0.0, abs=1e-12)


def test_mode_infidelity_matches_the_small_displacement_limit() -> None:
    """Independent check of the ground truth: 1 - F → τ²σ_Ω² for a small delay, (2πΔν)²σ_T² for a small shift."""
    model = TransmitterModel()
    t = np.arange(-1e-9, 2e-9, 0.5e-12)
    f = model._pulse_amplitude(t)
    intensity = f**2 / (f**2).sum()
    mean = (intensity * t).sum()
    sigma_t2 = (intensity * (t - mean) ** 2).sum()
    sigma_w2 = (np.gradient(f, t) ** 2).sum() / (f**2).sum()
    assert model.mode_infidelity(0.1e-12, 0.0) == pytest.approx(0.01e-24 * sigma_w2, rel=0.02)
    assert model.mode_infidelity(0.0, 1e6) == pytest.approx((2 * np.pi * 1e6) ** 2 * sigma_t2, rel=0.02)
