"""Qubit states of a BB84 or three-state transmitter, and the loss-tolerant decomposition.

Convention (as in :mod:`qkdlab.model`): a setting of encoded phase p emits the qubit
``cos(p/2)|0> + sin(p/2)|1>`` (Bloch vector (sin p, 0, cos p)); arbitrary qubit kets are
accepted as well. Settings carry the calibration's labels Z0, Z1, X0, X1 (the papers' 0_Z, 1_Z,
0_X, 1_X). Bob's Z basis is {|0>, |1>}, his X basis {|+>, |->}; outcome 0 of X is |+>.

The *qubit-flaw family* of the papers (Currás-Lorenzo et al. 2025, Eq. 3; Tamaki et al. 2014)
is θ_j = (1 + δ/π) φ_j / 2 with φ_j ∈ {0, π, π/2, 3π/2} for 0Z, 1Z, 0X, 1X, i.e. encoded phase
p_j = (1 + δ/π) φ_j in our convention.

The loss-tolerant (LT) decomposition (Tamaki et al., PRA 90, 052314 (2014); general procedure
in Currás-Lorenzo et al., PRA 104, 012406 (2021), App. B): Alice's key emission is the
entangled state |Ψ_Z> = (|0>_A|φ_0Z> + |1>_A|φ_1Z>)/√2 = |+>_A |v_0> + |->_A |v_1> with the
sub-normalised *virtual states* v_0 = (φ_0Z + φ_1Z)/2, v_1 = (φ_0Z − φ_1Z)/2 (norms 1 − q and q,
q = (1 − Re<φ_0Z|φ_1Z>)/2). A phase error is v_β detected with Bob's X outcome 1 − β. For
qubit states every operator |v_β><v_β| is a real combination Σ_j a_βj |φ_j><φ_j| of the
emitted states (they span the real space of 2×2 Hermitian matrices, or the x-z plane for
states on that great circle); we pick the combination of least total weight Σ_j |a_βj| (a small
linear program), which keeps the deviation terms of the coin and reference-technique bounds
smallest. For the flaw family, v_0 is proportional to φ_0X as in Eq. (7) of the framework paper;
for v_1 the paper's Eqs. (8)-(9) are one valid combination, ours has equal or smaller total
weight (both tested).

With four states the combination is not unique (four operators in a three-dimensional real
space): every solution is an affine combination of the *basic* ones, which use three states.
The phase-error bound of the loss-tolerant quantum coin depends on the choice, and the least
weight is not the best for it (issue 15): :func:`lt_decompositions` lists the least-weight one
and every combination of basic ones (among them the paper's Eqs. (7)-(9)), and the coin takes
the tightest (coin.py, keyrate.py; docs/keyrate-derivation.md, Sec. 3).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np
from scipy.optimize import linprog

from ..errors import SolverError
from ..transmitter import NOMINAL_PHASES, PROTOCOL_SETTINGS

__all__ = ["PROTOCOL_SETTINGS", "NOMINAL_PHASES", "phase_ket", "flawed_phases", "StateSet", "LTDecomposition",
           "lt_decomposition", "lt_decompositions", "Z_KET", "X_KET"]

#: Bob's measurement kets: Z_KET[o], X_KET[o] for outcome o.
Z_KET = (np.array([1.0, 0.0], complex), np.array([0.0, 1.0], complex))
X_KET = (np.array([1.0, 1.0], complex) / math.sqrt(2), np.array([1.0, -1.0], complex) / math.sqrt(2))

_PAULIS = (np.eye(2, dtype=complex), np.array([[0, 1], [1, 0]], complex), np.array([[0, -1j], [1j, 0]]),
           np.array([[1, 0], [0, -1]], complex))


def phase_ket(phase: float) -> np.ndarray:
    """The qubit ``cos(p/2)|0> + sin(p/2)|1>`` emitted by a setting of encoded phase ``p``."""
    return np.array([math.cos(phase / 2.0), math.sin(phase / 2.0)], dtype=complex)


def flawed_phases(protocol: str, delta: float) -> dict[str, float]:
    """Encoded phases of the flaw family p_j = (1 + δ/π) φ_j (framework paper, Eq. 3)."""
    kappa = 1.0 + delta / math.pi
    return {label: kappa * NOMINAL_PHASES[label] for label in PROTOCOL_SETTINGS[protocol]}


@dataclass(frozen=True)
class StateSet:
    """The characterized qubit states φ_j of one protocol's settings (kets, in setting order)."""

    protocol: str
    kets: tuple[np.ndarray, ...]
    labels: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        labels = self.labels or PROTOCOL_SETTINGS[self.protocol]
        object.__setattr__(self, "labels", tuple(labels))
        if len(self.kets) != len(self.labels):
            raise ValueError(f"{len(self.kets)} states for the {len(self.labels)} settings {self.labels}")
        normalised = []
        for label, ket in zip(self.labels, self.kets):
            ket = np.asarray(ket, dtype=complex).reshape(2)
            norm = np.linalg.norm(ket)
            if not math.isfinite(norm) or norm < 1e-12:
                raise ValueError(f"state {label}: not a valid qubit ket {ket}")
            normalised.append(ket / norm)
        object.__setattr__(self, "kets", tuple(normalised))

    @classmethod
    def from_phases(cls, protocol: str, phases: dict[str, float] | tuple[float, ...]) -> StateSet:
        labels = PROTOCOL_SETTINGS[protocol]
        values = [phases[label] for label in labels] if isinstance(phases, dict) else list(phases)
        return cls(protocol, tuple(phase_ket(p) for p in values), labels)

    @classmethod
    def flawed(cls, protocol: str, delta: float) -> StateSet:
        return cls.from_phases(protocol, flawed_phases(protocol, delta))

    def index(self, label: str) -> int:
        return self.labels.index(label)

    @cached_property
    def gram(self) -> np.ndarray:
        """G_jk = <φ_j|φ_k>."""
        kets = np.array(self.kets)
        return kets.conj() @ kets.T

    def probabilities(self, basis: str) -> np.ndarray:
        """|<b_o|φ_j>|² for Bob's basis ("Z" or "X"): shape (settings, 2)."""
        kets = Z_KET if basis == "Z" else X_KET
        return np.array([[abs(np.vdot(b, k)) ** 2 for b in kets] for k in self.kets])

    def __hash__(self) -> int:  # cache key for the overlap SDPs
        return hash((self.protocol, self.labels, tuple(np.round(np.concatenate(self.kets), 15).tolist())))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StateSet) and hash(self) == hash(other)


def _bloch4(ket_or_op: np.ndarray) -> np.ndarray:
    """(tr ρ, tr ρX, tr ρY, tr ρZ) of a ket's projector or of an operator."""
    op = np.outer(ket_or_op, ket_or_op.conj()) if ket_or_op.ndim == 1 else ket_or_op
    return np.array([np.trace(op @ p).real for p in _PAULIS])


@dataclass(frozen=True)
class LTDecomposition:
    """|v_β><v_β| = Σ_j coefficients[β, j] |φ_j><φ_j| for β = 0, 1 (see the module docstring).

    ``virtual``: the sub-normalised virtual kets v_β as coefficient vectors over the settings
    (v_0 = (φ_0Z + φ_1Z)/2, v_1 = (φ_0Z − φ_1Z)/2); ``q``: the norm² of v_1; ``name``: which
    combination this is (reported with the key rate when a choice among several was made).
    """

    states: StateSet
    coefficients: np.ndarray
    virtual: np.ndarray
    q: float
    name: str = "least weight"

    def phase_error_weights(self) -> np.ndarray:
        """w[j, o]: the LT phase-error probability is Σ_jo w[j, o] Y_j^{X, o} (v_β with X outcome 1 − β)."""
        w = np.zeros((len(self.states.labels), 2))
        w[:, 1] = self.coefficients[0]
        w[:, 0] = self.coefficients[1]
        return w


@lru_cache(maxsize=256)
def lt_decomposition(states: StateSet) -> LTDecomposition:
    """The least-weight loss-tolerant decomposition of the virtual states (module docstring; cached per states)."""
    labels = states.labels
    i0, i1 = states.index("Z0"), states.index("Z1")
    virtual = np.zeros((2, len(labels)))
    virtual[0, [i0, i1]] = 0.5, 0.5
    virtual[1, [i0, i1]] = 0.5, -0.5
    basis = np.array([_bloch4(k) for k in states.kets]).T            # 4 × n
    coefficients = np.zeros((2, len(labels)))
    for beta in range(2):
        v = virtual[beta] @ np.array(states.kets)
        target = _bloch4(v)
        n = len(labels)
        # min Σ (a⁺ + a⁻) s.t. basis (a⁺ − a⁻) = target, a± ≥ 0
        result = linprog(np.ones(2 * n), A_eq=np.hstack([basis, -basis]), b_eq=target, bounds=(0, None),
                         method="highs")
        if result.status != 0:
            raise SolverError(f"the states {dict(zip(labels, np.round(states.kets, 4)))} do not span the virtual "
                              f"state v_{beta}: the loss-tolerant decomposition needs qubit states whose Bloch "
                              "vectors span the plane (or space) of the key states; check the characterized states")
        a = result.x[:n] - result.x[n:]
        if np.abs(basis @ a - target).max() > 1e-9:
            raise SolverError(f"the loss-tolerant decomposition of v_{beta} is inaccurate; check the states")
        coefficients[beta] = np.where(np.abs(a) < 1e-13, 0.0, a)
    q = 0.5 * (1.0 - float(np.vdot(states.kets[i0], states.kets[i1]).real))
    return LTDecomposition(states, coefficients, virtual, q, "least weight: " + _describe(labels, coefficients))


def _describe(labels: tuple[str, ...], coefficients: np.ndarray) -> str:
    """E.g. "v0 ← +X0; v1 ← −Z0 +Z1 +X1": which states, with which sign, make each virtual state."""
    parts = []
    for beta, row in enumerate(coefficients):
        terms = " ".join(("+" if a > 0 else "−") + label for label, a in zip(labels, row) if a != 0)
        parts.append(f"v{beta} ← {terms}")
    return "; ".join(parts)


@lru_cache(maxsize=256)
def lt_decompositions(states: StateSet) -> tuple[LTDecomposition, ...]:
    """The least-weight decomposition, then every distinct pair of basic ones (three states each).

    All are exact at the characterized states (each is checked to 1e-9 in Bloch components), so
    each gives a valid coin pair; which is tightest depends on the states, ε and the data.
    """
    least = lt_decomposition(states)
    basis = np.array([_bloch4(k) for k in states.kets]).T
    n = len(states.labels)
    basic: list[list[np.ndarray]] = [[], []]
    for beta in range(2):
        target = _bloch4(least.virtual[beta] @ np.array(states.kets))
        for subset in itertools.combinations(range(n), min(3, n)):
            sub = basis[:, subset]
            x, *_ = np.linalg.lstsq(sub, target, rcond=None)
            if np.abs(sub @ x - target).max() > 1e-9:
                continue
            row = np.zeros(n)
            row[list(subset)] = np.where(np.abs(x) < 1e-13, 0.0, x)
            if not any(np.allclose(row, other, rtol=0, atol=1e-12) for other in basic[beta]):
                basic[beta].append(row)
    found = [least]
    for rows in itertools.product(*basic):
        coefficients = np.array(rows)
        if not any(np.allclose(coefficients, d.coefficients, rtol=0, atol=1e-12) for d in found):
            found.append(LTDecomposition(states, coefficients, least.virtual, least.q,
                                         _describe(states.labels, coefficients)))
    return tuple(found)
