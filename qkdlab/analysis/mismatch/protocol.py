"""The efficiency-mismatch BB84 key-rate problem as data (Zhang et al., PRR 3, 013076, Eqs. (2)-(9)).

State ρ_AB = ⊕_n ρ^(n): Alice's qubit ⊗ Bob's n-photon block (Sec. III B: every POVM element is
block diagonal in Bob's total photon number, so a QND measurement by Eve loses nothing; see
:mod:`qkdlab.analysis.numerical.reductions` for the general argument). Blocks:

- ``cutoff`` (an assumption: Bob never receives more than N photons): n = 0..N, Tr ρ = 1;
- ``squasher`` (Theorem 1, no assumption): n = 0..k and one flag block 𝟙_A ⊗ span{|y⟩} with
  M̃_y = |y⟩⟨y| for every outcome y (Eq. (8)), plus Tr(Π_j ρ) ≥ b_j for j ≤ k (Eq. (2)).

Post-selection (Eq. (4)): G = (1/√2) 𝟙_A ⊗ √(M_H + M_V + M_HV) per block (1/√2 is Alice's basis
probability; Bob's ½ is inside his active POVM); on the flag block √ of the sifted flag projector.
Key map (Eq. (5)): Z_j = |j⟩⟨j|_A ⊗ 𝟙 on Alice's H/V outcome. Constraints: every p(x, y) (Alice's
four states × Bob's outcomes, fine- or coarse-grained). Error correction (Eq. (3)): leak = f_EC ·
H(X|Y) over the sifted rounds, q(x, b) = ½[p(x, b) + ½ p(x, HV)] (x, b ∈ {H, V}; a double click is a
uniformly random bit, the convention of the squashing model), leak = −Σ q log₂(q(x, b)/Σ_x q(x, b)).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from qkdlab.analysis.numerical import Block, Constraint, NumericalProblem

from .channel import ALICE_ORDER
from .fock import fock_basis
from .optics import ALICE_POVM, MismatchInputError, Receiver

__all__ = ["build_problem", "leakage", "mode_sectors"]


def _sqrtm_psd(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(m)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def leakage(p_fine: np.ndarray, fine_outcomes: tuple[str, ...], f_ec: float = 1.0) -> float:
    """EC leakage per round (bits) from fine-grained p(x, y), double clicks as random bits."""
    col = {y: j for j, y in enumerate(fine_outcomes)}
    q = np.array([[0.5 * (p_fine[x, col[b]] + 0.5 * p_fine[x, col["HV"]]) for b in ("H", "V")] for x in (0, 1)])
    total = 0.0
    for b in range(2):
        qb = q[:, b].sum()
        for x in range(2):
            if q[x, b] > 0:
                total -= q[x, b] * math.log2(q[x, b] / qb)
    return f_ec * total


def _key_projectors(dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Z_j = |j⟩⟨j|_A ⊗ 𝟙 on Alice's H/V outcome (Eq. (5))."""
    return np.kron(np.diag([1.0, 0.0]), np.eye(dim)), np.kron(np.diag([0.0, 1.0]), np.eye(dim))


def _coarse(p_fine: np.ndarray, fine_outcomes: tuple[str, ...], outcomes: tuple[str, ...]) -> np.ndarray:
    col = {y: j for j, y in enumerate(fine_outcomes)}
    out = np.array([[p_fine[x, col[y]] for y in outcomes] for x in range(4)])
    idx = {y: j for j, y in enumerate(outcomes)}
    for double, (a, b) in (("HV", ("H", "V")), ("DA", ("D", "A"))):
        out[:, idx[a]] += 0.5 * p_fine[:, col[double]]
        out[:, idx[b]] += 0.5 * p_fine[:, col[double]]
    return out


def mode_sectors(receiver: Receiver, n: int) -> list[np.ndarray]:
    """Indices of the n-photon Fock basis grouped by the photon number of each spatio-temporal mode.

    Every no-click operator Γ_n(𝟙 − Q_S) keeps each mode's photon number (Q_S is diagonal in the
    mode, :mod:`.optics`), hence so do Bob's POVM, G and the constraints: pinching ρ onto these
    sectors loses nothing (the block argument of :mod:`qkdlab.analysis.numerical.reductions`)."""
    m = receiver.modes
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, occ in enumerate(fock_basis(n, 2 * m)):
        groups.setdefault(tuple(occ[c] + occ[m + c] for c in range(m)), []).append(i)
    return [np.array(v) for _, v in sorted(groups.items())]


def _restrict(op: np.ndarray, idx: np.ndarray) -> np.ndarray:
    out = op[np.ix_(idx, idx)]
    rest = np.setdiff1d(np.arange(len(op)), idx)
    if rest.size and np.abs(op[np.ix_(idx, rest)]).max(initial=0.0) > 1e-12 * max(1.0, np.abs(op).max()):
        raise MismatchInputError("an operator of the receiver mixes mode sectors; the sector reduction does not apply")
    return out


#: (receiver, photon bound, top, sectors) → blocks, constraint operators, photon number per block: the
#: part of the problem that does not depend on the statistics, built once per table (a curve over
#: transmission or η2 reuses it).
_STRUCTURE_CACHE: dict[tuple, tuple[tuple[Block, ...], dict[tuple[str, str], tuple[np.ndarray, ...]], tuple[int, ...]]] = {}
_CACHE_SIZE = 64


def _structure(receiver: Receiver, photon_bound: str, top: int, sectors: bool
               ) -> tuple[tuple[Block, ...], dict[tuple[str, str], tuple[np.ndarray, ...]], tuple[int, ...]]:
    key = (receiver.scheme, receiver.statistics, receiver.efficiency.shape, receiver.efficiency.tobytes(),
           photon_bound, top, sectors)
    if key in _STRUCTURE_CACHE:
        return _STRUCTURE_CACHE[key]
    eye2 = np.eye(2)
    blocks, povms, photons = [], [], []
    for n in range(top + 1):
        full = receiver.povm(n)
        parts = mode_sectors(receiver, n) if sectors and n > 0 else [np.arange(receiver.block_dim(n))]
        for j, idx in enumerate(parts):
            povm = {y: _restrict(op, idx) for y, op in full.items()} if len(parts) > 1 else full
            sifted = sum(povm[y] for y in receiver.sifted_outcomes)
            dim_b = len(idx)
            name = f"n={n}" + (f"/sector {j}" if len(parts) > 1 else "")
            if np.abs(sifted).max() > 0:
                blocks.append(Block(2 * dim_b, (np.kron(eye2, _sqrtm_psd(sifted)) / math.sqrt(2),),
                                    _key_projectors(dim_b), name))
            else:
                blocks.append(Block(2 * dim_b, name=name))
            povms.append(povm)
            photons.append(n)
    if photon_bound == "squasher":
        j = len(receiver.outcomes)
        flag_sift = np.diag([1.0 if y in receiver.sifted_outcomes else 0.0 for y in receiver.outcomes])
        blocks.append(Block(2 * j, (np.kron(eye2, flag_sift) / math.sqrt(2),), _key_projectors(j), "flags"))
        povms.append({y: np.diag(np.eye(j)[i]) for i, y in enumerate(receiver.outcomes)})
    operators = {(x, y): tuple(np.kron(ALICE_POVM[x], povm[y]) for povm in povms)
                 for x in ALICE_ORDER for y in receiver.outcomes}
    if len(_STRUCTURE_CACHE) >= _CACHE_SIZE:
        _STRUCTURE_CACHE.pop(next(iter(_STRUCTURE_CACHE)))
    _STRUCTURE_CACHE[key] = (tuple(blocks), operators, tuple(photons))
    return _STRUCTURE_CACHE[key]


def build_problem(receiver: Receiver, p_fine: np.ndarray, photon_bound: Literal["cutoff", "squasher"] = "squasher",
                  *, cutoff: int = 2, squasher_photons: int = 2, b: dict[int, float] | None = None,
                  f_ec: float = 1.0, sectors: bool = False) -> NumericalProblem:
    """The NumericalProblem for ``receiver`` and fine-grained statistics ``p_fine`` (rows H, V, D, A).

    ``b``: {k: b_k} photon-number lower bounds (squasher only; from :func:`.bounds.photon_bounds`).
    ``sectors``: one block per photon number *and* per mode occupation (:func:`mode_sectors`), the
    exact reduction that makes many-mode tables (the doubled emulation hull) affordable."""
    if photon_bound not in ("cutoff", "squasher"):
        raise MismatchInputError(f"photon bound {photon_bound!r}: use 'cutoff' or 'squasher'")
    top = cutoff if photon_bound == "cutoff" else squasher_photons
    if top < 1:
        raise MismatchInputError(f"photon-number {photon_bound} {top}: must be ≥ 1")
    if not math.isfinite(f_ec) or f_ec < 1.0:
        raise MismatchInputError(f"f_EC = {f_ec!r}: error-correction efficiency must be ≥ 1")
    fine_outcomes = Receiver(receiver.scheme, receiver.efficiency, "fine").outcomes
    outcomes = receiver.outcomes
    p = p_fine if receiver.statistics == "fine" else _coarse(p_fine, fine_outcomes, outcomes)
    blocks, operators, photons = _structure(receiver, photon_bound, top, sectors)
    assumptions = [f"{receiver.scheme} receiver, {receiver.modes} mode(s), {receiver.statistics}-grained statistics",
                   "asymptotic key rate (collective = coherent attacks), single-photon source, Alice's ideal qubit",
                   "a double click is a random bit for error correction",
                   f"ASSUMPTION: Eve reaches Bob's detectors only through the table's {receiver.modes} mode(s) "
                   "(Zhang et al.'s model; further modes with the same efficiencies let her send distinguishable "
                   "photons and can lower the rate — two copies of each mode cover that, docs/mismatch-calibrated.md "
                   "Lemma 3)"]
    if photon_bound == "squasher":
        assumptions.append(f"flag-state squasher (Theorem 1) above {top} photon(s)")
    else:
        assumptions.append(f"ASSUMPTION: Bob never receives more than {top} photons (photon-number cut-off)")
    cons = [Constraint.equality(operators[(x, y)], float(p[i, jj]), f"p({x},{y})")
            for i, x in enumerate(ALICE_ORDER) for jj, y in enumerate(outcomes)]
    if photon_bound == "squasher":
        for k, value in sorted((b or {}).items()):
            if value is None:
                continue
            if not 0 <= k <= top:
                raise MismatchInputError(f"photon-number bound b_{k}: k must lie in 0..{top}")
            ops = [np.eye(blk.dim) if n <= k else None for n, blk in zip(photons, blocks[:-1], strict=True)] + [None]
            cons.append(Constraint.at_least(ops, value, f"b_{k}"))
    leak = leakage(p_fine, fine_outcomes, f_ec)
    return NumericalProblem(tuple(blocks), tuple(cons), leak, f"bb84-mismatch/{receiver.scheme}/{photon_bound}",
                            tuple(assumptions))
