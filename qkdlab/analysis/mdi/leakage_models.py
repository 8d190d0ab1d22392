"""Signal states of a leaky polarization source: Bourassa et al., PRA 106, 062618 (2022), Sec. III.

One user's signal state for setting a is the single-photon encoded state times the leakage light
(Eq. (14)): |Ψ_a⟩ = |ψ_a⟩_enc ⊗ |χ_a⟩_leak, so its Gram matrix is the entrywise product
⟨Ψ_b|Ψ_a⟩ = ⟨ψ_b|ψ_a⟩ ⟨χ_b|χ_a⟩ (:func:`signal_gram`; ``G[b, a] = ⟨Ψ_b|Ψ_a⟩``, normalised states).
This Gram matrix is all the phase-error SDP (:mod:`.gram_sdp`, Eq. (2)) needs to know about a source.

Encoding (Eq. (11)). Setting a prepares the polarization cos θ_a |H⟩ + sin θ_a e^{iϕ_a} |V⟩ in the
frame of the phase modulator (PM): ϕ_a is the phase the PM drive applies (unwrapped: 3π/2 is not
−π/2 for the leakage light), θ_a = π/4 for a pure phase encoder. As in :mod:`qkdlab.model`, the
nominal phases are 0Z → 0, 1Z → π, 0X → φ_t, 1X → φ_t + π with the test-state azimuth φ_t = π/2
for BB84 (App. E 2 varies φ_t); the modulation flaw δ of the loss-tolerant family scales them to
(1 + δ/π) ϕ (Tamaki et al., PRA 90, 052314 (2014); the δ of App. E 1), and per-state offsets may
be added. :func:`encoded_jones` maps the states to the frame of :mod:`.detection` (key basis Z =
H/V there), |ϕ⟩ ↦ cos(ϕ/2)|H⟩ + sin(ϕ/2)|V⟩ up to a phase per state, which leaves the Gram matrix
unchanged up to per-state phases (a gauge the SDP is invariant under).

Leakage light with total mean photon number |α|² (the same vacuum probability e^{−|α|²} in all
three models, Sec. IV A):

- Model 1, :class:`FullInformationLeakage` (Eq. (15)): √ε|vac⟩ + √(1 − ε)|a⟩ with orthonormal
  |a⟩ per setting and ε = e^{−|α|²}: ⟨χ_b|χ_a⟩ = ε + (1 − ε) δ_ab.
- Model 2, :class:`CoherentLeakage` (Eq. (16)): a single-mode coherent state of amplitude α and
  the encoded polarization p_a: ⟨χ_b|χ_a⟩ = exp(−|α|² (1 − ⟨p_b|p_a⟩)).
- Model 3, :class:`TimeDependentLeakage` (Eqs. (11)-(13), inner products by Eq. (17)): constant
  intensity |α|²/Δ over the window Δ of :class:`~qkdlab.transmitter.PhaseProfile` (assumption (5) of
  Sec. III A), constant θ_a and the azimuth f(t) ϕ_a of App. D, so
  ⟨χ_b|χ_a⟩ = exp(−|α|² (1 − (1/Δ) ∫_0^Δ ⟨p_b(t)|p_a(t)⟩ dt)) with
  ⟨p_b(t)|p_a(t)⟩ = cos θ_b cos θ_a + sin θ_b sin θ_a e^{i f(t)(ϕ_a − ϕ_b)}. The integral is done
  by Gauss-Legendre quadrature on each linear piece of f, checked against twice the nodes; the
  quadrature error of each overlap is below ``quadrature_tolerance`` (default 1e-12) or
  :class:`~qkdlab.errors.SolverError` is raised. Leakage light outside the window has the same
  polarization for every setting and does not change any inner product.

Models 1 ⊒ 2, 3 in what they leak: the Model 2 and 3 states are images of the Model 1 states under
an isometry on Alice's side (same vacuum amplitude), so Model 1 never gives a smaller phase error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from ...errors import SolverError
from ...model import LeakageModel
from ...transmitter import PhaseProfile

__all__ = ["nominal_phases", "encoded_jones", "FullInformationLeakage", "CoherentLeakage", "TimeDependentLeakage",
           "LeakageLight", "leakage_light", "signal_gram"]

_NOMINAL = {"0Z": 0.0, "1Z": np.pi}
_GAUSS_NODES = 16


def nominal_phases(states: Sequence[str], test_azimuth: float = np.pi / 2, delta: float = 0.0,
                   offsets: ArrayLike | None = None) -> np.ndarray:
    """PM phases ϕ_a (rad) of state labels: 0Z → 0, 1Z → π, 0X → φ_t, 1X → φ_t + π, then × (1 + δ/π) + offsets.

    ``test_azimuth`` is φ_t of App. E 2 (π/2: BB84); ``delta`` the loss-tolerant modulation flaw;
    ``offsets`` per-state additive flaws (rad), same length as ``states``.
    """
    test = {"0X": test_azimuth, "1X": test_azimuth + np.pi}
    unknown = [s for s in states if s not in _NOMINAL and s not in test]
    if unknown:
        raise ValueError(f"unknown state labels {unknown}; the phase encoder prepares 0Z, 1Z, 0X, 1X")
    phases = (1.0 + delta / np.pi) * np.array([_NOMINAL.get(s, test.get(s)) for s in states], dtype=float)
    if offsets is not None:
        offsets = np.asarray(offsets, dtype=float)
        if offsets.shape != phases.shape:
            raise ValueError(f"offsets of shape {offsets.shape} do not match the {len(states)} states")
        phases = phases + offsets
    return phases


def _angles(phases: ArrayLike, polar_angles: ArrayLike | None) -> tuple[np.ndarray, np.ndarray]:
    phi = np.asarray(phases, dtype=float)
    theta = np.full_like(phi, np.pi / 4) if polar_angles is None else np.asarray(polar_angles, dtype=float)
    if phi.ndim != 1 or theta.shape != phi.shape:
        raise ValueError(f"phases {phi.shape} and polar angles {theta.shape} must be 1-D of equal length")
    return phi, theta


def _pm_jones(phases: ArrayLike, polar_angles: ArrayLike | None) -> np.ndarray:
    phi, theta = _angles(phases, polar_angles)
    return np.stack([np.cos(theta), np.sin(theta) * np.exp(1j * phi)], axis=1)


def encoded_jones(phases: ArrayLike, polar_angles: ArrayLike | None = None) -> np.ndarray:
    """Jones vectors (n, 2) of the encoded states in the frame of :mod:`.detection` (Z = H/V).

    The PM-frame state cos θ|H⟩ + sin θ e^{iϕ}|V⟩ is mapped by the fixed unitary |D⟩ ↦ |H⟩,
    |A⟩ ↦ i|V⟩, so θ = π/4 gives e^{iϕ/2}(cos(ϕ/2)|H⟩ + sin(ϕ/2)|V⟩) (0Z = H, 1Z = V, 0X = D).
    """
    to_logical = np.array([[1.0, 1.0], [1j, -1j]]) / np.sqrt(2.0)
    return _pm_jones(phases, polar_angles) @ to_logical.T


def _coherent_overlaps(mean_photons: float, polarization_overlaps: np.ndarray) -> np.ndarray:
    """Eq. (17) for coherent states of equal intensity: exp(−|α|² (1 − ⟨p_b|p_a⟩)) entrywise."""
    return np.exp(-mean_photons * (1.0 - polarization_overlaps))


def _check_mean_photons(mean_photons: float) -> None:
    if not np.isfinite(mean_photons) or mean_photons < 0:
        raise ValueError(f"leakage mean photon number {mean_photons} must be finite and non-negative")


@dataclass(frozen=True)
class FullInformationLeakage:
    """Model 1 (Eq. (15)): vacuum with amplitude e^{−|α|²/2}, otherwise full encoding information."""

    mean_photons: float

    def __post_init__(self) -> None:
        _check_mean_photons(self.mean_photons)

    def overlaps(self, phases: ArrayLike, polar_angles: ArrayLike | None = None) -> np.ndarray:
        """⟨χ_b|χ_a⟩ = ε + (1 − ε) δ_ab with ε = e^{−|α|²}, shape (n, n)."""
        phi, _ = _angles(phases, polar_angles)
        epsilon = np.exp(-self.mean_photons)
        return epsilon + (1.0 - epsilon) * np.eye(len(phi))


@dataclass(frozen=True)
class CoherentLeakage:
    """Model 2 (Eq. (16)): a time-independent coherent state |α p_a⟩ with the encoded polarization."""

    mean_photons: float

    def __post_init__(self) -> None:
        _check_mean_photons(self.mean_photons)

    def overlaps(self, phases: ArrayLike, polar_angles: ArrayLike | None = None) -> np.ndarray:
        """⟨χ_b|χ_a⟩ = exp(−|α|² (1 − ⟨p_b|p_a⟩)), shape (n, n)."""
        jones = _pm_jones(phases, polar_angles)
        return _coherent_overlaps(self.mean_photons, jones.conj() @ jones.T)


@dataclass(frozen=True)
class TimeDependentLeakage:
    """Model 3 (Eqs. (11)-(13), (17)): a coherent state whose azimuth follows f(t) ϕ_a over the window Δ."""

    mean_photons: float
    profile: PhaseProfile
    quadrature_tolerance: float = 1e-12

    def __post_init__(self) -> None:
        _check_mean_photons(self.mean_photons)

    def _mean_phase_factor(self, phase_differences: np.ndarray, nodes: int) -> np.ndarray:
        """(1/Δ) ∫_0^Δ exp(i c f(t)) dt for every c, Gauss-Legendre with ``nodes`` per linear piece of f."""
        x, w = np.polynomial.legendre.leggauss(nodes)
        edges = self.profile.breakpoints_s
        half = np.diff(edges) / 2.0
        t = ((edges[:-1] + edges[1:]) / 2.0)[:, None] + half[:, None] * x[None, :]
        weights = (half[:, None] * w[None, :]).ravel() / self.profile.window_s
        f = self.profile.fraction(t.ravel())
        return np.exp(1j * phase_differences[..., None] * f) @ weights

    def overlaps(self, phases: ArrayLike, polar_angles: ArrayLike | None = None) -> np.ndarray:
        """⟨χ_b|χ_a⟩ = exp(−|α|² (1 − (1/Δ)∫⟨p_b(t)|p_a(t)⟩dt)), shape (n, n); raises SolverError if
        the quadrature misses ``quadrature_tolerance``."""
        phi, theta = _angles(phases, polar_angles)
        differences = phi[None, :] - phi[:, None]                          # ϕ_a − ϕ_b at [b, a]
        coarse = self._mean_phase_factor(differences, _GAUSS_NODES)
        fine = self._mean_phase_factor(differences, 2 * _GAUSS_NODES)
        error = float(np.max(np.abs(fine - coarse)))
        if error > self.quadrature_tolerance:
            raise SolverError(f"Model 3 leakage overlaps: quadrature error {error:.1e} exceeds the tolerance "
                              f"{self.quadrature_tolerance:.1e} (phase differences up to "
                              f"{np.max(np.abs(differences)):.3g} rad); loosen the tolerance or check the phases")
        cos, sin = np.cos(theta), np.sin(theta)
        polarization = np.outer(cos, cos) + np.outer(sin, sin) * fine
        return _coherent_overlaps(self.mean_photons, polarization)


LeakageLight = FullInformationLeakage | CoherentLeakage | TimeDependentLeakage


def leakage_light(leakage: LeakageModel, model: Literal[1, 2, 3] = 3) -> LeakageLight:
    """The leakage light of a calibrated :class:`~qkdlab.model.LeakageModel` under Model 1, 2 or 3.

    |α|² is the upper bound of ``mean_photons_per_slot`` (its value if no upper bound is stated),
    all of it counted in the window Δ (conservative: more photons in the window only make the
    states more distinguishable). Model 3 needs ``pm_electrode_transit_s`` and
    ``drive_pulse_width_s``; without a Faraday mirror its leakage light carries no encoding (f ≡ 0).
    """
    bound = leakage.mean_photons_per_slot
    mean_photons = bound.upper if bound.upper is not None else bound.value
    if model == 1:
        return FullInformationLeakage(mean_photons)
    if model == 2:
        return CoherentLeakage(mean_photons)
    if model != 3:
        raise ValueError(f"leakage model {model!r} is not one of 1, 2, 3 (Bourassa et al. Sec. IV A)")
    if leakage.pm_electrode_transit_s is None or leakage.drive_pulse_width_s is None:
        raise ValueError("Model 3 needs the PM electrode transit time and drive pulse width in the LeakageModel "
                         "(pm_electrode_transit_s, drive_pulse_width_s); use Model 1 or 2 otherwise")
    profile = PhaseProfile(leakage.pm_electrode_transit_s, leakage.drive_pulse_width_s, leakage.faraday_mirror)
    return TimeDependentLeakage(mean_photons, profile)


def signal_gram(phases: ArrayLike, leakage: LeakageLight | None = None,
                polar_angles: ArrayLike | None = None) -> np.ndarray:
    """Gram matrix G[b, a] = ⟨ψ_b|ψ_a⟩⟨χ_b|χ_a⟩ of one user's signal states (Eq. (14)), shape (n, n).

    ``phases``/``polar_angles``: (ϕ_a, θ_a) of Eq. (11) (θ = π/4 if omitted); ``leakage=None``:
    no leakage light (ideal qubits).
    """
    jones = _pm_jones(phases, polar_angles)
    gram = jones.conj() @ jones.T
    if leakage is not None:
        gram = gram * leakage.overlaps(phases, polar_angles)
    return gram
