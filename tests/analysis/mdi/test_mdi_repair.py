"""The charge for a negative part of a dual slack (gram_sdp._negative_part_cost) is a valid bound:
never below the largest tr(N M) over every M the two budgets allow, computed by a direct SDP."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

from qkdlab.analysis.mdi.gram_sdp import _negative_part_cost


def _largest_charge(negative: np.ndarray, ud: np.ndarray, capacity: np.ndarray, pass_upper: np.ndarray) -> float:
    """max tr(N M) over M ⪰ 0, M ⪯ C, diag(V†MV) ≤ p (t = 1), V = (U D)†."""
    d = len(capacity)
    m = cp.Variable((d, d), hermitian=True)
    v = ud.conj().T
    problem = cp.Problem(cp.Maximize(cp.real(cp.trace(negative @ m))),
                         [m >> 0, np.diag(capacity) - m >> 0, cp.real(cp.diag(v.conj().T @ m @ v)) <= pass_upper])
    problem.solve(solver="CLARABEL")
    return float(problem.value)


@pytest.mark.parametrize("seed", range(6))
def test_the_charge_is_never_below_the_largest_possible_value(seed: int) -> None:
    rng = np.random.default_rng(seed)
    d, n = 4, 7
    u, _ = np.linalg.qr(rng.normal(size=(n, d)) + 1j * rng.normal(size=(n, d)))     # orthonormal columns
    scale = 10.0 ** rng.uniform(-3, 0, d)                                            # D: leakage-like directions
    ud = u * scale
    capacity = 10.0 ** rng.uniform(-1, 2, d)
    pass_upper = 10.0 ** rng.uniform(-4, -1, n)
    rank = 1 + seed % 3
    x = rng.normal(size=(d, rank)) + 1j * rng.normal(size=(d, rank))
    negative = 1e-3 * x @ x.conj().T
    charge = _negative_part_cost(negative, ud, capacity, pass_upper)
    largest = _largest_charge(negative, ud, capacity, pass_upper)
    assert charge >= largest * (1 - 1e-6) - 1e-12
    assert charge <= float(np.real(np.trace(negative @ np.diag(capacity)))) + 1e-15   # never worse than the Z shift
