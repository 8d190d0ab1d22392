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
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import qics
import scipy.sparse as sp

from .problem import NumericalProblem

__all__ = ["PrimalPoint", "single_threaded", "solve_primal"]


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """Run the enclosed code with one BLAS thread and one numba thread (restored afterwards)."""
    from threadpoolctl import threadpool_limits

    try:
        import numba
    except ImportError:  # pragma: no cover - qics requires numba
        numba = None
    previous = numba.get_num_threads() if numba is not None else None
    with threadpool_limits(limits=1):
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


def _vec(m: np.ndarray, iscomplex: bool) -> np.ndarray:
    return qics.vectorize.mat_to_vec(np.asarray(m, dtype=complex if iscomplex else float)).ravel()


def solve_primal(problem: NumericalProblem, tolerance: float = 1e-10, max_iter: int = 200) -> PrimalPoint:
    """Solve the (reduced) problem with QICS; the trace must be among the equality constraints.

    Variables x = (t_b for key blocks, vec X_b for all blocks); minimise Σ t_b subject to the
    equalities A x = b, Tr(Γ X) − l ≥ 0 and u − Tr(Γ X) ≥ 0 (orthant), and (t_b, X_b) ∈ QKD_b or
    X_b ⪰ 0."""
    iscomplex = problem.is_complex
    blocks = problem.blocks
    key = [b for b, blk in enumerate(blocks) if blk.yields_key]
    vdim = [qics.vectorize.vec_dim(blk.dim, iscomplex=iscomplex) for blk in blocks]
    x_off = np.cumsum([len(key)] + vdim)[:-1]
    n = len(key) + sum(vdim)

    def row(c) -> np.ndarray:
        r = np.zeros(n)
        for b in range(len(blocks)):
            if c.operator[b] is not None:
                r[x_off[b]:x_off[b] + vdim[b]] = _vec(c.operator[b], iscomplex)
        return r

    eq = [c for c in problem.constraints if c.is_equality]
    a = np.array([row(c) for c in eq]) if eq else np.zeros((0, n))
    bvec = np.array([[c.lower] for c in eq]) if eq else np.zeros((0, 1))
    g_rows, h_vals, ineq_map = [], [], []  # ineq_map: (constraint index, +1 lower / -1 upper)
    for k, c in enumerate(problem.constraints):
        if c.is_equality:
            continue
        r = row(c)
        if c.lower > -math.inf:
            g_rows.append(-r)
            h_vals.append(-c.lower)
            ineq_map.append((k, 1.0))
        if c.upper < math.inf:
            ev = [np.linalg.eigvalsh(op).max() for op in c.operator if op is not None]
            if c.upper < max(ev, default=0.0):  # skip upper bounds every state meets
                g_rows.append(r)
                h_vals.append(c.upper)
                ineq_map.append((k, -1.0))
    cones: list = []
    g_blocks = []
    h_blocks = []
    if g_rows:
        cones.append(qics.cones.NonNegOrthant(len(g_rows)))
        g_blocks.append(sp.csr_matrix(np.array(g_rows)))
        h_blocks.append(np.array(h_vals)[:, None])
    for b, blk in enumerate(blocks):
        cols_x = sp.csr_matrix((np.full(vdim[b], -1.0), (np.arange(vdim[b]), x_off[b] + np.arange(vdim[b]))),
                               shape=(vdim[b], n))
        if blk.yields_key:
            t_row = sp.csr_matrix(([-1.0], ([0], [key.index(b)])), shape=(1, n))
            g_blocks.append(sp.vstack([t_row, cols_x]))
            h_blocks.append(np.zeros((1 + vdim[b], 1)))
            cones.append(qics.cones.QuantKeyDist([np.asarray(k) for k in blk.kraus],
                                                 [np.asarray(z) for z in blk.key_projectors], iscomplex=iscomplex))
        else:
            g_blocks.append(cols_x)
            h_blocks.append(np.zeros((vdim[b], 1)))
            cones.append(qics.cones.PosSemidefinite(blk.dim, iscomplex=iscomplex))
    c = np.zeros((n, 1))
    c[:len(key)] = 1.0
    model = qics.Model(c=c, A=a, b=bvec, G=sp.vstack(g_blocks).tocsr(), h=np.vstack(h_blocks), cones=cones)
    start = time.perf_counter()
    with single_threaded():
        info = qics.Solver(model, tol_gap=tolerance, tol_feas=tolerance, verbose=0, max_iter=max_iter).solve()
    seconds = time.perf_counter() - start
    x = np.asarray(info["x_opt"]).ravel()
    rho = tuple(qics.vectorize.vec_to_mat(x[x_off[b]:x_off[b] + vdim[b], None], iscomplex=iscomplex)
                for b in range(len(blocks)))
    y_eq = -np.asarray(info["y_opt"]).ravel()
    multipliers = np.zeros(len(problem.constraints))
    for k, y in zip([k for k, c in enumerate(problem.constraints) if c.is_equality], y_eq, strict=True):
        multipliers[k] = y
    if g_rows:
        z = np.asarray(info["z_opt"][0]).ravel()
        for (k, sign), zk in zip(ineq_map, z, strict=True):
            multipliers[k] += sign * zk
    return PrimalPoint(rho, multipliers, str(info["sol_status"]), float(info["p_obj"]) / math.log(2),
                       int(info["num_iter"]), seconds)
