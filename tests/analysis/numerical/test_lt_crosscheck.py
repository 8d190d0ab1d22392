"""Cross-check with the analytic loss-tolerant (LT) rate of qkdlab.analysis: for the qubit-flaw
sources with ε = 0 (Tamaki et al., PRA 90, 052314), the numerical rate for the same states and
channel must be ≥ the LT rate (LT is a valid bound but not tight; the numerical one is tight up to
its gap). A failure means one of the two is wrong."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qkdlab.analysis import AnalysisSource, Channel, key_rate
from qkdlab.analysis.channel import transmittance
from qkdlab.analysis.numerical import Block, Constraint, NumericalProblem, solve
from qkdlab.analysis.states import X_KET, Z_KET


def h(p: float) -> float:
    return 0.0 if p <= 0 else -p * math.log2(p) - (1 - p) * math.log2(1 - p)


def prepare_and_measure(states, eta: float, misalignment: float, ec: float) -> NumericalProblem:
    """Source replacement: A = setting register (Z0, Z1, X0, X1, each ¼), B = qubit ⊕ vacuum.

    ρ_A is fixed by the Gram matrix of the emitted states; Bob measures Z or X with ½ each.
    The channel of :class:`Channel` (loss η, outcomes flipped with probability m in both bases =
    a Pauli-Y error, no dark counts) gives p(j, y). Key: Alice's Z settings with Bob's Z clicks."""
    kets = [np.real_if_close(k) for k in states.kets]
    prob = np.full(4, 0.25)
    gram = np.array([[np.vdot(kets[k], kets[j]) for k in range(4)] for j in range(4)]).real
    rho_a = np.sqrt(np.outer(prob, prob)) * gram
    # ρ_A has rank ≤ 2 (qubit states): every feasible ρ_AB lives on supp(ρ_A) ⊗ H_B, so Alice's
    # register is compressed to that support (facial reduction; no strictly feasible point otherwise)
    wa, va = np.linalg.eigh(rho_a)
    va = va[:, wa > 1e-12]
    emb = np.zeros((3, 2))
    emb[:2, :2] = np.eye(2)
    vac = np.diag([0.0, 0.0, 1.0])
    povm = {f"{b}{o}": 0.5 * emb @ np.outer(k, k).real @ emb.T for b, kk in (("Z", Z_KET), ("X", X_KET))
            for o, k in enumerate(kk)}
    povm["none"] = vac
    pauli_y = np.array([[0.0, -1.0], [1.0, 0.0]])
    cons = []
    for j in range(4):
        for i in range(j, 4):
            e = np.zeros((4, 4))
            e[i, j] = e[j, i] = 0.5 if i != j else 1.0
            cons.append(Constraint.equality([np.kron(va.T @ e @ va, np.eye(3))], float(np.sum(e * rho_a)),
                                            f"rhoA{i}{j}"))
    p = np.zeros((4, 5))
    for j, ket in enumerate(kets):
        sigma = np.outer(ket, ket)
        sigma = (1 - misalignment) * sigma + misalignment * pauli_y @ sigma @ pauli_y.T
        bob = eta * emb @ sigma @ emb.T + (1 - eta) * vac
        for y, (name, m) in enumerate(povm.items()):
            p[j, y] = prob[j] * float(np.sum(m * bob))
            e = np.zeros((4, 4))
            e[j, j] = 1.0
            cons.append(Constraint.equality([np.kron(va.T @ e @ va, m)], p[j, y], f"p({j},{name})"))
    sel = np.zeros((2, 4))
    sel[0, 0] = sel[1, 1] = 1.0
    w, v = np.linalg.eigh(povm["Z0"] + povm["Z1"])
    kraus = np.kron(sel @ va, (v * np.sqrt(np.clip(w, 0, None))) @ v.T)
    key = (np.kron(np.diag([1.0, 0.0]), np.eye(3)), np.kron(np.diag([0.0, 1.0]), np.eye(3)))
    n_key = p[0, 0] + p[0, 1] + p[1, 0] + p[1, 1]
    e_key = (p[0, 1] + p[1, 0]) / n_key
    return NumericalProblem((Block(3 * va.shape[1], (kraus,), key),), tuple(cons), ec * n_key * h(e_key))


@pytest.mark.parametrize("delta,misalignment", [(0.0, 0.02), (0.1, 0.02), (0.3, 0.01)])
def test_numerical_rate_at_least_loss_tolerant(delta: float, misalignment: float) -> None:
    source = AnalysisSource.flawed("bb84", delta, 0.0)
    channel = Channel(dark_count_probability=0.0, ec_efficiency=1.0, misalignment=misalignment,
                      detector_efficiency=1.0)
    lt = key_rate(source, channel, "lt", distance_km=10.0).key_rate_per_pulse
    eta = float(transmittance(10.0, channel.fiber_loss_db_per_km, 1.0))
    res = solve(prepare_and_measure(source.states, eta, misalignment, 1.0))
    assert res.certified and res.gap <= 1e-8
    assert res.key_rate >= lt - 1e-9
    if delta == 0.0:  # ideal BB84 states: both are tight, ¼η(1 − 2h(m))
        assert res.key_rate == pytest.approx(lt, abs=1e-8)
