"""The worst case of a calibrated η table over its confidence box: the emulation hull.

A calibrated receiver is known only up to a box: detector d's efficiency for light in mode t (a
gate delay) lies in [η_lo[d, t], η_hi[d, t]]. The key rate is not monotone in the single entries,
so no single table in the box is known to be the worst. docs/mismatch-calibrated.md proves
instead, for the mode-diagonal threshold-detector model of Zhang et al., PRR 3, 013076 (2021),
Sec. II:

1. *Emulation.* If Bob's receiver has modes with efficiency vectors v_1 … v_K (one entry per
   detector), Eve can make a photon look, to every detector and for every photon number, like a
   photon in a mode whose vector is Σ_c w_c v_c (w a probability vector): the isometry
   |p, m⟩ ↦ |p⟩ ⊗ Σ_c √w_c |c, m⟩ on the mode degree of freedom pulls every no-click operator
   Γ_n(𝟙 − Q_S) back exactly, because Q_S is diagonal in the mode. Loss (vector 0) is free.
   (Lemmas 1-3 and the theorem of the doc page.)
   Distinct target modes need distinct copies |c, m⟩ of each vertex mode; two copies of every
   vertex already give Eve everything any number of copies gives (Schur-Weyl: the polarisation
   space is two-dimensional).
2. *Hence* the key rate computed for the table of the non-zero vertices of
   conv({0} ∪ corners of every box), with every photon-number quantity of n ≥ 2 photons taken over
   the *doubled* vertex table, is a lower bound on the rate of every table whose columns lie in
   the boxes (and of every mode whose vector is a mixture of them: pulses between two scanned
   delays, any timing jitter). The rate is computed on the doubled table, blocked by mode
   occupation (``build_problem(..., sectors=True)``), which keeps its blocks small.

:func:`emulation_hull` gives the vertex table; :func:`doubled` the table with two copies of each
mode; :func:`sector_minima` the photon-number minima d_n, e_n of an active receiver exactly but
cheaply, block by block in the photon numbers of the single modes (every click operator commutes
with them), which is what makes the doubled table affordable.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import scipy.spatial

from qkdlab.model import DetectorTable

from .bounds import PhotonBoundError, active_click_operators, monotonicity_failure
from .fock import fock_basis, second_quantised
from .optics import ALICE_POVM, MismatchInputError, active_fine_povm

__all__ = ["CalibratedHull", "calibrated_hull", "doubled", "emulation_hull", "sector_minima"]

#: Vertices closer than this (absolute efficiency) are one vertex.
_SAME = 1e-12


def emulation_hull(lower: np.ndarray, upper: np.ndarray, max_vertices: int | None = None) -> np.ndarray:
    """The non-zero vertices of conv({0} ∪ every corner of the boxes [lower, upper]) as a table
    (detectors × vertices), sorted by column. ``lower``/``upper``: detectors × modes.

    ``max_vertices`` (two detectors only): at most that many non-zero vertices, by enlarging the
    polygon (:func:`_enclose`); a larger hull is still a valid worst case, only a more pessimistic
    one, and the vertex count is the number of modes the engine must carry."""
    lo, hi = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    if lo.shape != hi.shape or lo.ndim != 2 or lo.shape[0] < 2 or lo.shape[1] < 1:
        raise MismatchInputError(f"confidence box of shapes {lo.shape} and {hi.shape}: give lower and upper "
                                 "bounds as detectors × modes tables of the same shape (≥ 2 detectors)")
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))) or lo.min() < 0 or hi.max() > 1 or np.any(lo > hi):
        raise MismatchInputError("confidence box: every efficiency bound must satisfy 0 ≤ lower ≤ upper ≤ 1")
    d = lo.shape[0]
    corners = np.array([np.where(np.array(pick, dtype=bool)[:, None], hi, lo).T
                        for pick in itertools.product((0, 1), repeat=d)]).reshape(-1, d)
    points = np.unique(np.vstack([np.zeros((1, d)), corners]).round(15), axis=0)
    try:
        vertices = points[scipy.spatial.ConvexHull(points).vertices]
    except scipy.spatial.QhullError:  # flat point set: every point is a (redundant but valid) generator
        vertices = points
    if max_vertices is not None:
        if max_vertices < 1:
            raise MismatchInputError(f"max_vertices={max_vertices}: the table needs at least one mode")
        if d == 2 and len(vertices) > 2:
            nonzero = vertices[np.abs(vertices).max(axis=1) > _SAME]
            vertices = _enclose(vertices, max_vertices + 1, nonzero.min(axis=0), nonzero.max(axis=0))
    vertices = vertices[np.abs(vertices).max(axis=1) > _SAME]
    if not len(vertices):
        raise MismatchInputError("confidence box: every efficiency is 0, nothing is ever detected")
    return np.array(sorted(map(tuple, vertices))).T


def _cross(a: np.ndarray, b: np.ndarray) -> float:
    return float(a[0] * b[1] - a[1] * b[0])


def _enclose(polygon: np.ndarray, target: int, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """A convex polygon ⊇ ``polygon`` (counter-clockwise, contains 0) with ≤ ``target`` vertices,
    if the greedy step finds one: an edge (v_i, v_i+1) is removed by extending its two neighbouring
    edges to their intersection p (the added area is the triangle v_i p v_i+1), always the step that
    adds the least area; the origin is kept and p must lie in [low, high] (the range of the
    vertices' own entries, so that no new blind detector appears). Containment holds by
    construction (each step adds a triangle), so any stopping point is valid."""
    poly = [np.asarray(v, dtype=float) for v in polygon]
    while len(poly) > max(target, 3):
        best = None
        k = len(poly)
        for i in range(k):
            a, b, c, e = poly[i - 1], poly[i], poly[(i + 1) % k], poly[(i + 2) % k]
            if not np.any(b) or not np.any(c):  # keep the origin
                continue
            d1, d2 = b - a, c - e
            den = _cross(d1, d2)
            if abs(den) < 1e-15:
                continue
            t = _cross(c - a, d2) / den
            p = a + t * d1
            if t < 1 - 1e-12 or np.any(p < low - 1e-15) or np.any(p > high + 1e-15):
                continue
            area = 0.5 * abs(_cross(p - b, c - b))
            if _cross(b - a, p - b) < -1e-15 or _cross(p - b, c - p) < -1e-15:
                continue
            if best is None or area < best[0]:
                best = (area, i, np.clip(p, low, high))
        if best is None:
            break
        _, i, p = best
        j = (i + 1) % len(poly)
        poly[i] = p
        del poly[j]
    return np.array(poly)


def doubled(table: np.ndarray) -> np.ndarray:
    """The table with every mode twice (the copies Eve needs for distinct emulated modes)."""
    return np.repeat(np.asarray(table, dtype=float), 2, axis=1)


def _sector_operators(table: np.ndarray, occupation: tuple[int, ...]) -> dict[str, np.ndarray]:
    """F_DC and F_EE (Alice ⊗ Bob) on the sector with ``occupation[c]`` photons in mode c: every
    no-click operator there is ⊗_c Γ_{n_c}(𝟙 − Q_S restricted to mode c)."""
    occupied = [(c, k) for c, k in enumerate(occupation) if k]

    def no_click(pols: tuple[tuple[int, str], ...]) -> np.ndarray:
        out = np.ones((1, 1))
        for c, k in occupied:
            a = np.eye(2) - sum((table[row, c] * ALICE_POVM[p] for row, p in pols), np.zeros((2, 2)))
            out = np.kron(out, second_quantised(a, k))
        return out

    return active_click_operators(active_fine_povm(no_click))


def sector_minima(table: np.ndarray, top: int = 4) -> dict[str, np.ndarray]:
    """d_n, e_n (n = 0..top) of the active receiver with η ``table`` (2 × M), as
    :func:`.bounds.photon_number_minima` computes them, and with the same monotonicity check (d_n ≥ d_3,
    e_n ≥ e_3 for 3 ≤ n ≤ top). Exact: Γ_n(𝟙 − Q_S) keeps each mode's photon number (Q_S is
    diagonal in the mode), so the n-photon block is the direct sum over occupations (n_1 … n_M)
    of ⊗_c Sym^{n_c}(ℂ²), each at most 2^n-dimensional, instead of one block of C(n + 2M − 1, n)."""
    eta = np.asarray(table, dtype=float)
    if eta.ndim != 2 or eta.shape[0] != 2:
        raise MismatchInputError(f"sector minima are written for the active receiver (2 × M table), got {eta.shape}")
    if top < 3:
        raise PhotonBoundError(f"top={top}: the monotonicity check needs photon numbers up to at least 3")
    mins: dict[str, list[float]] = {"double": [], "error": []}
    for n in range(top + 1):
        best = {"double": np.inf, "error": np.inf}
        for occupation in fock_basis(n, eta.shape[1]):
            for name, op in _sector_operators(eta, occupation).items():
                best[name] = min(best[name], float(np.linalg.eigvalsh(op)[0]))
        for name in mins:
            mins[name].append(best[name])
    out = {k: np.array(v) for k, v in mins.items()}
    for name in ("double", "error"):
        failure = monotonicity_failure(out[name], name, 3, 3)
        if failure:
            raise PhotonBoundError(failure)
    return out


@dataclass(frozen=True)
class CalibratedHull:
    """The worst-case η table of a calibrated receiver: ``table`` (2 × K hull vertices; the rate is
    computed on :attr:`analysis_table`, every vertex twice), ``minima`` (d_n, e_n of the doubled
    table, monotonicity checked up to ``checked_up_to``) for the squasher's b_k, ``point`` the point
    estimates at the operating delay (the receiver a simulated link's light meets) and the
    assumption to print with every rate."""

    table: np.ndarray
    minima: dict[str, np.ndarray]
    point: np.ndarray
    delays_used: int
    checked_up_to: int
    assumption: str

    @property
    def analysis_table(self) -> np.ndarray:
        """The doubled vertex table the key rate is computed on (with ``sectors=True``)."""
        return doubled(self.table)


def calibrated_hull(detectors: DetectorTable, *, min_relative_efficiency: float = 0.1, max_vertices: int = 4,
                    check_up_to: int = 4) -> CalibratedHull:
    """:func:`emulation_hull` of a DetectorTable's confidence boxes over the delays Eve is taken to
    reach: those where the larger point estimate is ≥ ``min_relative_efficiency`` of the peak (the
    same window ``two_mode`` uses; an ASSUMPTION — outside it the boxes reach η = 0 for one detector,
    and a blind detector leaves the squasher no photon-number bound)."""
    if len(detectors.detectors) != 2:
        raise MismatchInputError(f"the detector table has {len(detectors.detectors)} detectors; the calibrated "
                                 "worst case is written for the active receiver's two")
    value = np.array([[b.value for b in row] for row in detectors.efficiency], dtype=float)
    lower = np.array([[0.0 if b.lower is None else b.lower for b in row] for row in detectors.efficiency])
    upper = np.array([[1.0 if b.upper is None else b.upper for b in row] for row in detectors.efficiency])
    keep = value.max(axis=0) >= min_relative_efficiency * value.max()
    if not value.max() > 0:
        raise MismatchInputError("the detector table shows no efficiency above zero at any delay")
    table = emulation_hull(lower[:, keep], upper[:, keep], max_vertices)
    minima = sector_minima(doubled(table), check_up_to)
    op = int(np.argmin(np.abs(np.asarray(detectors.delays_s) - detectors.operating_delay_s)))
    assumption = (f"η table: the {table.shape[1]} non-zero vertices of conv({{0}} ∪ corners of the confidence boxes) "
                  f"over the {int(keep.sum())} delays with the larger η ≥ {min_relative_efficiency:g} of the peak "
                  f"(ASSUMPTION: Eve's modes are mixtures of those delays), enlarged to ≤ {max_vertices} vertices; "
                  "every vertex doubled (a worst case over every table in the boxes, docs/mismatch-calibrated.md)")
    return CalibratedHull(table, minima, value[:, op].copy(), int(keep.sum()), check_up_to, assumption)
