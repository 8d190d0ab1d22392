"""Photon-number blocks of a few optical modes: Fock bases and second quantisation.

For passive linear optics with losses and threshold detection, every "no click in the detector
set S" operator is the normal-ordered exponential :exp(−a†Q_S a): with Q_S the single-photon
detection operator of S (Zhang & Lütkenhaus, PRA 95, 042319, App. A-B). On the n-photon block it
is the second quantisation Γ_n(𝟙 − Q_S) = (𝟙 − Q_S)^{⊗n} restricted to the symmetric subspace:
each photon is independently not detected by S with the single-photon effect 𝟙 − Q_S, and the
photon-counting measurement of the output modes is the symmetrised product measurement. We
compute Γ_n(A) in the occupation-number basis from Γ_n(A)|k⟩ = Π_i (Σ_j A_ji a_j†)^{k_i}/√(k_i!) |0⟩
(polynomial expansion, no (d^n)-dimensional tensor power).
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache

import numpy as np

__all__ = ["fock_basis", "n_photon_state", "second_quantised"]


@lru_cache(maxsize=None)
def fock_basis(n: int, modes: int) -> tuple[tuple[int, ...], ...]:
    """Occupation tuples of n photons in ``modes`` modes (a fixed, deterministic order)."""
    out = []
    for combo in itertools.combinations_with_replacement(range(modes), n):
        occ = [0] * modes
        for j in combo:
            occ[j] += 1
        out.append(tuple(occ))
    return tuple(out)


@lru_cache(maxsize=None)
def _index(n: int, modes: int) -> dict[tuple[int, ...], int]:
    return {occ: i for i, occ in enumerate(fock_basis(n, modes))}


@lru_cache(maxsize=None)
def _raise_table(n: int, modes: int) -> np.ndarray:
    """table[i, j] = index in the (n+1)-photon basis of a_j† applied to basis state i of n photons."""
    nxt = _index(n + 1, modes)
    table = np.empty((len(fock_basis(n, modes)), modes), dtype=np.intp)
    for i, occ in enumerate(fock_basis(n, modes)):
        for j in range(modes):
            up = list(occ)
            up[j] += 1
            table[i, j] = nxt[tuple(up)]
    return table


@lru_cache(maxsize=None)
def _sqrt_factorials(n: int, modes: int) -> np.ndarray:
    return np.array([math.sqrt(math.prod(math.factorial(k) for k in occ)) for occ in fock_basis(n, modes)])


def _expand(columns: list[np.ndarray], modes: int) -> np.ndarray:
    """Coefficients of Π_c (Σ_j c_j x_j) over the monomials of degree len(columns)."""
    dtype = np.result_type(*columns) if columns else float
    vec = np.ones(1, dtype=dtype)
    for deg, col in enumerate(columns):
        new = np.zeros(len(fock_basis(deg + 1, modes)), dtype=np.result_type(dtype, col))
        table = _raise_table(deg, modes)
        for j in np.flatnonzero(col):
            np.add.at(new, table[:, j], vec * col[j])
        vec = new
    return vec


def second_quantised(a: np.ndarray, n: int) -> np.ndarray:
    """Γ_n(A) on the n-photon block: ⟨m|Γ_n(A)|k⟩, for a single-photon operator A (d × d)."""
    a = np.asarray(a)
    d = a.shape[0]
    if not np.any(a - np.diag(np.diag(a))):  # diagonal: Γ_n(A)|k⟩ = Π_j a_jj^{k_j} |k⟩
        occ = np.array(fock_basis(n, d), dtype=float).reshape(-1, d)
        return np.diag(np.prod(np.diag(a)[None, :] ** occ, axis=1))
    basis = fock_basis(n, d)
    sq = _sqrt_factorials(n, d)
    out = np.zeros((len(basis), len(basis)), dtype=a.dtype)
    for i, occ in enumerate(basis):
        cols = [a[:, j] for j, k in enumerate(occ) for _ in range(k)]
        out[:, i] = _expand(cols, d) * sq / sq[i]
    return out


def n_photon_state(v: np.ndarray, n: int) -> np.ndarray:
    """(v·a†)^n |0⟩/√(n!) in the n-photon basis: n photons in the single-photon state v (unit norm)."""
    v = np.asarray(v)
    d = len(v)
    return _expand([v] * n, d) * _sqrt_factorials(n, d) / math.sqrt(math.factorial(n))
