"""A key-rate problem as data: the relative-entropy program of Winick, Lütkenhaus & Coles,
Quantum 2, 77 (2018), Eq. (2) of Zhang et al., PRR 3, 013076 (2021):

    α = min_ρ D(G(ρ) ‖ Z(G(ρ)))   s.t.  ρ ⪰ 0,  Tr ρ = 1,  l_k ≤ Tr(Γ_k ρ) ≤ u_k,

with G(ρ) = Σ_i K_i ρ K_i† the post-selection (sifting) map and Z(σ) = Σ_j Z_j σ Z_j the key map
(orthogonal projectors). ρ is block diagonal, ρ = ⊕_b ρ_b (one block when the protocol has no
structure; photon-number blocks for optical receivers, see :mod:`.reductions` for why this loses
nothing when every operator is block diagonal), so the objective is Σ_b D(G_b(ρ_b) ‖ Z_b(G_b(ρ_b))).
A protocol module builds the problem; the engine (:mod:`.engine`) knows no physics.

Observed statistics enter as equalities (``lower == upper``) or intervals; photon-number bounds
Tr(Π_k ρ) ≥ b_k as one-sided intervals. Relative entropies are in bits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from qkdlab.errors import DataError

__all__ = ["Block", "Constraint", "NumericalProblem", "ProblemError"]

#: Relative tolerance for the structural checks (Hermitian, projector, completeness).
_CHECK_TOL = 1e-9


class ProblemError(DataError, ValueError):
    """A numerical key-rate problem is malformed (shapes, non-Hermitian operators, bad bounds)."""


def _hermitian(name: str, m: np.ndarray, dim: int) -> np.ndarray:
    m = np.asarray(m)
    if m.shape != (dim, dim):
        raise ProblemError(f"{name} has shape {m.shape}, expected ({dim}, {dim}): build it on that block")
    mt = m.conj().T
    atol = _CHECK_TOL * max(1.0, float(np.abs(m).max(initial=0.0)))
    if not np.all(np.abs(m - mt) <= atol + 1e-5 * np.abs(mt)):  # np.allclose's test, without its overhead
        raise ProblemError(f"{name} is not Hermitian: constraint and key-map operators must be observables")
    m = (m + mt) / 2
    return m.real.copy() if np.isrealobj(m) or not np.abs(m.imag).any() else m


@dataclass(frozen=True)
class Block:
    """One block ρ_b of the state: its dimension, the Kraus operators K_i of G restricted to it
    (each of shape (m_b, dim)), and the key-map projectors Z_j on G's output (m_b × m_b, orthogonal,
    summing to the identity). A block without Kraus operators (e.g. Bob's vacuum) yields no key:
    its objective term is 0 and it only enters the constraints."""

    dim: int
    kraus: tuple[np.ndarray, ...] = ()
    key_projectors: tuple[np.ndarray, ...] = ()
    name: str = ""

    def __post_init__(self) -> None:
        label = self.name or "block"
        if int(self.dim) != self.dim or self.dim < 1:
            raise ProblemError(f"{label}: dimension {self.dim!r} must be a positive integer")
        kraus = tuple(np.asarray(k) for k in self.kraus)
        if kraus:
            m = kraus[0].shape[0]
            for i, k in enumerate(kraus):
                if k.ndim != 2 or k.shape != (m, self.dim):
                    raise ProblemError(f"{label}: Kraus operator {i} has shape {k.shape}, expected ({m}, {self.dim})")
            zs = tuple(_hermitian(f"{label}: key projector {j}", z, m) for j, z in enumerate(self.key_projectors))
            if not zs:
                raise ProblemError(f"{label}: a block with Kraus operators needs key-map projectors Z_j")
            for j, z in enumerate(zs):
                if not np.allclose(z @ z, z, atol=1e-8):
                    raise ProblemError(f"{label}: key-map operator {j} is not a projector (Z² ≠ Z)")
            if not np.allclose(sum(zs), np.eye(m), atol=1e-8):
                raise ProblemError(f"{label}: the key-map projectors do not sum to the identity on G's output")
            object.__setattr__(self, "key_projectors", zs)
        elif self.key_projectors:
            raise ProblemError(f"{label}: key projectors given without Kraus operators")
        object.__setattr__(self, "kraus", kraus)

    @property
    def yields_key(self) -> bool:
        return bool(self.kraus) and any(np.abs(k).max() > 0 for k in self.kraus)

    @property
    def is_complex(self) -> bool:
        return any(np.iscomplexobj(k) for k in self.kraus) or any(np.iscomplexobj(z) for z in self.key_projectors)


@dataclass(frozen=True)
class Constraint:
    """l ≤ Tr(Γ ρ) ≤ u with Γ = ⊕_b Γ_b (one Hermitian matrix per block; ``None`` for a zero block).

    ``lower == upper`` is an observed probability; ``lower = -inf`` or ``upper = +inf`` a one-sided
    bound (e.g. Tr(Π_k ρ) ≥ b_k)."""

    operator: tuple[np.ndarray | None, ...]
    lower: float
    upper: float
    name: str = ""

    @classmethod
    def equality(cls, operator: Sequence[np.ndarray | None], value: float, name: str = "") -> Constraint:
        return cls(tuple(operator), float(value), float(value), name)

    @classmethod
    def at_least(cls, operator: Sequence[np.ndarray | None], value: float, name: str = "") -> Constraint:
        return cls(tuple(operator), float(value), math.inf, name)

    @property
    def is_equality(self) -> bool:
        return self.lower == self.upper


@dataclass(frozen=True)
class NumericalProblem:
    """The program above, plus the error-correction leakage per round (bits) that turns α into a
    key rate K = α − leak (Zhang et al. Eq. (3)). ``assumptions`` are carried into the result."""

    blocks: tuple[Block, ...]
    constraints: tuple[Constraint, ...]
    leakage: float = 0.0
    name: str = ""
    assumptions: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        blocks = tuple(self.blocks)
        if not blocks:
            raise ProblemError("a numerical problem needs at least one block")
        if not any(b.yields_key for b in blocks):
            raise ProblemError("no block has a post-selection map G: the problem has no key to bound")
        checked = []
        for k, c in enumerate(self.constraints):
            label = c.name or f"constraint {k}"
            if len(c.operator) != len(blocks):
                raise ProblemError(f"{label}: {len(c.operator)} block operators for {len(blocks)} blocks")
            if math.isnan(c.lower) or math.isnan(c.upper) or c.lower > c.upper:
                raise ProblemError(f"{label}: bounds [{c.lower}, {c.upper}] are not an interval")
            if c.lower == -math.inf and c.upper == math.inf:
                raise ProblemError(f"{label}: unbounded on both sides; drop it")
            ops = tuple(None if op is None else _hermitian(f"{label}, block {b}", op, blk.dim)
                        for b, (op, blk) in enumerate(zip(c.operator, blocks, strict=True)))
            checked.append(Constraint(ops, c.lower, c.upper, c.name))
        if not math.isfinite(self.leakage) or self.leakage < 0:
            raise ProblemError(f"error-correction leakage {self.leakage!r} must be a finite number ≥ 0")
        object.__setattr__(self, "blocks", blocks)
        object.__setattr__(self, "constraints", tuple(checked))
        object.__setattr__(self, "assumptions", tuple(self.assumptions))

    @property
    def is_complex(self) -> bool:
        return any(b.is_complex for b in self.blocks) or any(
            op is not None and np.iscomplexobj(op) for c in self.constraints for op in c.operator)

    def block_operator(self, constraint: Constraint, b: int) -> np.ndarray:
        """Γ_b of ``constraint`` as a dense matrix (zeros where it was given as ``None``)."""
        op = constraint.operator[b]
        dim = self.blocks[b].dim
        return np.zeros((dim, dim)) if op is None else op
