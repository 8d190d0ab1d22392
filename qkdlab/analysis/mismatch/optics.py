"""Bob's receiver with detector-efficiency mismatch: Zhang et al., PRR 3, 013076 (2021), Sec. II,
Fig. 1, Tables I-II; POVMs as in Zhang & Lütkenhaus, PRA 95, 042319, App. A-B.

Single-photon space: polarisation (H, V) × M spatio-temporal modes, index ``pol·M + mode``.
Threshold detectors with efficiency η[detector][mode]:

- **active** (Fig. 1a): a modulator picks the H/V or D/A basis with probability ½ each; a PBS and
  two detectors, rows ``("H/D", "V/A")`` of the table (Table I for M = 2: [[η1, η2], [η2, η1]]);
- **passive** (Fig. 1b): a 50/50 beam splitter and two PBS, four detectors, rows
  ``("H", "V", "D", "A")`` (Table II for M = 4); each photon reaches an arm with amplitude 1/√2.

The no-click operator of a detector set S on the n-photon block is Γ_n(𝟙 − Q_S) with
Q_S = Σ_{d∈S} w η_{d,m} |p_d, m⟩⟨p_d, m| (w = 1 active within the chosen basis, ½ passive), see
:mod:`.fock`; click patterns follow by inclusion-exclusion, P(exactly C) = Σ_{T⊆C} (−1)^{|T|}
N_{(D∖C)∪T}. Outcomes (fine-grained, the default): H, V, HV (double click in the key basis), D, A,
DA, for passive also ``cross`` (clicks in both arms), and ``none``. Coarse-grained statistics assign
each double click to a random single click of its basis (H += ½HV, V += ½HV, same for D/A), the
squashing-model convention. The active POVM includes Bob's basis probability ½.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from qkdlab.errors import DataError

from .fock import second_quantised

__all__ = ["ALICE_POVM", "MismatchInputError", "Receiver", "active_fine_povm", "table_i", "table_ii"]

_S = 1 / math.sqrt(2)
_POL = {"H": np.array([1.0, 0.0]), "V": np.array([0.0, 1.0]), "D": np.array([_S, _S]), "A": np.array([_S, -_S])}

#: Alice's ideal qubit measurements (App. A, Eq. (A1)); {H, V} and {D, A} each sum to 𝟙.
ALICE_POVM = {x: np.outer(v, v) for x, v in _POL.items()}


#: Fine-grained POVMs per (scheme, table, n): a sweep reuses them across receivers and calls.
_FINE_CACHE: dict[tuple, dict[str, np.ndarray]] = {}
_CACHE_SIZE = 256


def _rotation_block(modes: int, n: int) -> np.ndarray:
    key = (modes, n)
    if key not in _ROTATION_CACHE:
        w = np.kron(np.column_stack([_POL["D"], _POL["A"]]), np.eye(modes))
        _ROTATION_CACHE[key] = second_quantised(w, n)
    return _ROTATION_CACHE[key]


_ROTATION_CACHE: dict[tuple[int, int], np.ndarray] = {}


def active_fine_povm(no_click: Callable[[tuple[tuple[int, str], ...]], np.ndarray]) -> dict[str, np.ndarray]:
    """The active receiver's fine-grained POVM from its no-click operators: ``no_click(((row, pol),
    …))`` is the operator of "no click in those detectors", detector ``row`` seeing polarisation
    ``pol`` (Bob's basis probability ½ included here). Shared by :class:`Receiver` and the
    mode-sector blocks of :mod:`.hull`."""
    out: dict[str, np.ndarray] = {}
    none = 0.0
    for (p1, p2), first, second, double in ((("H", "V"), "H", "V", "HV"), (("D", "A"), "D", "A", "DA")):
        n1, n2, n12 = no_click(((0, p1),)), no_click(((1, p2),)), no_click(((0, p1), (1, p2)))
        out[first] = 0.5 * (n2 - n12)
        out[second] = 0.5 * (n1 - n12)
        out[double] = 0.5 * (np.eye(len(n12)) - n1 - n2 + n12)
        none = none + 0.5 * n12
    out["none"] = none
    return out


class MismatchInputError(DataError, ValueError):
    """An efficiency table, statistics or option of the mismatch analysis is invalid."""


def table_i(eta1: float, eta2: float) -> np.ndarray:
    """Table I (active, M = 2): rows H/D, V/A; columns the two modes."""
    return np.array([[eta1, eta2], [eta2, eta1]], dtype=float)


def table_ii(eta1: float, eta2: float) -> np.ndarray:
    """Table II (passive, M = 4): rows H, V, D, A; η1 on the diagonal, η2 elsewhere."""
    return np.full((4, 4), float(eta2)) + (float(eta1) - float(eta2)) * np.eye(4)


@dataclass(frozen=True)
class Receiver:
    """Bob's optics: the scheme and the η table (detectors × modes)."""

    scheme: Literal["active", "passive"]
    efficiency: np.ndarray
    statistics: Literal["fine", "coarse"] = "fine"

    def __post_init__(self) -> None:
        if self.scheme not in ("active", "passive"):
            raise MismatchInputError(f"receiver {self.scheme!r}: use 'active' or 'passive'")
        if self.statistics not in ("fine", "coarse"):
            raise MismatchInputError(f"statistics {self.statistics!r}: use 'fine' or 'coarse'")
        eta = np.asarray(self.efficiency, dtype=float)
        rows = 2 if self.scheme == "active" else 4
        if eta.ndim == 1:
            eta = eta[:, None]
        if eta.ndim != 2 or eta.shape[0] != rows or eta.shape[1] < 1:
            raise MismatchInputError(
                f"efficiency table of shape {np.shape(self.efficiency)}: the {self.scheme} receiver needs {rows} "
                f"rows (detectors {', '.join(self.detectors_for(self.scheme))}) × M ≥ 1 columns (modes)")
        if not np.all(np.isfinite(eta)) or eta.min() < 0 or eta.max() > 1:
            raise MismatchInputError(f"detector efficiencies must lie in [0, 1]; got {eta.tolist()}")
        if not np.any(eta > 0):
            raise MismatchInputError("all detector efficiencies are 0: nothing is ever detected")
        object.__setattr__(self, "efficiency", eta)

    @staticmethod
    def detectors_for(scheme: str) -> tuple[str, ...]:
        return ("H/D", "V/A") if scheme == "active" else ("H", "V", "D", "A")

    @property
    def modes(self) -> int:
        return self.efficiency.shape[1]

    @property
    def single_photon_dim(self) -> int:
        return 2 * self.modes

    @property
    def outcomes(self) -> tuple[str, ...]:
        fine = ("H", "V", "HV", "D", "A", "DA") + (("cross",) if self.scheme == "passive" else ()) + ("none",)
        return fine if self.statistics == "fine" else tuple(o for o in fine if o not in ("HV", "DA"))

    @property
    def sifted_outcomes(self) -> tuple[str, ...]:
        """Bob's outcomes kept for the key (Sec. III A): H, V and the double click HV."""
        return ("H", "V", "HV") if self.statistics == "fine" else ("H", "V")

    def _q(self, pol: str, row: int, weight: float) -> np.ndarray:
        m = self.modes
        q = np.zeros((2 * m, 2 * m))
        for mode in range(m):
            v = np.zeros(2 * m)
            v[[mode, m + mode]] = _POL[pol]
            q += weight * self.efficiency[row, mode] * np.outer(v, v)
        return q

    def _no_click(self, qs: list[np.ndarray], n: int) -> np.ndarray:
        """Γ_n(𝟙 − Σ Q); when Σ Q is diagonal in the D/A ⊗ mode basis, via Γ_n(W) Γ_n(diag) Γ_n(W)ᵀ."""
        eye = np.eye(self.single_photon_dim)
        a = eye - sum(qs, np.zeros_like(eye))
        w = self._rotation()
        rotated = w.T @ a @ w
        if np.any(a - np.diag(np.diag(a))) and not np.any(np.abs(rotated - np.diag(np.diag(rotated))) > 1e-15):
            gw = _rotation_block(self.modes, n)
            return gw @ second_quantised(np.diag(np.diag(rotated)), n) @ gw.T
        return second_quantised(a, n)

    def _rotation(self) -> np.ndarray:
        return np.kron(np.column_stack([_POL["D"], _POL["A"]]), np.eye(self.modes))

    def cross_click(self, n: int) -> np.ndarray:
        """Passive: M_cross = 𝟙 − N_{H,V} − N_{D,A} + N_{H,V,D,A} (a click in each arm), 3 terms."""
        qs = [self._q(p, row, 0.5) for row, p in enumerate(("H", "V", "D", "A"))]
        eye = np.eye(self.block_dim(n))
        return eye - self._no_click(qs[:2], n) - self._no_click(qs[2:], n) + self._no_click(qs, n)

    def fine_povm(self, n: int) -> dict[str, np.ndarray]:
        """Fine-grained POVM on the n-photon block (sums to 𝟙); computed once per table and n."""
        key = (self.scheme, self.efficiency.shape, self.efficiency.tobytes(), n)
        if key not in _FINE_CACHE:
            if len(_FINE_CACHE) >= _CACHE_SIZE:
                _FINE_CACHE.pop(next(iter(_FINE_CACHE)))
            _FINE_CACHE[key] = self._compute_fine(n)
        return _FINE_CACHE[key]

    def _compute_fine(self, n: int) -> dict[str, np.ndarray]:
        if self.scheme == "active":
            return active_fine_povm(lambda pols: self._no_click([self._q(p, row, 1.0) for row, p in pols], n))
        names = ("H", "V", "D", "A")
        qs = [self._q(p, row, 0.5) for row, p in enumerate(names)]
        no_click = {s: self._no_click([qs[i] for i in s], n)
                    for r in range(5) for s in itertools.combinations(range(4), r)}
        out = {k: 0.0 for k in ("H", "V", "HV", "D", "A", "DA", "cross", "none")}
        groups = {(0,): "H", (1,): "V", (0, 1): "HV", (2,): "D", (3,): "A", (2, 3): "DA", (): "none"}
        for r in range(5):
            for clicked in itertools.combinations(range(4), r):
                rest = tuple(i for i in range(4) if i not in clicked)
                p = 0.0
                for t in range(len(clicked) + 1):
                    for sub in itertools.combinations(clicked, t):
                        p = p + (-1) ** t * no_click[tuple(sorted(rest + sub))]
                out[groups.get(clicked, "cross")] = out[groups.get(clicked, "cross")] + p
        return out

    def povm(self, n: int) -> dict[str, np.ndarray]:
        """The POVM of :attr:`outcomes` on the n-photon block."""
        fine = self.fine_povm(n)
        if self.statistics == "fine":
            return {o: fine[o] for o in self.outcomes}
        out = {o: fine[o] for o in self.outcomes}
        for double, (a, b) in (("HV", ("H", "V")), ("DA", ("D", "A"))):
            out[a] = out[a] + 0.5 * fine[double]
            out[b] = out[b] + 0.5 * fine[double]
        return out

    def block_dim(self, n: int) -> int:
        return math.comb(n + self.single_photon_dim - 1, n)
