"""The worst case of a calibrated η table over its confidence box (docs/decoy-mismatch.md, "A
calibrated table"): the emulation lemma on POVM statistics, the hull, the mode-sector reductions,
and the rate with the doubled hull against tables inside the box."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial import Delaunay

from qkdlab.analysis.mismatch import (
    MismatchInputError,
    Receiver,
    mismatch_key_rate,
    photon_number_minima,
    simulate_statistics,
)
from qkdlab.analysis.mismatch.fock import _expand, _sqrt_factorials, fock_basis
from qkdlab.analysis.mismatch.hull import calibrated_hull, doubled, emulation_hull, sector_minima
from qkdlab.model import Bound, DetectorTable

OMEGA, R, T = 0.05, 0.05, 0.5


def lift(v: np.ndarray, n: int) -> np.ndarray:
    """Γ_n(V) for a single-photon isometry V (d_out × d_in): n photons, each mapped by V."""
    d_out, d_in = v.shape
    out_sq = _sqrt_factorials(n, d_out)
    basis = fock_basis(n, d_in)
    gamma = np.zeros((len(out_sq), len(basis)))
    for i, occ in enumerate(basis):
        cols = [v[:, j] for j, k in enumerate(occ) for _ in range(k)]
        gamma[:, i] = _expand(cols, d_out) * out_sq / math.sqrt(math.prod(math.factorial(k) for k in occ))
    return gamma


def emulation_isometry(weights: np.ndarray, vertices: int) -> np.ndarray:
    """|p, m⟩ ↦ |p⟩ ⊗ Σ_c √w_mc |c, copy m⟩ (copy m of vertex c is big mode c·K' + m; the last
    weight of each row goes to a zero-efficiency vertex: loss)."""
    targets = weights.shape[0]
    big = (vertices + 1) * targets
    v = np.zeros((2 * big, 2 * targets))
    for pol in range(2):
        for m in range(targets):
            for c in range(vertices + 1):
                v[pol * big + c * targets + m, pol * targets + m] = math.sqrt(weights[m, c])
    return v


@pytest.mark.parametrize("seed", [0, 1])
def test_emulation_lemma_reproduces_every_outcome_for_up_to_three_photons(seed: int) -> None:
    """Eve's isometry onto copies of the vertex modes (and loss) pulls Bob's whole fine-grained POVM
    back to the POVM of modes whose efficiencies are the mixtures: every click pattern, including
    double clicks, for n ≤ 3 photons, and the statistics of random states agree."""
    rng = np.random.default_rng(seed)
    vertices = rng.uniform(0.05, 0.95, (2, 3))
    weights = rng.dirichlet(np.ones(4), size=2)  # two target modes; the 4th weight is loss
    target = vertices @ weights[:, :3].T
    big_table = np.repeat(np.hstack([vertices, np.zeros((2, 1))]), 2, axis=1)
    v = emulation_isometry(weights, 3)
    assert np.allclose(v.T @ v, np.eye(4))
    for n in (1, 2, 3):
        gamma = lift(v, n)
        assert np.allclose(gamma.T @ gamma, np.eye(gamma.shape[1]))
        big, small = Receiver("active", big_table).povm(n), Receiver("active", target).povm(n)
        psi = rng.normal(size=gamma.shape[1])
        psi /= np.linalg.norm(psi)
        for y in small:
            assert np.allclose(gamma.T @ big[y] @ gamma, small[y], atol=1e-12), (n, y)
            assert psi @ gamma.T @ big[y] @ gamma @ psi == pytest.approx(psi @ small[y] @ psi, abs=1e-12)
        if n >= 2:
            assert np.abs(small["HV"]).max() > 1e-3  # double clicks are part of what is matched


def test_sector_minima_equal_the_full_block_minima() -> None:
    """Second method: the photon-number minima block by mode occupation equal λ_min of the whole
    n-photon block, n ≤ 4."""
    table = np.array([[0.7, 0.2, 0.45], [0.3, 0.6, 0.5]])
    fast = sector_minima(table, 4)
    slow = photon_number_minima(Receiver("active", table), 4)
    for name in ("double", "error"):
        assert np.allclose(fast[name], slow[name], atol=1e-12)


def test_two_copies_give_eve_what_three_copies_give_and_more_than_one() -> None:
    """Two copies of each vertex suffice (polarisation is two-dimensional): the minima of the doubled
    and the tripled table agree, and so do the optimal (step-1) values, each certificate staying
    below both. One copy is not enough: two photons in distinguishable copies of a mode (the
    polarisation-antisymmetric sector) give Eve strictly more, which is why the hull is doubled."""
    table = np.array([[0.6, 0.3], [0.35, 0.55]])
    two, three = sector_minima(doubled(table), 4), sector_minima(np.repeat(table, 3, axis=1), 4)
    for name in two:
        assert np.allclose(two[name], three[name], atol=1e-12)
    p = simulate_statistics(Receiver("active", table[:, :1]), OMEGA, R, T)
    one, *copies = [mismatch_key_rate(Receiver("active", np.repeat(table[:, :1], r, axis=1)), p, "cutoff",
                                      sectors=r > 1) for r in (1, 2, 3)]
    assert copies[0].step1_value == pytest.approx(copies[1].step1_value, abs=1e-9)
    for res in copies:
        assert res.certified and res.certified_bound <= min(c.step1_value for c in copies) + 1e-9
    assert copies[0].step1_value < one.certified_bound - 1e-4


def test_mode_sectors_leave_the_rate_unchanged() -> None:
    """The mode-occupation blocks are an exact reduction: same certified bound as the photon-number
    blocks alone, cut-off and squasher."""
    rc = Receiver("active", np.array([[0.2, 0.1], [0.1, 0.2]]))
    p = simulate_statistics(rc, OMEGA, R, T)
    for bound in ("cutoff", "squasher"):
        plain, blocked = mismatch_key_rate(rc, p, bound), mismatch_key_rate(rc, p, bound, sectors=True)
        assert blocked.step1_value == pytest.approx(plain.step1_value, abs=1e-9)
        assert blocked.certified_bound == pytest.approx(plain.certified_bound, abs=max(1e-8, 2 * blocked.gap))
        assert len(blocked.numerical.rho) > len(plain.numerical.rho)


def test_hull_contains_every_box_and_the_enclosure_contains_the_hull() -> None:
    rng = np.random.default_rng(3)
    centre = rng.uniform(0.1, 0.9, (2, 12))
    lower, upper = np.clip(centre - 0.03, 0, 1), np.clip(centre + 0.03, 0, 1)
    exact = emulation_hull(lower, upper)
    hull = Delaunay(np.vstack([np.zeros((1, 2)), exact.T]))
    corners = np.vstack([np.column_stack([a[0], b[1]]) for a in (lower, upper) for b in (lower, upper)])
    assert np.all(hull.find_simplex(corners, tol=1e-12) >= 0)
    small = emulation_hull(lower, upper, max_vertices=3)
    assert small.shape[1] <= exact.shape[1] and small.min() >= lower.min() - 1e-12 and small.max() <= 1
    enclosure = Delaunay(np.vstack([np.zeros((1, 2)), small.T]))
    assert np.all(enclosure.find_simplex(exact.T, tol=1e-12) >= 0)
    with pytest.raises(MismatchInputError, match="lower ≤ upper"):
        emulation_hull(upper, lower)


def _hull_rate(table: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """(certified bound, step-1 value) of the doubled table, photon-number cut-off N = 2 (the lemma
    maps n ≤ 2 photons to n ≤ 2 photons, so it compares cut-off rates exactly)."""
    res = mismatch_key_rate(Receiver("active", doubled(table)), p, "cutoff", sectors=True)
    assert res.certified, res.reason
    return res.certified_bound, res.step1_value


def test_hull_rate_is_below_the_rate_of_tables_inside_the_box() -> None:
    """The security statement: for random tables inside the confidence boxes (the paper's model,
    each solved on its own), the rate of the doubled hull at the same statistics is never higher."""
    rng = np.random.default_rng(7)
    centre = np.array([[0.5, 0.42], [0.44, 0.52]])
    lower, upper = centre - 0.02, centre + 0.02
    hull = emulation_hull(lower, upper, max_vertices=3)  # an enclosure of the hull: also a valid worst case
    for _ in range(2):
        inside = rng.uniform(lower, upper)
        p = simulate_statistics(Receiver("active", inside[:, :1]), OMEGA, R, T)
        own = mismatch_key_rate(Receiver("active", inside), p, "cutoff", sectors=True)
        assert own.certified
        assert _hull_rate(hull, p)[0] <= own.certified_bound + 1e-8


def test_a_mode_inside_the_hull_adds_nothing_and_one_outside_can_only_lower_the_rate() -> None:
    vertex = np.array([[0.5], [0.35]])
    p = simulate_statistics(Receiver("active", 0.9 * vertex), OMEGA, R, T)
    base, base_step1 = _hull_rate(vertex, p)
    inside, inside_step1 = _hull_rate(np.column_stack([vertex, 0.8 * vertex]), p)  # the vertex behind loss
    outside, _ = _hull_rate(np.column_stack([vertex, [0.6, 0.2]]), p)
    assert inside_step1 == pytest.approx(base_step1, abs=1e-9)
    assert inside <= base_step1 + 1e-9 and base <= inside_step1 + 1e-9
    assert outside <= base_step1 + 1e-9


def test_calibrated_hull_of_a_detector_table() -> None:
    b = Bound(value=0.5, lower=0.48, upper=0.52, unit="")
    c = Bound(value=0.45, lower=0.43, upper=0.47, unit="")
    dark = Bound(value=1e-6, lower=0.0, upper=2e-6, unit="")
    low = Bound(value=0.01, lower=0.0, upper=0.02, unit="")
    table = DetectorTable(detectors=("spd1", "spd2"), delays_s=(0.0, 1e-10, 2e-10), efficiency=((b, c, low), (c, b, low)),
                          dark_probability=(dark, dark), operating_delay_s=0.0, mismatch_ratio=b,
                          two_mode=((0.52, 0.43), (0.43, 0.52)))
    hull = calibrated_hull(table)
    assert hull.delays_used == 2  # the nearly blind third delay is outside the stated window
    assert np.allclose(hull.point, [0.5, 0.45])
    assert hull.analysis_table.shape == (2, 2 * hull.table.shape[1])
    assert "conv" in hull.assumption and "ASSUMPTION" in hull.assumption
    assert hull.minima["error"][2] > 0
