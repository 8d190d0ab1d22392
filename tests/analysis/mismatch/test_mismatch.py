"""Efficiency-mismatch BB84 (Zhang et al., PRR 3, 013076): closed forms, the figures' minima and
observations, certification on the paper's points, bad input."""

from __future__ import annotations

import math

import cvxpy as cp
import numpy as np
import pytest

from qkdlab.analysis.mismatch import (
    MismatchInputError,
    PhotonBoundError,
    Receiver,
    mismatch_key_rate,
    photon_number_minima,
    simulate_statistics,
    statistics_from_counts,
    table_i,
    table_ii,
)
from qkdlab.analysis.mismatch.bounds import click_operators

OMEGA, R, T, ETA1 = 0.05, 0.05, 0.5, 0.2  # Fig. 7/8 parameters


def h(p: float) -> float:
    return -p * math.log2(p) - (1 - p) * math.log2(1 - p)


def one_mode(eta1: float, eta2: float, scheme: str = "active") -> np.ndarray:
    return np.array([[eta1], [eta2]]) if scheme == "active" else np.array([[eta1], [eta2], [eta2], [eta2]])


def rate(table: np.ndarray, bound: str, scheme: str = "active", **channel) -> float:
    rc = Receiver(scheme, table)
    p = simulate_statistics(rc, channel.get("omega", OMEGA), channel.get("r", R), channel.get("t", T))
    res = mismatch_key_rate(rc, p, bound)
    assert res.certified and res.gap <= 1e-8, (res.status, res.gap, res.reason)
    assert res.certified_bound <= res.step1_value + 1e-12
    return res.key_rate_unclipped


# -- no mismatch: ¼ p_det (1 − 2h(e)), e = ω/2, p_det = tη (Sec. IV B) ---------------------------

@pytest.mark.parametrize("modes", [1, 2])
@pytest.mark.parametrize("bound", ["cutoff", "squasher"])
def test_no_mismatch_closed_form(modes: int, bound: str) -> None:
    eta, t, omega = 0.5, 0.2, 0.05
    table = np.full((2, modes), eta)
    k = rate(table, bound, omega=omega, r=0.0, t=t)
    assert k == pytest.approx(0.25 * t * eta * (1 - 2 * h(omega / 2)), abs=1e-9)


def test_no_mismatch_rate_depends_on_t_eta_only() -> None:
    """Fig. 6 caption / Sec. IV B: at r = 0 the rate is the same for every η at fixed tη."""
    rates = [rate(np.full((2, 1), eta), "squasher", omega=0.05, r=0.0, t=0.1 / eta) for eta in (0.25, 0.5, 1.0)]
    assert max(rates) - min(rates) < 1e-9


# -- Figs. 3-5: minima over n-photon states -----------------------------------------------------

def _sdp_min(op: np.ndarray) -> float:
    """Eqs. (12), (13), (23) as SDPs: min Tr(ρF) over states."""
    rho = cp.Variable(op.shape, symmetric=True)
    prob = cp.Problem(cp.Minimize(cp.trace(op @ rho)), [rho >> 0, cp.trace(rho) == 1])
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    return float(prob.value)


def test_fig3_fig4_minima_at_unit_efficiency() -> None:
    rc = Receiver("active", table_i(1.0, 1.0))
    mins = photon_number_minima(rc, check_up_to=4)
    expected_d = {1: 0.0, 2: 0.0, 3: 0.25}
    expected_e = {1: 0.0, 2: (2 - math.sqrt(2)) / 4}
    for n, value in expected_d.items():
        assert mins["double"][n] == pytest.approx(value, abs=1e-8)
        assert _sdp_min(click_operators(rc, n)["double"]) == pytest.approx(value, abs=1e-8)
    for n, value in expected_e.items():
        assert mins["error"][n] == pytest.approx(value, abs=1e-8)
        assert _sdp_min(click_operators(rc, n)["error"]) == pytest.approx(value, abs=1e-8)


def test_fig3_fig4_d2_and_e1_vanish_for_every_mismatch() -> None:
    for eta in (0.2, 0.5, 0.9):
        mins = photon_number_minima(Receiver("active", table_i(1.0, eta)))
        assert abs(mins["double"][2]) < 1e-12 and abs(mins["error"][1]) < 1e-12
        assert np.all(np.diff(mins["double"][3:]) >= -1e-12)


def test_fig5_cross_click_minimum_monotone_toward_one() -> None:
    mins = photon_number_minima(Receiver("passive", table_ii(1.0, 0.5)), check_up_to=4)["cross"]
    assert np.all(np.diff(mins[1:]) > 0) and mins[-1] < 1
    single = photon_number_minima(Receiver("passive", one_mode(1.0, 1.0, "passive")), check_up_to=10)["cross"]
    assert np.all(np.diff(single[1:]) > 0)
    assert single[10] == pytest.approx(1 - 2 ** -9, abs=1e-6)  # ideal: 1 − 2^{−(n−1)} (Sec. III C 2)


# -- Fig. 7 (active) and Fig. 8 (passive): the four observations on a reduced grid ---------------

def test_fig7_observations() -> None:
    curves = {}
    for eta2 in (0.2, 0.1, 0.015):
        for modes in (1, 2):
            table = one_mode(ETA1, eta2) if modes == 1 else table_i(ETA1, eta2)
            for bound in ("cutoff", "squasher"):
                curves[(modes, bound, eta2)] = rate(table, bound)
    for modes in (1, 2):
        for bound in ("cutoff", "squasher"):
            ks = [curves[(modes, bound, e)] for e in (0.2, 0.1, 0.015)]
            assert ks[0] > ks[1] > ks[2]          # 1. falls with mismatch ...
            assert ks[0] > 0 and ks[2] < 0        #    ... to a threshold
    for eta2 in (0.2, 0.1, 0.015):
        for modes in (1, 2):                      # 2. squasher below cut-off
            assert curves[(modes, "squasher", eta2)] < curves[(modes, "cutoff", eta2)]
        if eta2 < ETA1:                           # 3. two modes below one mode
            for bound in ("cutoff", "squasher"):
                assert curves[(2, bound, eta2)] < curves[(1, bound, eta2)]
    for bound in ("cutoff", "squasher"):          # 4. equal without mismatch
        assert curves[(1, bound, 0.2)] == pytest.approx(curves[(2, bound, 0.2)], abs=1e-9)


def test_fig8_passive_trend() -> None:
    ks1 = [rate(one_mode(ETA1, e, "passive"), "squasher", "passive") for e in (0.2, 0.12)]
    ks4 = [rate(table_ii(ETA1, e), "squasher", "passive") for e in (0.2, 0.12)]
    assert ks1[0] > ks1[1] and ks4[0] > ks4[1]
    assert ks4[1] < ks1[1]


# -- certification against a constructed feasible state -----------------------------------------

def _channel_state(rc: Receiver, n: int) -> np.ndarray:
    """ρ_AB on Bob's n-photon block from the channel of Sec. IV A applied to A' of |Φ⟩ (Eq. (1)):
    ρ_AB = ½ Σ_ij |i⟩⟨j| ⊗ Λ(|i⟩⟨j|), Λ linear; its diagonal branches are the simulated states."""
    from qkdlab.analysis.mismatch.channel import _received

    m = rc.modes
    dim = rc.block_dim(n)
    rho = np.zeros((2 * dim, 2 * dim))
    states = {x: _received(rc, x, OMEGA, R, T)[n] for x in ("H", "V")}
    for i, x in enumerate(("H", "V")):
        e = np.zeros((2, 2))
        e[i, i] = 1.0
        rho += 0.5 * np.kron(e, states[x])
    if n == 1:  # coherences |H⟩⟨V|: only the undepolarised, transmitted single photon carries them
        off = np.zeros((dim, dim))
        for mode in range(m):
            off[mode, m + mode] = (1 - R) * T * (1 - OMEGA) / m
        e = np.array([[0.0, 1.0], [0.0, 0.0]])
        rho += 0.5 * (np.kron(e, off) + np.kron(e.T, off.T))
    return rho


def test_bound_below_the_channel_state() -> None:
    """The simulated channel's own state is feasible (it reproduces p): β ≤ f(ρ_sim)."""
    from qkdlab.analysis.mismatch.protocol import build_problem
    from qkdlab.analysis.numerical import solve
    from qkdlab.analysis.numerical.objective import BlockObjective

    rc = Receiver("active", table_i(ETA1, 0.1))
    p = simulate_statistics(rc, OMEGA, R, T)
    prob = build_problem(rc, p, "cutoff")
    blocks = [_channel_state(rc, n) for n in range(3)]
    for c in prob.constraints:  # the constructed state is feasible
        value = sum(float(np.vdot(op, r)) for op, r in zip(c.operator, blocks) if op is not None)
        assert value == pytest.approx(c.lower, abs=1e-12)
    f = sum(BlockObjective(blk).value_and_gradient(r + 1e-13 * np.eye(len(r)))[0]
            for blk, r in zip(prob.blocks, blocks) if blk.yields_key) / math.log(2)
    res = solve(prob)
    assert res.certified_bound <= f + 1e-9
    assert res.certified_bound <= res.step1_value + 1e-12


# -- bad input -----------------------------------------------------------------------------------

def test_bad_inputs_give_one_clear_error() -> None:
    with pytest.raises(MismatchInputError, match=r"\[0, 1\]"):
        Receiver("active", [[1.2, 0.5], [0.5, 1.0]])
    with pytest.raises(MismatchInputError, match="rows"):
        Receiver("passive", table_i(0.5, 0.4))
    rc = Receiver("active", table_i(0.5, 0.4))
    p = simulate_statistics(rc, OMEGA, R, T)
    with pytest.raises(MismatchInputError, match="not a distribution"):
        mismatch_key_rate(rc, p * 1.1)
    with pytest.raises(MismatchInputError, match="shape"):
        mismatch_key_rate(rc, p[:, :-1])
    with pytest.raises(PhotonBoundError, match="b_"):
        heavy = simulate_statistics(rc, OMEGA, 0.9, 1.0)  # mostly two-photon resends: b_k ≤ 0
        mismatch_key_rate(rc, heavy, "squasher")
    with pytest.raises(MismatchInputError, match="transmission"):
        simulate_statistics(rc, OMEGA, R, 1.5)


def test_statistics_from_counts_normalise_per_state() -> None:
    rc = Receiver("active", table_i(0.5, 0.4))
    p = simulate_statistics(rc, OMEGA, R, T)
    counts = np.round(p * np.array([[1e9], [2e9], [1.5e9], [1e9]]))
    q = statistics_from_counts(rc, counts)
    assert np.allclose(q.sum(axis=1), 0.5) and np.abs(q - p).max() < 1e-8
