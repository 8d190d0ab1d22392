"""Statistics p(x, y) for the mismatch analysis: the paper's simulated channel (Zhang et al.,
PRR 3, 013076, Sec. IV A) for design studies, and observed counts the way a lab has them.

Convention: p(x, y) = Tr[(M_x^A ⊗ M_y^B) ρ_AB] with Alice's projectors of Eq. (A1) and ρ_A = 𝟙/2
(source replacement with the maximally entangled state of Eq. (1)), so each of Alice's bases sums
to 1, every row x sums to ½, and p(x, y) = ½ P(y | Alice sent x). The experiment's joint
probability including Alice's basis choice is ½ p(x, y). Rows are x = H, V, D, A; columns Bob's
fine-grained outcomes (:attr:`Receiver.outcomes` with ``statistics="fine"``).

Simulated channel (Sec. IV A): with probability 1 − r Alice's photon passes a depolarising channel
(1 − ω)ρ + ω𝟙/2 and a loss of transmission t; with probability r Eve resends the randomly
polarised two-photon state ρ_2 of Eq. (29) (m = 2), which also passes the loss t photon by photon
(this is what makes the observed statistics depend on t and η only through tη at r > 0, as the
caption of Fig. 6 states). Every signal is in one spatio-temporal mode, uniformly random over the
M modes. The θ-average of Eq. (29) is a trigonometric polynomial of degree 4, integrated exactly by
16 equally spaced angles.
"""

from __future__ import annotations

import math

import numpy as np

from .fock import n_photon_state
from .optics import MismatchInputError, Receiver

__all__ = ["ALICE_ORDER", "simulate_statistics", "statistics_from_counts", "validate_statistics"]

ALICE_ORDER = ("H", "V", "D", "A")
_ANGLE_OF = {"H": 0.0, "V": math.pi / 2, "D": math.pi / 4, "A": -math.pi / 4}
_THETAS = np.linspace(0, 2 * math.pi, 16, endpoint=False)
#: Tolerance on the normalisation of given statistics.
_NORM_TOL = 1e-9


def _pol(theta: float) -> np.ndarray:
    return np.array([math.cos(theta), math.sin(theta)])


def _in_mode(pol: np.ndarray, mode: int, modes: int) -> np.ndarray:
    v = np.zeros(2 * modes)
    v[[mode, modes + mode]] = pol
    return v


def _received(receiver: Receiver, x: str, omega: float, r: float, t: float) -> dict[int, np.ndarray]:
    """Bob's state, per photon-number block, when Alice sends x."""
    m = receiver.modes
    d1 = receiver.block_dim(1)
    states = {0: np.zeros((1, 1)), 1: np.zeros((d1, d1)), 2: np.zeros((receiver.block_dim(2),) * 2)}
    sx = _pol(_ANGLE_OF[x])
    rho_pol = (1 - omega) * np.outer(sx, sx) + omega * np.eye(2) / 2
    for mode in range(m):
        w = 1.0 / m
        basis = [_in_mode(np.eye(2)[i], mode, m) for i in range(2)]
        single = sum(rho_pol[i, j] * np.outer(basis[i], basis[j]) for i in range(2) for j in range(2))
        # single-photon branch: n = 1 with t, vacuum with 1 - t
        states[1] += w * (1 - r) * t * single
        states[0] += w * (1 - r) * (1 - t) * np.ones((1, 1))
        # two-photon branch: both survive t², one survives 2t(1-t) (randomly polarised), none (1-t)²
        two = sum(np.outer(s, s) for s in (n_photon_state(_in_mode(_pol(th), mode, m), 2) for th in _THETAS))
        states[2] += w * r * t * t * two / len(_THETAS)
        states[1] += w * r * 2 * t * (1 - t) * sum(np.outer(b, b) for b in basis) / 2
        states[0] += w * r * (1 - t) ** 2 * np.ones((1, 1))
    return states


def simulate_statistics(receiver: Receiver, misalignment: float, multiphoton: float, transmission: float
                        ) -> np.ndarray:
    """Fine-grained p(x, y) of the simulated channel (rows H, V, D, A)."""
    for name, v in (("misalignment ω", misalignment), ("multi-photon fraction r", multiphoton),
                    ("transmission t", transmission)):
        if not math.isfinite(v) or not 0 <= v <= 1:
            raise MismatchInputError(f"{name} = {v!r} must lie in [0, 1]")
    fine = Receiver(receiver.scheme, receiver.efficiency, "fine")
    out = np.zeros((4, len(fine.outcomes)))
    for i, x in enumerate(ALICE_ORDER):
        states = _received(fine, x, misalignment, multiphoton, transmission)
        for n, rho in states.items():
            povm = fine.povm(n)
            for j, y in enumerate(fine.outcomes):
                out[i, j] += 0.5 * float(np.vdot(povm[y], rho).real)
    return np.clip(out, 0.0, None)


def validate_statistics(receiver: Receiver, p: np.ndarray) -> np.ndarray:
    """Check fine-grained p(x, y): shape, nonnegative, each of Alice's rows sums to ½."""
    fine_outcomes = Receiver(receiver.scheme, receiver.efficiency, "fine").outcomes
    p = np.asarray(p, dtype=float)
    if p.shape != (4, len(fine_outcomes)):
        raise MismatchInputError(f"statistics of shape {p.shape}: expected (4, {len(fine_outcomes)}) = "
                                 f"Alice's H, V, D, A × Bob's {', '.join(fine_outcomes)}")
    if not np.all(np.isfinite(p)) or p.min() < 0:
        raise MismatchInputError("statistics contain negative or non-finite probabilities; they must be a distribution")
    rows = p.sum(axis=1)
    if np.abs(rows - 0.5).max() > _NORM_TOL:
        raise MismatchInputError(
            f"statistics are not a distribution: rows sum to {np.round(rows, 12).tolist()}, each of Alice's states "
            "must sum to 1/2 (p(x,y) = P(y|x)/2); use statistics_from_counts for raw counts")
    return p


def statistics_from_counts(receiver: Receiver, counts: np.ndarray) -> np.ndarray:
    """p(x, y) = ½ n(x, y)/Σ_y n(x, y) from counts per (Alice's state, Bob's fine outcome).

    Alice's state probabilities are taken as nominal (½ per state within a basis, the ρ_A = 𝟙/2 of
    the source-replacement picture), so sampling fluctuations of her choices do not make the
    statistics inconsistent. Asymptotic: finite-size corrections are not applied."""
    counts = np.asarray(counts, dtype=float)
    fine_outcomes = Receiver(receiver.scheme, receiver.efficiency, "fine").outcomes
    if counts.shape != (4, len(fine_outcomes)):
        raise MismatchInputError(f"counts of shape {counts.shape}: expected (4, {len(fine_outcomes)})")
    if not np.all(np.isfinite(counts)) or counts.min() < 0:
        raise MismatchInputError("counts must be finite and ≥ 0")
    totals = counts.sum(axis=1)
    if totals.min() <= 0:
        raise MismatchInputError(f"no rounds recorded for Alice's state {ALICE_ORDER[int(np.argmin(totals))]}")
    return 0.5 * counts / totals[:, None]
