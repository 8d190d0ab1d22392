"""The light between pulses: where it is (the inter-pulse window) and what phase it carries.

``between_pulses`` is the inter-pulse window that the leakage-light scan records and the
calibration reads back (defined once so both agree).

Fractional phase of the leakage light through a phase modulator with a Faraday mirror:

Bourassa et al., PRA 106, 062618 (2022), App. D, Eqs. (D2)-(D3) (their Fig. 2 and Fig. 8). The
encoded pulse co-propagates with its square drive pulse through the phase modulator (PM) and picks
up the full phase φ. The leakage light between pulses passes the undriven PM on its way to the
Faraday mirror and, on its way back, counter-propagates against the next drive pulse
``A(x) = H(x + 2L + w) − H(x + 2L)`` (width ``w``, electrode transit time ``L``). The slice of
leakage light that crosses x = 0 at time ``t`` (the paper's Fig. 7 frame) acquires the fraction

    f(t) = (1/L) ∫_t^{t+L} A(t − 2τ) B(t) dτ,   B(t) = H(t)                          (D2)-(D3)

of the pulse's phase. ``A(t − 2τ) = 1`` for τ ∈ (t/2 + L, t/2 + L + w/2], so f is the length of
that interval's overlap with [t, t + L] over L: a piecewise-linear trapezoid on the window
0 < t < 2L + w (the paper's Δ = 500 ps for L = 150 ps, w = 200 ps) with breakpoints at 2L and w
and maximum min(w/2, L)/L (2/3 for the paper's values). Without a Faraday mirror the leakage
light never meets a drive pulse and f = 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["between_pulses", "LeakageTraces", "leakage_phase_fraction", "PhaseProfile"]


def between_pulses(times: np.ndarray, period: float, duty: float) -> np.ndarray:
    """Samples well away from the pulse windows (a guard of 10 % of the period on both sides).

    ``times`` relative to the start of a pulse slot, ``period`` the slot length, ``duty`` the
    pulse's fraction of the slot.
    """
    phase = np.mod(times, period) / period
    return (phase > duty + 0.1) & (phase < 0.9)


@dataclass(frozen=True)
class LeakageTraces:
    """The scope traces of a leakage-light run, on the slot clock (read once for scan and calibration).

    ``times`` (s) are relative to the start of a pulse slot; ``ranges`` ("full"/"zoom") and
    ``lights`` ("signal"/"dark") label each acquisition (row) of ``volts`` and ``clipped``.
    """

    times: np.ndarray
    period: float
    duty: float
    ranges: np.ndarray
    lights: np.ndarray
    volts: np.ndarray
    clipped: np.ndarray

    @classmethod
    def from_run(cls, run: Any) -> LeakageTraces:
        """Read a leakage-light run (any object with the ``RunData`` accessors ``data``/``parameter``)."""
        times = run.data("traces", "time").to("s").magnitude - float(run.parameter("trigger_delay").to("s").magnitude)
        return cls(times=times, period=1.0 / float(run.parameter("pulse_rate").to("Hz").magnitude),
                   duty=float(run.parameter("pulse_duty_cycle")),
                   ranges=np.asarray(run.data("traces", "range")).astype(str),
                   lights=np.asarray(run.data("traces", "light")).astype(str),
                   volts=run.data("traces", "volts").to("V").magnitude,
                   clipped=run.data("traces", "clipped").magnitude.astype(bool))

    @property
    def in_pulse(self) -> np.ndarray:
        """Samples inside the pulse windows."""
        return np.mod(self.times, self.period) / self.period < self.duty

    @property
    def between(self) -> np.ndarray:
        """Samples of the inter-pulse window (:func:`between_pulses`)."""
        return between_pulses(self.times, self.period, self.duty)

    def select(self, vertical_range: str, light: str) -> np.ndarray:
        """Mask of the acquisitions of one vertical range and light ("signal" or "dark")."""
        return (self.ranges == vertical_range) & (self.lights == light)


def _check_geometry(electrode_transit_s: float, drive_pulse_width_s: float) -> None:
    if not (electrode_transit_s > 0 and drive_pulse_width_s > 0):
        raise ValueError(f"electrode transit {electrode_transit_s} and drive pulse width {drive_pulse_width_s} "
                         "must both be positive (seconds)")


def leakage_phase_fraction(t_s: ArrayLike, electrode_transit_s: float, drive_pulse_width_s: float) -> np.ndarray:
    """f(t) of Eq. (D3): the fraction of the pulse's phase the leakage slice ``t_s`` picks up.

    ``electrode_transit_s`` is L, ``drive_pulse_width_s`` is w (both > 0, seconds or any common
    unit of time). Evaluated in closed form (the overlap of two intervals), exact for square pulses.
    """
    _check_geometry(electrode_transit_s, drive_pulse_width_s)
    t = np.asarray(t_s, dtype=float)
    length, width = electrode_transit_s, drive_pulse_width_s
    lo = np.maximum(t, t / 2.0 + length)
    hi = np.minimum(t + length, t / 2.0 + length + width / 2.0)
    return np.where(t >= 0.0, np.clip(hi - lo, 0.0, None) / length, 0.0)


@dataclass(frozen=True)
class PhaseProfile:
    """The leakage phase profile of one PM geometry (App. D): f(t) on its window [0, 2L + w].

    ``faraday_mirror=False`` gives f ≡ 0 (the leakage light passes the PM once, undriven).
    """

    electrode_transit_s: float
    drive_pulse_width_s: float
    faraday_mirror: bool = True

    def __post_init__(self) -> None:
        _check_geometry(self.electrode_transit_s, self.drive_pulse_width_s)

    @property
    def window_s(self) -> float:
        """Δ = 2L + w: the duration of leakage light that carries encoding information."""
        return 2.0 * self.electrode_transit_s + self.drive_pulse_width_s

    @property
    def breakpoints_s(self) -> np.ndarray:
        """Sorted times 0, 2L, w, Δ between which f is linear."""
        return np.unique([0.0, 2.0 * self.electrode_transit_s, self.drive_pulse_width_s, self.window_s])

    @property
    def peak(self) -> float:
        """max f = min(w/2, L)/L (0 without a Faraday mirror)."""
        if not self.faraday_mirror:
            return 0.0
        return min(self.drive_pulse_width_s / 2.0, self.electrode_transit_s) / self.electrode_transit_s

    def fraction(self, t_s: ArrayLike) -> np.ndarray:
        """f(t) of Eq. (D3) (zeros without a Faraday mirror)."""
        f = leakage_phase_fraction(t_s, self.electrode_transit_s, self.drive_pulse_width_s)
        return f if self.faraday_mirror else np.zeros_like(f)
