"""Loss-tolerant phase-error bound over a whole box of characterized phases (ε = 0), by interval arithmetic.

Setting (issue 15, part 1; derivation in docs/keyrate-derivation.md, Sec. 7). The emitted states
are real qubit kets φ(p) = (cos p/2, sin p/2) whose phases p_j are only known to lie in
[c_j − w_j, c_j + w_j]. For any measurement, f_o(p) = <φ(p)|M_{X,o}|φ(p)> is a trigonometric
polynomial of degree 1 (span{1, cos p, sin p}), the observed X yields are f_o(p_j), and with
s = (p_Z0 + p_Z1)/2, d = (p_Z0 − p_Z1)/4 the virtual states are v_0 = cos d φ(s),
v_1 = sin d φ(s + π), so

    P(ph) = cos²d f_1(s) + sin²d f_0(s + π).

A degree-1 trigonometric polynomial is fixed by its values at three nodes (Lagrange
interpolation with ℓ_A(e) = sin((e − q_B)/2) sin((e − q_C)/2) / (sin((q_A − q_B)/2) sin((q_A − q_C)/2))).
With nodes A = Z0, B = Z1 and C an X state, and e = s (o = 1) or s + π (o = 0), the partition
of unity and the half-angle identities give the form in which the small quantities stand alone:

    f(e) = y_C + ℓ_A (y_A − y_B) + (ℓ_A + ℓ_B)(y_B − y_C),
    o = 1: ℓ_A = sin u / (2 cos d sin a),   ℓ_A + ℓ_B =  sin²u / (sin a sin b),
    o = 0: ℓ_A = sin u / (2 sin d sin a),   ℓ_A + ℓ_B = −sin²u / (sin a sin b),

with u = (e − q_C)/2, a = (q_A − q_C)/2, b = (q_B − q_C)/2. Every factor is a sine or cosine
of a linear combination of the phases, whose exact range over a box is known, and the data are
intervals; interval arithmetic over the box therefore gives a rigorous upper bound on P(ph) for
every point of the box and every measurement consistent with the data. The bound keeps the
second-order structure (u is small when the X node sits where the virtual state does), so a
modest subdivision of the box makes it tight. It drops three constraints, which only loosens
it: the fourth state's data, M_o ⪰ 0, and that both terms share the same Z phases.

Rounding: the result is raised by a relative 1e-9 (far above the floating-point error of the
few operations involved).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from .statistics import Estimates

__all__ = ["box_phase_error"]

_MARGIN = 1e-9
#: Refinement stops (the bound stays valid, only looser) before the live sub-boxes, or sub-boxes
#: times data sets, would exceed these (a 200-distance curve then costs a fraction of a second).
_MAX_BOXES = 40_000
_MAX_WORK = 2_000_000


def _sin_range(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact range of sin over [lo, hi] (elementwise): the ends, and ±1 where a crest lies inside."""
    s_lo, s_hi = np.sin(lo), np.sin(hi)
    low, high = np.minimum(s_lo, s_hi), np.maximum(s_lo, s_hi)
    crest = np.floor((hi - math.pi / 2) / (2 * math.pi)) >= np.ceil((lo - math.pi / 2) / (2 * math.pi))
    trough = np.floor((hi + math.pi / 2) / (2 * math.pi)) >= np.ceil((lo + math.pi / 2) / (2 * math.pi))
    return np.where(trough, -1.0, low), np.where(crest, 1.0, high)


def _mul(a: tuple, b: tuple) -> tuple[np.ndarray, np.ndarray]:
    products = [a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1]]
    return np.minimum.reduce(products), np.maximum.reduce(products)


def _inv(a: tuple) -> tuple[np.ndarray, np.ndarray]:
    """1/[lo, hi]; an interval containing 0 gives (−inf, inf), which makes the bound trivial."""
    lo, hi = a
    safe = (lo > 0) | (hi < 0)
    with np.errstate(divide="ignore"):
        return np.where(safe, 1.0 / hi, -np.inf), np.where(safe, 1.0 / lo, np.inf)


def _add(a: tuple, b: tuple) -> tuple:
    return a[0] + b[0], a[1] + b[1]


def _sub(a: tuple, b: tuple) -> tuple:
    return a[0] - b[1], a[1] - b[0]


def _upper(outcome: int, lo: np.ndarray, hi: np.ndarray, y: dict) -> np.ndarray:
    """Upper end of W f(e) on each sub-box (rows) for each data set (columns); lo/hi: (n, 3) for A, B, C."""
    q_a, q_b, q_c = (lo[:, 0], hi[:, 0]), (lo[:, 1], hi[:, 1]), (lo[:, 2], hi[:, 2])
    half = (0.5 * (q_a[0] + q_b[0]), 0.5 * (q_a[1] + q_b[1]))                     # s
    d = (0.25 * (q_a[0] - q_b[1]), 0.25 * (q_a[1] - q_b[0]))
    shift = 0.0 if outcome == 1 else math.pi
    u = (0.5 * (half[0] + shift - q_c[1]), 0.5 * (half[1] + shift - q_c[0]))
    a = (0.5 * (q_a[0] - q_c[1]), 0.5 * (q_a[1] - q_c[0]))
    b = (0.5 * (q_b[0] - q_c[1]), 0.5 * (q_b[1] - q_c[0]))
    sin_u, sin_a, sin_b = _sin_range(*u), _sin_range(*a), _sin_range(*b)
    weight_root = _sin_range(d[0] + math.pi / 2, d[1] + math.pi / 2) if outcome == 1 else _sin_range(*d)
    weight = _mul(weight_root, weight_root)
    weight = (np.maximum(weight[0], 0.0), weight[1])
    ell_a = _mul(sin_u, _inv(_mul((2 * weight_root[0], 2 * weight_root[1]), sin_a)))
    sin_u2 = _mul(sin_u, sin_u)
    ell_sum = _mul((np.maximum(sin_u2[0], 0.0), sin_u2[1]), _inv(_mul(sin_a, sin_b)))
    if outcome == 0:
        ell_sum = (-ell_sum[1], -ell_sum[0])
    col = (slice(None), None)
    f = _add(_add(y["C"], _mul((ell_a[0][col], ell_a[1][col]), _sub(y["A"], y["B"]))),
             _mul((ell_sum[0][col], ell_sum[1][col]), _sub(y["B"], y["C"])))
    with np.errstate(invalid="ignore"):
        value = _mul((weight[0][col], weight[1][col]), f)[1]
    return np.where(np.isnan(value), np.inf, value)


def _branch_and_bound(outcome: int, lo: np.ndarray, hi: np.ndarray, y: dict, tolerance: float,
                      levels: int, floor: np.ndarray) -> np.ndarray:
    """max over the box of the upper bound, refined where it can still matter; shape (D,).

    Each level evaluates the interval bound on every live sub-box and the exact value at its
    centre (a point of the box, so a lower estimate of the relaxed maximum). A sub-box whose
    bound is within ``tolerance`` of the best centre value, for every data set, is retired with
    its bound; the others are halved along each axis. The result is the largest bound over all
    retired and final sub-boxes, hence rigorous whatever the tolerance; the tolerance only
    limits how far above the relaxed maximum it may lie (1 + tolerance, once nothing is live).
    ``floor`` (per data set): bounds below it are not worth refining (a tiny absolute tolerance).
    """
    result = np.full(len(next(iter(y.values()))[0][0]), -np.inf)
    for level in range(levels + 1):
        upper = _upper(outcome, lo, hi, y)
        if level == levels or 8 * len(lo) > min(_MAX_BOXES, _MAX_WORK / upper.shape[1]):
            return np.maximum(result, upper.max(axis=0))
        mid = 0.5 * (lo + hi)
        reached = _upper(outcome, mid, mid, y).max(axis=0)
        live = (upper > reached * (1 + tolerance) + floor).any(axis=1)
        if (~live).any():
            result = np.maximum(result, upper[~live].max(axis=0))
        if not live.any():
            return result
        lo, hi, mid = lo[live], hi[live], mid[live]
        corners = np.array(list(itertools.product((0, 1), repeat=3)))            # (8, 3)
        lo = np.where(corners[None] == 0, lo[:, None], mid[:, None]).reshape(-1, 3)
        hi = np.where(corners[None] == 0, mid[:, None], hi[:, None]).reshape(-1, 3)
    return result


def box_phase_error(centres: dict[str, float], halfwidths: dict[str, float], data: Estimates,
                    tolerance: float = 0.01, levels: int = 6) -> np.ndarray:
    """Upper bound on P(ph) per data set over the phase box (module docstring); shape (D,).

    ``centres``/``halfwidths``: ket phases (rad) and half-widths per label (Z0, Z1 and X0 and/or
    X1). ``tolerance``/``levels``: the branch and bound stops refining a sub-box once its bound
    is within ``tolerance`` (relative) of a value reached inside the box, or after ``levels``
    halvings (then the bound is still valid, only looser).
    """
    index = {label: i for i, label in enumerate(centres)}
    trivial = 0.5 * (data.x_up[:, index["Z0"]].sum(axis=-1) + data.x_up[:, index["Z1"]].sum(axis=-1))
    total = np.zeros(data.x_up.shape[0])
    for outcome in (1, 0):
        best = np.full(data.x_up.shape[0], np.inf)
        for node in [label for label in ("X0", "X1") if label in centres]:
            labels = ("Z0", "Z1", node)
            lo = np.array([[centres[k] - halfwidths[k] for k in labels]])
            hi = np.array([[centres[k] + halfwidths[k] for k in labels]])
            y = {key: (data.x_low[None, :, index[k], outcome], data.x_up[None, :, index[k], outcome])
                 for key, k in zip("ABC", labels)}
            best = np.minimum(best, _branch_and_bound(outcome, lo, hi, y, tolerance, levels, 1e-3 * tolerance * trivial))
        total = total + best
    return np.clip(np.minimum(total * (1 + _MARGIN), trivial), 0.0, None)
