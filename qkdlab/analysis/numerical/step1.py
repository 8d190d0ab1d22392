"""Step 1: a fast, accurate primal point, from QICS's quantum-key-distribution cone.

Why QICS (He, Saunderson & Fawzi, QICS 1.1): its cone
QKD_{G,Z} = cl{(t, X) : t ≥ D(G(X) ‖ Z(G(X)))} is exactly the epigraph of our objective, with a
self-concordant barrier whose oracles exploit the Kraus/pinching structure (and perform the facial
reduction of G's output themselves), so a primal-dual interior-point method reaches a duality gap
of 1e-10 in ~30 Newton steps. Frank-Wolfe (openQKDsecurity's step 1) stalls at gaps 1e-6..1e-4,
and a generic barrier method on the block structure is 3-5× slower (see the issue's timings and
benchmarks/bench_numerical.py). We pose one QKD cone per key block (the objective is a sum over
blocks, :mod:`.reductions`), a PSD cone for blocks without key, and the interval constraints as a
nonnegative orthant. QICS's own dual is not used as a certificate; step 2 builds one.

Threads: QICS uses numba and BLAS on matrices of a few tens of rows, where threading only adds
contention (on 2 busy cores about 10× slower for M = 2). :func:`single_threaded` pins both to one
thread for the duration of a solve.

Small cones: QICS keeps each cone's full-to-compact vectorisation map as a scipy COO matrix and
applies it (and its transpose, rebuilt on every call) several times per inverse-Hessian product.
On our blocks of a few to a few tens of rows that bookkeeping, not arithmetic, was 40 % of the
solve (cProfile, benchmarks/bench_numerical.py). :func:`_dense_compaction` stores the same linear
map as a dense array where it is small (≤ ``_DENSE_ENTRIES`` entries): the same operator, so the
iterates are those of the sparse map up to round-off; every QICS code path that uses it accepts
dense arrays (``@``, ``.T``, ``qics._utils.linalg.x_dot_dense``).
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import qics
import scipy.sparse

from .problem import NumericalProblem

#: Largest full-to-compact map stored densely (entries; 2.5e5 doubles = 2 MB, a block of ~22 rows).
_DENSE_ENTRIES = 250_000

__all__ = ["PrimalPoint", "single_threaded", "solve_primal"]


@functools.cache
def _threadpools():
    """threadpoolctl's view of the BLAS/OpenMP libraries, inspected once (≈1 ms a time): QICS,
    numpy and scipy load theirs on import of this module, before the first solve."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """Run the enclosed code with one BLAS thread and one numba thread (restored afterwards)."""
    try:
        import numba
    except ImportError:  # pragma: no cover - qics requires numba
        numba = None
    previous = numba.get_num_threads() if numba is not None else None
    with _threadpools().limit(limits=1):
        if numba is not None:
            numba.set_num_threads(1)
        try:
            yield
        finally:
            if numba is not None:
                numba.set_num_threads(previous)


@dataclass(frozen=True)
class PrimalPoint:
    """QICS's answer: ρ per block, candidate multipliers (y per constraint of the problem, in the
    sign convention ∇f ≈ Σ_k y_k Γ_k + S, S ⪰ 0), the solver status and its objective (bits)."""

    rho: tuple[np.ndarray, ...]
    multipliers: np.ndarray
    status: str
    objective_bits: float
    iterations: int
    seconds: float


def _dense_compaction(cone: object) -> None:
    """Replace a small cone's sparse full-to-compact map by the equal dense array (see above)."""
    op = getattr(cone, "F2C_op", None)
    if op is not None and scipy.sparse.issparse(op) and op.shape[0] * op.shape[1] <= _DENSE_ENTRIES:
        cone.F2C_op = op.toarray()


def _vec(m: np.ndarray, iscomplex: bool) -> np.ndarray:
    return qics.vectorize.mat_to_vec(np.asarray(m, dtype=complex if iscomplex else float)).ravel()


def solve_primal(problem: NumericalProblem, tolerance: float = 1e-12, max_iter: int = 200) -> PrimalPoint:
    """Solve the (reduced) problem with QICS; the trace must be among the equality constraints.

    Variables x = (s, then per block t_b (key blocks only) and vec X_b), laid out in cone order so
    that the cone map is G = −𝟙 (QICS converges poorly on permuted cone maps): minimise Σ t_b
    subject to Tr(Γ_k X) = p_k, Tr(Γ_k X) − s = l_k and Tr(Γ_k X) + s = u_k for the interval sides,
    s ≥ 0, and (t_b, X_b) ∈ QKD_b or X_b ⪰ 0."""
    iscomplex = problem.is_complex
    blocks = problem.blocks
    sides = []  # (constraint index, bound value, sign of s)
    for k, c in enumerate(problem.constraints):
        if c.is_equality:
            continue
        if c.lower > -math.inf:
            sides.append((k, c.lower, -1.0))
        if c.upper < math.inf:
            ev = max((np.linalg.eigvalsh(op).max() for op in c.operator if op is not None), default=0.0)
            if c.upper < ev:  # skip upper bounds every state meets
                sides.append((k, c.upper, 1.0))
    n_s = len(sides)
    vdim = [qics.vectorize.vec_dim(blk.dim, iscomplex=iscomplex) for blk in blocks]
    widths = [int(blk.yields_key) + v for blk, v in zip(blocks, vdim, strict=True)]
    starts = np.cumsum([n_s] + widths)[:-1]
    x_off = [int(st) + int(blk.yields_key) for st, blk in zip(starts, blocks, strict=True)]
    n = n_s + sum(widths)

    def row(c) -> np.ndarray:
        r = np.zeros(n)
        for b in range(len(blocks)):
            if c.operator[b] is not None:
                r[x_off[b]:x_off[b] + vdim[b]] = _vec(c.operator[b], iscomplex)
        return r

    rows, values, eq_index = [], [], []
    for k, c in enumerate(problem.constraints):
        if c.is_equality:
            rows.append(row(c))
            values.append(c.lower)
            eq_index.append(k)
    for j, (k, value, sign) in enumerate(sides):
        r = row(problem.constraints[k])
        r[j] = sign
        rows.append(r)
        values.append(value)
        eq_index.append(k)
    a = np.array(rows)
    cones: list = [qics.cones.NonNegOrthant(n_s)] if n_s else []
    c = np.zeros((n, 1))
    for blk, st in zip(blocks, starts, strict=True):
        if blk.yields_key:
            c[st] = 1.0
            cones.append(qics.cones.QuantKeyDist([np.asarray(k) for k in blk.kraus],
                                                 [np.asarray(z) for z in blk.key_projectors], iscomplex=iscomplex))
        else:
            cones.append(qics.cones.PosSemidefinite(blk.dim, iscomplex=iscomplex))
    for cone in cones:
        _dense_compaction(cone)
    model = qics.Model(c=c, A=a, b=np.array(values)[:, None], cones=cones)
    start = time.perf_counter()
    with single_threaded():
        info = qics.Solver(model, tol_gap=tolerance, tol_feas=tolerance, verbose=0, max_iter=max_iter).solve()
    seconds = time.perf_counter() - start
    x = np.asarray(info["x_opt"]).ravel()
    rho = tuple(qics.vectorize.vec_to_mat(x[x_off[b]:x_off[b] + vdim[b], None], iscomplex=iscomplex)
                for b in range(len(blocks)))
    multipliers = np.zeros(len(problem.constraints))
    for k, y in zip(eq_index, -np.asarray(info["y_opt"]).ravel(), strict=True):
        multipliers[k] += y
    return PrimalPoint(rho, multipliers, str(info["sol_status"]), float(info["p_obj"]) / math.log(2),
                       int(info["num_iter"]), seconds)
