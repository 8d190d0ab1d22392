"""Ground-truth physics of the simulated QKD transmitter bench.

Optical layout (one fixed topology, every parameter settable in the sim config)::

    source laser (CW) ─► IM (Mach–Zehnder; DC bias from the bias controller, RF from AWG ch1)
        ─► [bias-controller tap: port "im_tap"]
        ─► PM (phase modulator; RF from AWG ch2)  [optional Faraday-mirror double pass]
        ─► [1 % output tap: port "monitor"]
        ─► isolator ─► circulator port 2 (the transmitter output)
    probe laser ─► probe VOA ─► [calibrated injection monitor: port "injected"] ─► circulator port 1
        → port 2 into the transmitter; what comes back out of the transmitter output (probe × γ,
        plus the transmitter's own forward light when the source is on) leaves circulator port 3:
        port "backreflection"
        ─► fixed attenuator ─► VOA ─► port "attenuated" ─► 50:50 ─► single-photon detectors 1, 2
    characterization Mach–Zehnder around the PM (reference arm tapped before it): ports
        "interferometer" and "interferometer_b" (its two outputs, fringes in antiphase)

Pulses. Pulses are carved by the IM at the pulse rate (the AWG's arbitrary-waveform sample rate
when ch1 or ch2 plays an ARB pattern, else ``pulse_rate_hz``): during the pulse window (duty
cycle ``pulse_duty_cycle``) the IM sees bias + the RF value of that slot, between pulses the bias
alone — so with the bias near null, the inter-pulse *leakage light* is set by the finite extinction
ratio. One pattern period of the AWG is one sequence of pulse slots.

Models used (all documented so tests can check them independently):

- IM transfer: ``T(V) = T_max [(1 - 1/ER) cos²(π/2 ((V_bias - V_peak(t))/Vπ_DC + V_rf/Vπ_RF)) + 1/ER]``
  with ``V_peak(t) = V_peak0 + drift·t`` (slow bias drift on the virtual clock).
- PM phase: ``φ(V) = π V / Vπ_RF + a V² + φ0`` (``a``: nonlinearity, ``φ0``: offset); this is
  what turns nominal BB84 levels into flawed encoded phases (modulation-flaw angles).
- Finite bandwidth (pulse correlations): the drive a slot really sees is
  ``V_eff,k = (1 - Σ c_l) V_k + Σ_l c_l V_{k-l}`` (cyclic within the pattern), for the IM and PM
  with their own memory coefficients ``c_l``.
- Faraday-mirror double pass: the PM acts twice (phase doubled for the pulse); inter-pulse leakage
  light counter-propagating against a drive pulse picks up the fraction f(t) of the pulse phase of
  Bourassa et al. (PRA 106, 062618), App. D, Eq. (D3) (electrode transit L, drive width w).
- Detectors: gated; efficiency versus trigger delay ``η_i(d) = η_set·s_i·[Φ((d+g-c_i)/σ) - Φ((d-c_i)/σ)]``
  (gate width g, pulse arrival c_i, pulse/jitter width σ) — the spatio-temporal mode dependence;
  click probability ``1 - (1 - p_dark)·exp(-η μ)``; non-paralysable dead time in whole gates.
- Power meters: Gaussian noise, relative plus an absolute floor (NEP), shrinking as 1/√(averaging).
- Mode dependence: pulse k is delayed by ``τ_k = mode_delay_s_per_v · V_pm,k`` and its carrier
  shifted by ``Δν_k = mode_chirp_hz_per_v · V_pm,k`` (V_pm,k the PM drive after memory; a chirp
  from the drive's slope across the pulse, modelled as its mean frequency offset). The scope's
  ``optical_waveform`` and the time tags are delayed; ``optical_spectrum`` (what an OSA reads) is
  the carved pulse's power spectrum shifted by Δν_k through a Gaussian resolution filter;
  ``mode_infidelity`` is the true 1 - |⟨m|m'⟩|² of two such modes.
- Instantaneous optical power (``optical_waveform``, what a fast photodiode on a sampling scope
  sees; t = 0 is the start of slot 0, times wrap modulo the pattern length): slot k's pulse window
  is ``[kT, kT + dT)``; pulse level ``P_k`` (IM at bias + V_rf,k after memory), leakage level ``L``
  (bias alone) outside, joined by Gaussian edges of 10–90 % rise time ``t_r`` (σ = t_r / 2.563):
  ``P(t) = L + Σ_k (P_k - L)[Φ((t - kT)/σ) - Φ((t - kT - dT)/σ)]``, with the powers of
  ``pulse_train`` (each slot integrates to its pulses plus leakage). The interferometer port
  weights slot k's pulse and the leakage after it (NRZ drive) by
  ``0.5(1 + V cos(φ_k + φ_int))`` times the interferometer loss, as ``_interferometer_power``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

from ..transmitter import leakage_phase_fraction

__all__ = ["SimParameters", "TransmitterModel", "LaserState", "AwgChannel", "DetectorState", "PulseTrain",
           "PORTS", "PLANCK", "LIGHT_SPEED"]

PLANCK = 6.62607015e-34
LIGHT_SPEED = 299792458.0
PORTS = ("im_tap", "monitor", "interferometer", "interferometer_b", "injected", "backreflection", "attenuated")


@dataclass
class SimParameters:
    """Ground truth of the simulated bench (what characterization must recover)."""

    # intensity modulator
    im_vpi_dc_v: float = 5.2
    im_vpi_rf_v: float = 3.6
    im_extinction_ratio_db: float = 28.0
    im_insertion_loss_db: float = 4.0
    im_peak_bias_v: float = 1.3          # DC bias of maximum transmission at t = 0
    im_drift_v_per_s: float = 2e-4       # slow bias drift
    im_memory: tuple[float, ...] = (0.01,)
    im_tap_ratio: float = 0.01
    # phase modulator
    pm_vpi_rf_v: float = 4.0
    pm_phase_offset_rad: float = 0.03
    pm_nonlinearity_rad_per_v2: float = 0.012
    pm_insertion_loss_db: float = 3.0
    pm_memory: tuple[float, ...] = (0.03, 0.008)
    faraday_mirror: bool = False
    pm_electrode_transit_s: float = 150e-12
    pm_drive_pulse_width_s: float = 200e-12
    # pulses
    pulse_rate_hz: float = 100e6
    pulse_duty_cycle: float = 0.1
    pulse_sigma_s: float = 0.35e-9       # pulse + detector jitter width used by the gate-overlap model
    pulse_rise_time_s: float = 40e-12    # 10-90 % rise/fall of the carved pulses (optical_waveform)
    # output
    monitor_tap_ratio: float = 0.01
    isolation_db: float = 62.0           # back-reflection isolation γ = 10^(-isolation/10)
    output_attenuation_db: float = 65.0  # fixed attenuator before the VOA
    # characterization interferometer around the PM
    interferometer_visibility: float = 0.97
    interferometer_phase_rad: float = 0.4
    interferometer_loss_db: float = 1.0
    # detectors (index 0 -> detector 1)
    detector_efficiency_scale: tuple[float, ...] = (1.0, 0.9)
    detector_arrival_s: tuple[float, ...] = (5.0e-9, 5.3e-9)
    dark_count_probability: tuple[float, ...] = (2e-5, 3e-5)   # per 2.5 ns gate
    detector_jitter_s: float = 60e-12
    # mode dependence: the pulse's timing and carrier frequency follow the PM drive (per volt)
    mode_delay_s_per_v: float = 0.2e-12
    mode_chirp_hz_per_v: float = 5e6
    # power meters
    power_meter_relative_noise: float = 2e-3
    power_meter_noise_floor_w: float = 2e-11

    def __post_init__(self) -> None:
        """Refuse ground truth without physical sense (e.g. an extinction ratio of -5 dB)."""
        positive = ("im_vpi_dc_v", "im_vpi_rf_v", "im_extinction_ratio_db", "pm_vpi_rf_v", "pm_electrode_transit_s",
                    "pm_drive_pulse_width_s", "pulse_rate_hz", "pulse_sigma_s", "pulse_rise_time_s", "isolation_db",
                    "detector_jitter_s")
        non_negative = ("im_insertion_loss_db", "pm_insertion_loss_db", "output_attenuation_db",
                        "interferometer_loss_db", "power_meter_relative_noise", "power_meter_noise_floor_w",
                        "detector_efficiency_scale", "detector_arrival_s")
        fractions = ("im_tap_ratio", "pulse_duty_cycle", "monitor_tap_ratio", "interferometer_visibility",
                     "dark_count_probability")
        for name in (*positive, *non_negative, *fractions):
            for value in np.atleast_1d(np.asarray(getattr(self, name), dtype=float)):
                ok = (math.isfinite(value) and (value > 0 if name in positive else value >= 0)
                      and (value <= 1 if name in fractions else True))
                if not ok:
                    rule = "positive" if name in positive else "between 0 and 1" if name in fractions else ">= 0"
                    raise ValueError(f"simulation parameter {name} = {getattr(self, name)!r} must be finite and "
                                     f"{rule}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SimParameters:
        """Build from a config mapping; unknown keys raise ValueError naming them and the known keys."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown simulation parameter(s) {unknown}; known: {sorted(known)}")
        converted = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**converted)


@dataclass
class LaserState:
    enabled: bool = False
    power_w: float = 1e-3
    wavelength_m: float = 1550e-9


@dataclass
class AwgChannel:
    output: bool = False
    function: str = "SIN"
    frequency_hz: float = 1e3
    amplitude_vpp: float = 0.1
    offset_v: float = 0.0
    load_ohm: float = 50.0
    arb_waveform: np.ndarray | None = None
    arb_sample_rate: float = 40e3
    #: Arbitrary-waveform filter: NORM rings into the inter-pulse time (ARB_FILTER_RINGING).
    arb_filter: str = "OFF"
    #: Samples this channel's pattern runs behind channel 1 (unsynchronised arbs).
    pattern_offset: int = 0


@dataclass
class DetectorState:
    enabled: bool = True
    efficiency_setting: float = 0.10
    gate_width_s: float = 2e-9
    trigger_delay_s: float = 0.0
    dead_time_s: float = 10e-6
    gate_frequency_hz: float = 1e6


@dataclass
class PulseTrain:
    """One pattern period of emitted pulses at the transmitter output (before the fixed attenuator).

    ``photons``: mean photon number per pulse; ``phase``: encoded phase (rad);
    ``leakage_photons``: mean photon number of the inter-pulse light following each pulse;
    ``period_s``: time between pulses; ``delay_s`` and ``frequency_shift_hz``: each pulse's
    setting-dependent delay and carrier-frequency offset (mode dependence, see
    ``TransmitterModel.pulse_train``).
    """

    photons: np.ndarray
    phase: np.ndarray
    leakage_photons: np.ndarray
    period_s: float
    delay_s: np.ndarray | None = None
    frequency_shift_hz: np.ndarray | None = None

    def delays(self) -> np.ndarray:
        """Per-pulse delays (zeros when the train carries none)."""
        return np.zeros(len(self.photons)) if self.delay_s is None else self.delay_s

    def frequency_shifts(self) -> np.ndarray:
        """Per-pulse carrier-frequency offsets (zeros when the train carries none)."""
        return np.zeros(len(self.photons)) if self.frequency_shift_hz is None else self.frequency_shift_hz


#: Drive that the AWG's arbitrary-waveform filter leaves between pulses, as a fraction of the
#: slot's pulse drive. With one sample per pulse, the NORMal filter's band-limited interpolation
#: rings into the inter-pulse time; the model takes the Gibbs overshoot of an ideal band-limited
#: reconstruction of a step (8.95 %), a modelling choice standing for "rings at the ~10 % level".
#: STEP (designed against overshoot) and OFF (sample-and-hold) leave nothing between pulses.
ARB_FILTER_RINGING = {"NORM": 0.0895, "STEP": 0.0, "OFF": 0.0}


def _memory(values: np.ndarray, coefficients: Sequence[float]) -> np.ndarray:
    """Apply finite-bandwidth memory: V_eff,k = (1 - Σc) V_k + Σ c_l V_{k-l} (cyclic)."""
    out = (1.0 - sum(coefficients)) * values
    for lag, c in enumerate(coefficients, start=1):
        out = out + c * np.roll(values, lag)
    return out


_SHAPES = {
    "SIN": lambda x: np.sin(2 * np.pi * x),
    "SQU": lambda x: np.where((x % 1.0) < 0.5, 1.0, -1.0),
    "RAMP": lambda x: 2.0 * (x % 1.0) - 1.0,
    "TRI": lambda x: 1.0 - 4.0 * np.abs((x % 1.0) - 0.5),
    "PULS": lambda x: np.where((x % 1.0) < 0.1, 1.0, -1.0),
}


class TransmitterModel:
    """The shared state and physics of the simulated bench; emulators hold ``lock`` while using it."""

    def __init__(self, params: SimParameters | None = None, seed: int = 0) -> None:
        self.params = params if params is not None else SimParameters()
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.lock = threading.RLock()
        self.clock_s = 0.0
        self.source = LaserState()
        self.probe = LaserState()
        self.awg = {1: AwgChannel(), 2: AwgChannel()}
        self.im_bias_v = 0.0
        self.voa_attenuation_db = 0.0
        self.voa_enabled = True
        self.probe_attenuation_db = 0.0
        self.probe_voa_enabled = True
        self.detectors = {1: DetectorState(), 2: DetectorState()}

    # -- time ----------------------------------------------------------------------------------
    def advance(self, seconds: float) -> None:
        """Move the virtual clock forward (integration times, settling, drift) without sleeping."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        with self.lock:
            self.clock_s += seconds

    # -- intensity modulator ---------------------------------------------------------------
    def im_peak_bias(self) -> float:
        """Bias of maximum transmission now (drifts on the virtual clock)."""
        return self.params.im_peak_bias_v + self.params.im_drift_v_per_s * self.clock_s

    def im_transmission(self, bias_v: float | np.ndarray, rf_v: float | np.ndarray = 0.0) -> Any:
        """Power transmission of the IM for a DC bias and an RF drive voltage (includes insertion loss)."""
        p = self.params
        arg = 0.5 * np.pi * ((np.asarray(bias_v) - self.im_peak_bias()) / p.im_vpi_dc_v + np.asarray(rf_v) / p.im_vpi_rf_v)
        inv_er = 10.0 ** (-p.im_extinction_ratio_db / 10.0)
        t_max = 10.0 ** (-p.im_insertion_loss_db / 10.0)
        return t_max * ((1.0 - inv_er) * np.cos(arg) ** 2 + inv_er)

    def im_bias_for(self, point: str) -> float:
        """The bias a perfect lock would choose now for 'peak', 'null', 'quad+' or 'quad-' (within ±10 V)."""
        offsets = {"peak": 0.0, "null": 1.0, "quad+": -0.5, "quad-": 0.5}
        if point not in offsets:
            raise ValueError(f"unknown bias point {point!r}; use one of {sorted(offsets)}")
        vpi = self.params.im_vpi_dc_v
        bias = self.im_peak_bias() + offsets[point] * vpi
        period = 2.0 * vpi  # T(V) repeats every 2 Vπ
        while bias > 10.0:
            bias -= period
        while bias < -10.0:
            bias += period
        return bias

    # -- phase modulator -------------------------------------------------------------------
    def pm_phase(self, drive_v: float | np.ndarray) -> Any:
        """Encoded phase for a PM drive voltage (single pass): π V/Vπ + a V² + φ0."""
        p = self.params
        v = np.asarray(drive_v, dtype=float)
        return np.pi * v / p.pm_vpi_rf_v + p.pm_nonlinearity_rad_per_v2 * v**2 + p.pm_phase_offset_rad

    def leakage_phase_fraction(self, t_s: float | np.ndarray) -> Any:
        """Fraction of the pulse's phase picked up by a slice of leakage light (Faraday-mirror double pass).

        Bourassa et al., PRA 106, 062618 (2022), App. D, Eq. (D3), with this bench's electrode
        transit L and drive width w: see :func:`qkdlab.transmitter.leakage_phase_fraction`
        (maximum min(w/2, L)/L, 2/3 for L = 150 ps, w = 200 ps). Without a Faraday mirror the leakage
        passes the PM once, outside the drive: f = 0.
        """
        p = self.params
        if not p.faraday_mirror:
            return np.zeros_like(np.asarray(t_s, dtype=float))
        return leakage_phase_fraction(t_s, p.pm_electrode_transit_s, p.pm_drive_pulse_width_s)

    # -- the pulse pattern -----------------------------------------------------------------
    def _drive_volts(self, channel: int) -> tuple[np.ndarray, float | None]:
        """Voltage of AWG ``channel`` at the modulator per pulse slot, and the ARB rate if it sets one."""
        ch = self.awg[channel]
        if not ch.output:
            return np.zeros(1), None
        # Volts across the 50 Ω modulator input given the load the AWG was told to assume.
        scale = (50.0 + ch.load_ohm) / (2.0 * ch.load_ohm) if math.isfinite(ch.load_ohm) else 0.5
        if ch.function == "DC":
            return np.array([ch.offset_v * scale]), None
        if ch.function == "ARB" and ch.arb_waveform is not None and len(ch.arb_waveform):
            wave = np.roll(np.asarray(ch.arb_waveform, dtype=float), ch.pattern_offset)
            return (ch.offset_v + 0.5 * ch.amplitude_vpp * wave) * scale, ch.arb_sample_rate
        shape = _SHAPES.get(ch.function)
        if shape is None:  # NOIS, PRBS: broadband, averages to the offset over many pulses
            return np.array([ch.offset_v * scale]), None
        slots = max(1, int(round(self.params.pulse_rate_hz / max(ch.frequency_hz, 1e-9))))
        slots = min(slots, 4096)
        x = np.arange(slots) / slots
        return (ch.offset_v + 0.5 * ch.amplitude_vpp * shape(x)) * scale, None

    def _between_pulses_rf(self, im_v: np.ndarray) -> np.ndarray:
        """RF drive on the IM between pulses: the filter's ringing of each slot's drive (else 0)."""
        ch = self.awg[1]
        ringing = ARB_FILTER_RINGING.get(ch.arb_filter, 0.0) if ch.output and ch.function == "ARB" else 0.0
        return ringing * np.asarray(im_v, dtype=float)

    def pulse_period_s(self) -> float:
        """Time between pulses: set by an ARB pattern's sample rate (ch1 first), else the pulse clock."""
        with self.lock:
            for channel in (1, 2):
                _, rate = self._drive_volts(channel)
                if rate:
                    return 1.0 / rate
            return 1.0 / self.params.pulse_rate_hz

    def photon_energy_j(self) -> float:
        return PLANCK * LIGHT_SPEED / self.source.wavelength_m

    def pulse_train(self) -> PulseTrain:
        """Emitted pulses over one pattern period, at the transmitter output before the fixed attenuator."""
        p = self.params
        with self.lock:
            period = self.pulse_period_s()
            im_v, _ = self._drive_volts(1)
            pm_v, _ = self._drive_volts(2)
            n = int(np.lcm(len(im_v), len(pm_v)))
            im_v = _memory(np.resize(im_v, n), p.im_memory)
            pm_v = _memory(np.resize(pm_v, n), p.pm_memory)
            power = self.source.power_w if self.source.enabled else 0.0
            after_pm = power * 10.0 ** (-p.pm_insertion_loss_db / 10.0) * (1.0 - p.im_tap_ratio) * (1.0 - p.monitor_tap_ratio)
            energy = self.photon_energy_j()
            on_time = p.pulse_duty_cycle * period
            photons = after_pm * self.im_transmission(self.im_bias_v, im_v) * on_time / energy
            between = self.im_transmission(self.im_bias_v, self._between_pulses_rf(im_v))
            leak = after_pm * np.asarray(between, dtype=float) * (period - on_time) / energy
            passes = 2.0 if p.faraday_mirror else 1.0
            return PulseTrain(photons=np.asarray(photons, dtype=float),
                              phase=np.asarray(passes * self.pm_phase(pm_v), dtype=float),
                              leakage_photons=np.broadcast_to(leak, (n,)).copy(), period_s=period,
                              delay_s=p.mode_delay_s_per_v * pm_v, frequency_shift_hz=p.mode_chirp_hz_per_v * pm_v)

    # -- average optical powers ----------------------------------------------------------------
    def _average_output_power(self, train: PulseTrain) -> float:
        """Mean power at the transmitter output (pulses plus leakage), before the fixed attenuator."""
        return float(np.mean(train.photons + train.leakage_photons)) * self.photon_energy_j() / train.period_s

    def optical_power(self, port: str) -> float:
        """Noise-free mean optical power in W at ``port`` (see the module docstring for the layout)."""
        p = self.params
        with self.lock:
            if port in ("injected", "backreflection"):
                injected = self.injected_power()
                if port == "injected":
                    return injected
                forward = self._average_output_power(self.pulse_train()) if self.source.enabled else 0.0
                return injected * 10.0 ** (-p.isolation_db / 10.0) + forward
            if port not in PORTS:
                raise ValueError(f"unknown optical port {port!r}; ports: {PORTS}")
            if not self.source.enabled:
                return 0.0
            train = self.pulse_train()
            if port == "im_tap":
                duty = p.pulse_duty_cycle
                im_v, _ = self._drive_volts(1)
                im_mem = _memory(im_v, p.im_memory)
                pulses = float(np.mean(self.im_transmission(self.im_bias_v, im_mem)))
                between = float(np.mean(self.im_transmission(self.im_bias_v, self._between_pulses_rf(im_mem))))
                return self.source.power_w * p.im_tap_ratio * (duty * pulses + (1.0 - duty) * between)
            output = self._average_output_power(train)
            if port == "monitor":
                return output * p.monitor_tap_ratio / (1.0 - p.monitor_tap_ratio)
            if port in ("interferometer", "interferometer_b"):
                return self._interferometer_power(train, sign=1.0 if port == "interferometer" else -1.0)
            return output * 10.0 ** (-(p.output_attenuation_db + self.voa_attenuation_db) / 10.0) * self.voa_enabled

    def injected_power(self) -> float:
        """Probe power entering the transmitter output (after the probe VOA), in W."""
        if not (self.probe.enabled and self.probe_voa_enabled):
            return 0.0
        return self.probe.power_w * 10.0 ** (-self.probe_attenuation_db / 10.0)

    def _interferometer_power(self, train: PulseTrain, sign: float = 1.0) -> float:
        """Mach–Zehnder around the PM: the PM arm beats with an equal reference arm.

        The PM drive is held for the whole slot (NRZ), so inter-pulse light in slot k carries the
        slot's phase too; the read-out averages pulses and leakage. ``sign`` -1 is the second
        output port, whose fringe is in antiphase (energy conservation of a lossless coupler).
        """
        p = self.params
        energy = self.photon_energy_j()
        light = (train.photons + train.leakage_photons) * energy / train.period_s
        fringe = 0.5 * (1.0 + sign * p.interferometer_visibility * np.cos(train.phase + p.interferometer_phase_rad))
        return float(np.mean(light * fringe)) * 10.0 ** (-p.interferometer_loss_db / 10.0)

    def optical_waveform(self, port: str, times_s: np.ndarray) -> np.ndarray:
        """Noise-free instantaneous optical power (W) at ``port`` ("monitor" or "interferometer").

        What a fast photodiode on a sampling scope resolves: the pulses, their edges and the
        leakage light between them, pulse by pulse. ``times_s`` are measured from the start of the
        pattern (slot 0's pulse window starts at t = 0; the scope triggers on the pattern clock)
        and wrap modulo the pattern length ``n_slots · T``.

        Model: slot k has the pulse window ``[kT, kT + dT)`` (d = ``pulse_duty_cycle``), where the
        IM transmits ``P_k`` (bias + slot k's RF drive after memory); outside it the IM sees the
        bias alone and transmits the leakage level ``L``. Edges are Gaussian with 10–90 % rise
        time ``pulse_rise_time_s`` (σ = t_r / (2 Φ⁻¹(0.9)) ≈ t_r / 2.563)::

            P(t) = L_k(t) + Σ_k (P_k - L_k) [Φ((t - kT)/σ) - Φ((t - kT - dT)/σ)]

        with ``P_k dT = photons_k · hν`` and ``L_k (1 - d) T = leakage_photons_k · hν`` of
        ``pulse_train()``, so each pulse plus the leakage that follows it integrates to exactly
        that slot's pulse_train energy (the edges only move energy across the window borders).
        "monitor" is the output power times ``tap/(1 - tap)``, as ``optical_power("monitor")``.
        "interferometer" weights slot k's light (its pulse, and the leakage in ``[kT, (k+1)T)``:
        the PM drive is NRZ) by ``0.5 (1 + V cos(φ_k + φ_int))`` times the interferometer loss, so
        its pattern average equals ``optical_power("interferometer")``.
        """
        p = self.params
        if port not in ("monitor", "interferometer"):
            raise ValueError(f"optical_waveform covers ports 'monitor' and 'interferometer', not {port!r}")
        t = np.asarray(times_s, dtype=float)
        with self.lock:
            if not self.source.enabled:
                return np.zeros_like(t)
            train = self.pulse_train()
            energy = self.photon_energy_j()
        period = train.period_s
        n = len(train.photons)
        on_time = p.pulse_duty_cycle * period
        off_time = period - on_time
        pulse_w = train.photons * energy / on_time if on_time > 0 else np.zeros(n)
        leak_w = train.leakage_photons * energy / off_time if off_time > 0 else np.zeros(n)
        if port == "monitor":
            weight = np.full(n, p.monitor_tap_ratio / (1.0 - p.monitor_tap_ratio))
        else:
            weight = (0.5 * (1.0 + p.interferometer_visibility * np.cos(train.phase + p.interferometer_phase_rad))
                      * 10.0 ** (-p.interferometer_loss_db / 10.0))
        sigma = p.pulse_rise_time_s / (2.0 * float(ndtri(0.9)))
        tau = np.mod(t, n * period)
        k = np.minimum(np.floor(tau / period).astype(np.int64), n - 1)
        u = tau - k * period  # time since the start of the slot holding t
        out = leak_w[k] * weight[k]
        # pulses of neighbouring slots (periodic images included) whose edges reach into this slot
        delay = train.delays()
        reach = 1 + int(math.ceil((6.0 * sigma + float(np.max(np.abs(delay)))) / period))
        for j in range(-reach, reach + 1):
            idx = (k + j) % n
            s = u - j * period - delay[idx]  # time since the start of pulse k + j (after its delay)
            out = out + (pulse_w[idx] - leak_w[idx]) * weight[idx] * _carving_window(s, on_time, sigma)
        return out

    # -- the pulse's optical mode (timing and spectrum) ------------------------------------------
    def _pulse_amplitude(self, t_s: np.ndarray) -> np.ndarray:
        """Field amplitude (√ of the normalised intensity) of one carved pulse starting at t = 0."""
        p = self.params
        on_time = p.pulse_duty_cycle * self.pulse_period_s()
        sigma = p.pulse_rise_time_s / (2.0 * float(ndtri(0.9)))
        return np.sqrt(np.clip(_carving_window(t_s, on_time, sigma), 0.0, None))

    def _mode_grid(self) -> tuple[np.ndarray, float]:
        """A time grid (1 ps steps) covering one pulse with generous margins, and its step."""
        p = self.params
        on_time = p.pulse_duty_cycle * self.pulse_period_s()
        margin = 10.0 * p.pulse_rise_time_s + 50e-12
        step = min(1e-12, p.pulse_rise_time_s / 20.0) if p.pulse_rise_time_s > 0 else 1e-12
        return np.arange(-margin, on_time + margin, step), step

    def mode_infidelity(self, delay_s: float, frequency_shift_hz: float) -> float:
        """True 1 - |<m|m'>|² between the pulse mode m and m' delayed by ``delay_s`` and shifted by ``frequency_shift_hz``.

        The mode of a pulse is its normalised field envelope f(t) e^{2πiΔν t} with f = √(carved
        intensity) (the carving is chirp-free; the setting adds the delay τ and the offset Δν, see
        ``pulse_train``). Computed by direct quadrature on a 1 ps grid — the ground truth the
        mode-dependence calibration must bound.
        """
        t, step = self._mode_grid()
        f = self._pulse_amplitude(t)
        g = self._pulse_amplitude(t - delay_s) * np.exp(2j * np.pi * frequency_shift_hz * t)
        overlap = np.sum(f * g) * step / (np.sum(f * f) * step)
        return float(max(0.0, 1.0 - abs(overlap) ** 2))

    def _filtered_pulse_spectrum(self, sigma_filter_hz: float) -> tuple[np.ndarray, np.ndarray]:
        """(frequency offsets, |F|² of the pulse convolved with a unit-peak Gaussian filter), unit energy."""
        t, step = self._mode_grid()
        n_fft = 1 << int(math.ceil(math.log2(max(len(t), 1) * 32)))
        spectrum = np.abs(np.fft.fftshift(np.fft.fft(self._pulse_amplitude(t), n_fft))) ** 2
        freqs = np.fft.fftshift(np.fft.fftfreq(n_fft, step))
        df = freqs[1] - freqs[0]
        spectrum = spectrum / (np.sum(spectrum) * df)  # a density of unit integral
        half = int(math.ceil(6.0 * sigma_filter_hz / df))
        kernel = np.exp(-0.5 * (np.arange(-half, half + 1) * df / sigma_filter_hz) ** 2)
        return freqs, np.convolve(spectrum, kernel, mode="same") * df

    def optical_spectrum(self, wavelengths_m: np.ndarray, resolution_m: float) -> np.ndarray:
        """Noise-free power (W) an OSA reads at the transmitter's monitor tap through a Gaussian filter.

        The filter has FWHM ``resolution_m`` (in wavelength, converted to frequency at each
        point: Δν = c Δλ/λ²) and unit peak transmission, so a narrow line reads its full power.
        The light is the pattern's pulses — each slot's power spectrum |F(ν - ν0 - Δν_k)|² of the
        carved pulse f (FFT of ``_pulse_amplitude`` on a 1 ps grid), with its energy — plus the
        inter-pulse leakage as a narrow line at ν0 + Δν_k (its own spectral width, ~1/(period), is
        far below any OSA resolution; its interference with the pulse is neglected). The mean over
        the pattern is what a swept OSA, slower than the pattern, records. The filter width is
        taken at the mean wavelength of the request (it varies by < 0.1 % over a 1 nm span).
        """
        p = self.params
        lam = np.asarray(wavelengths_m, dtype=float)
        with self.lock:
            if not self.source.enabled:
                return np.zeros_like(lam)
            train = self.pulse_train()
            energy = self.photon_energy_j()
            carrier = LIGHT_SPEED / self.source.wavelength_m
        tap = p.monitor_tap_ratio / (1.0 - p.monitor_tap_ratio)
        pattern_s = len(train.photons) * train.period_s
        nu = LIGHT_SPEED / lam - carrier  # offset from the carrier (Hz)
        centre = float(np.mean(lam)) if lam.size else self.source.wavelength_m
        sigma_filter = LIGHT_SPEED * resolution_m / centre**2 / (2.0 * math.sqrt(2.0 * math.log(2.0)))
        freqs, smoothed = self._filtered_pulse_spectrum(sigma_filter)
        out = np.zeros_like(lam)
        for photons, leak, shift in zip(train.photons, train.leakage_photons, train.frequency_shifts(), strict=True):
            pulse_w = photons * energy / pattern_s
            leak_w = leak * energy / pattern_s
            out += pulse_w * np.interp(nu - shift, freqs, smoothed, left=0.0, right=0.0)
            out += leak_w * np.exp(-0.5 * ((nu - shift) / sigma_filter) ** 2)
        return out * tap

    def measure_power(self, port: str, averaging_time_s: float) -> float:
        """A power-meter reading in W: the mean power plus noise; advances the virtual clock."""
        p = self.params
        with self.lock:
            mean = self.optical_power(port)
            averaging = max(averaging_time_s, 1e-4)
            sigma = math.hypot(p.power_meter_relative_noise * mean, p.power_meter_noise_floor_w) / math.sqrt(averaging / 1e-3)
            reading = mean + float(self.rng.normal(0.0, sigma))
            self.advance(averaging)
            return reading

    # -- detectors -----------------------------------------------------------------------------
    def detector_efficiency(self, detector: int, trigger_delay_s: float | None = None) -> float:
        """True detection efficiency of a gated detector at a trigger delay (mode dependence in time)."""
        p = self.params
        state = self.detectors[detector]
        delay = state.trigger_delay_s if trigger_delay_s is None else trigger_delay_s
        i = detector - 1
        arrival = p.detector_arrival_s[i]
        sigma = math.hypot(p.pulse_sigma_s, p.detector_jitter_s)
        inside = float(ndtr((delay + state.gate_width_s - arrival) / sigma) - ndtr((delay - arrival) / sigma))
        return state.efficiency_setting * p.detector_efficiency_scale[i] * inside

    def _detector_photons(self, train: PulseTrain) -> np.ndarray:
        """Mean photons per pulse reaching each detector (after fixed attenuator, VOA and the 50:50)."""
        loss = 10.0 ** (-(self.params.output_attenuation_db + self.voa_attenuation_db) / 10.0)
        return train.photons * loss * 0.5 * self.voa_enabled

    def click_probability(self, detector: int) -> np.ndarray:
        """Click probability per gate for each pulse slot of the pattern (before dead time)."""
        p = self.params
        with self.lock:
            state = self.detectors[detector]
            if not state.enabled:
                return np.zeros(1)
            train = self.pulse_train()
            eta = self.detector_efficiency(detector)
            i = detector - 1
            dark = 1.0 - (1.0 - p.dark_count_probability[i]) ** (state.gate_width_s / 2.5e-9)
            leak_loss = 10.0 ** (-(p.output_attenuation_db + self.voa_attenuation_db) / 10.0) * 0.5 * self.voa_enabled
            leak_rate = train.leakage_photons * leak_loss / (train.period_s * (1.0 - p.pulse_duty_cycle))
            leak_in_gate = leak_rate * max(state.gate_width_s - p.pulse_duty_cycle * train.period_s, 0.0)
            mean_photons = eta * self._detector_photons(train) + state.efficiency_setting * p.detector_efficiency_scale[i] * leak_in_gate
            return 1.0 - (1.0 - dark) * np.exp(-mean_photons)

    def detector_counts(self, detector: int, integration_s: float) -> tuple[int, int]:
        """(detections, gates) in ``integration_s``: gates at min(gate frequency, pulse rate), dead time in whole gates."""
        with self.lock:
            state = self.detectors[detector]
            gate_rate = min(state.gate_frequency_hz, 1.0 / self.pulse_period_s())
            gates = int(round(gate_rate * integration_s))
            click = float(np.mean(self.click_probability(detector)))
            blocked = math.floor(state.dead_time_s * gate_rate)
            effective = click / (1.0 + click * blocked)  # non-paralysable dead time, per gate
            detections = int(self.rng.binomial(gates, min(effective, 1.0))) if gates > 0 else 0
            self.advance(integration_s)
            return detections, gates

    def time_tags(self, channels: Sequence[int], duration_s: float) -> dict[int, np.ndarray]:
        """Time tags (int64 ps from now) per channel: 1, 2 detectors; 3 the pattern-start clock.

        Each detector is gated at min(gate frequency, pulse rate) at its trigger delay, as in
        ``detector_counts``; a gate every m-th pulse is modelled by thinning each pulse's click
        probability by 1/m. Clicks are sampled per pattern slot (binomial), placed at the pulse's
        arrival plus jitter, and thinned by the dead time. Vectorised: cost grows with the number
        of clicks, not of pulses.
        """
        p = self.params
        with self.lock:
            period = self.pulse_period_s()
            train = self.pulse_train()
            n_slots = len(train.photons)
            pattern_s = period * n_slots
            repeats = int(duration_s / pattern_s + 1e-9)  # tolerate rounding of whole patterns
            out: dict[int, np.ndarray] = {}
            for channel in channels:
                if channel == 3:
                    out[3] = np.round(np.arange(repeats) * pattern_s * 1e12).astype(np.int64)
                    continue
                if channel not in self.detectors:
                    raise ValueError(f"unknown time-tagger channel {channel}; 1, 2 are detectors, 3 the clock")
                gate_every = max(1.0, (1.0 / period) / self.detectors[channel].gate_frequency_hz)
                probs = np.resize(self.click_probability(channel), n_slots) / gate_every
                clicks = self.rng.binomial(repeats, probs)
                slot_index = np.repeat(np.arange(n_slots), clicks)
                rep_index = self.rng.integers(0, max(repeats, 1), size=slot_index.size)
                t = ((rep_index * n_slots + slot_index) * period + p.detector_arrival_s[channel - 1]
                     + train.delays()[slot_index])
                t = t + self.rng.normal(0.0, p.detector_jitter_s, size=t.size)
                tags = np.sort(np.round(t * 1e12).astype(np.int64))
                out[channel] = _apply_dead_time(tags, int(round(self.detectors[channel].dead_time_s * 1e12)))
            self.advance(duration_s)
            return out


def _carving_window(s: np.ndarray, on_time: float, sigma: float) -> np.ndarray:
    """The IM's pulse window [0, on_time) with Gaussian edges of standard deviation ``sigma`` (s since its start)."""
    if sigma > 0:
        return ndtr(s / sigma) - ndtr((s - on_time) / sigma)
    return ((s >= 0.0) & (s < on_time)).astype(float)


def _apply_dead_time(tags: np.ndarray, dead_ps: int) -> np.ndarray:
    """Drop tags within ``dead_ps`` of the previous *kept* tag (non-paralysable dead time).

    Two exact strategies, whichever loops less: (a) a tag at least ``dead_ps`` after its
    predecessor is always kept (the last kept tag is no later than the predecessor), so only the
    runs of close tags need a sequential pass; (b) jump from kept tag to kept tag with
    ``searchsorted`` — one step per kept tag, at most span/dead of them.
    """
    if tags.size < 2 or dead_ps <= 0:
        return tags
    close = np.diff(tags) < dead_ps
    conflicts = np.flatnonzero(close) + 1
    if conflicts.size == 0:
        return tags
    max_kept = int((tags[-1] - tags[0]) // dead_ps) + 1
    if max_kept < conflicts.size:
        kept_index = [0]
        i = 0
        while True:
            i = int(np.searchsorted(tags, tags[i] + dead_ps, side="left"))
            if i >= tags.size:
                return tags[kept_index]
            kept_index.append(i)
    keep = np.ones(tags.size, dtype=bool)
    last = int(tags[0])
    for i in conflicts.tolist():
        predecessor_kept_unconditionally = i == 1 or not close[i - 2]
        if predecessor_kept_unconditionally:
            last = int(tags[i - 1])
        if int(tags[i]) - last < dead_ps:
            keep[i] = False
        else:
            last = int(tags[i])
    return tags[keep]
