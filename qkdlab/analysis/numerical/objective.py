"""The objective f(ρ) = Σ_b D(G_b(ρ_b) ‖ Z_b(G_b(ρ_b))) and its gradient, on fixed supports.

For ρ_b ≻ 0 the support of G_b(ρ_b) is R = range(Σ_i K_i K_i†) and that of Z(G_b(ρ_b)) is
R_Z = range(Z(Σ_i K_i K_i†)), whatever ρ_b is (G(ρ) ⪰ λ_min(ρ) Σ K K†). Both are fixed, so with
isometries V onto R and W onto R_Z (the support compression of the issue; QICS performs the same
facial reduction inside its cone),

    f_b(ρ) = Tr[G(ρ) log G(ρ)] − Tr[Z(G(ρ)) log Z(G(ρ))]            (nats)
    ∇f_b(ρ) = G†(V log(V†G(ρ)V) V†) − G†(W log(W†Z(G(ρ))W) W†),

f is smooth on the positive-definite cone and ⟨∇f(ρ), ρ⟩ = f(ρ) (the identity terms of the two
logarithms cancel because Z is unital and trace preserving on G's output). The gradient is what
step 2 linearises; ρ need not be feasible, only positive definite.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .problem import Block

__all__ = ["BlockObjective"]

#: Eigenvalues below this fraction of the largest are the exact zeros of a rank-deficient map.
_RANK_TOL = 1e-12


def _range_isometry(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(m)
    keep = w > _RANK_TOL * max(float(w.max(initial=0.0)), 1e-300)
    return v[:, keep]


def _log_on(iso: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, float]:
    """(iso log(iso† m iso) iso†, Tr[m log m]) for m supported on range(iso)."""
    w, u = np.linalg.eigh(iso.conj().T @ m @ iso)
    w = np.maximum(w, np.finfo(float).tiny)
    lu = iso @ u
    return (lu * np.log(w)) @ lu.conj().T, float(np.sum(w * np.log(w)))


@dataclass
class BlockObjective:
    """f_b and ∇f_b for one key block, with the supports computed once."""

    block: Block

    def __post_init__(self) -> None:
        kk = sum(k @ k.conj().T for k in self.block.kraus)
        self._v = _range_isometry(kk)
        self._w = _range_isometry(self.pinch(kk))

    def pinch(self, sigma: np.ndarray) -> np.ndarray:
        return sum(z @ sigma @ z for z in self.block.key_projectors)

    def channel(self, rho: np.ndarray) -> np.ndarray:
        return sum(k @ rho @ k.conj().T for k in self.block.kraus)

    def adjoint(self, m: np.ndarray) -> np.ndarray:
        return sum(k.conj().T @ m @ k for k in self.block.kraus)

    def value_and_gradient(self, rho: np.ndarray) -> tuple[float, np.ndarray]:
        """(f_b(ρ) in nats, ∇f_b(ρ)); ρ must be positive definite."""
        g = self.channel(rho)
        log_g, s_g = _log_on(self._v, g)
        log_zg, s_zg = _log_on(self._w, self.pinch(g))
        grad = self.adjoint(log_g - log_zg)
        return s_g - s_zg, (grad + grad.conj().T) / 2
