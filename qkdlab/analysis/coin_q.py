"""The free parameter q of the loss-tolerant coin ([F] Eqs. 10-11): the best bound over q ∈ [0, 1], certified.

[F] weighs the decomposition terms of the virtual states by q and 1 − q. Every q gives a valid
target/reference pair (:class:`.coin.CoinFamily`), so the bound b(q) of any q — the coin bound with
the overlap SDP's *certified* Δ(q) — is a secure bound, and so is the smallest of any set of them.
What needs a certificate is the claim that no q in [0, 1] (and no candidate decomposition) does
better than the value reported, by more than a stated tolerance. We prove it with lower bounds on
b over intervals of q (docs/keyrate-derivation.md, Sec. 3):

- Δ(q) is a maximum over emitted states, so explicit allowed states ψ (the witnesses the overlap SDP
  extracts from its primal point, and ψ = φ) give Δ(q) ≥ ‖(T̃_q − R̃_q) ψ‖² = Σ_β g_β(y_β) for all q,
  with y_β = 1 − √s_β and g_β(y) = ‖y a_β + (1 − y) b_β‖² a convex quadratic (a_β = |0>_A v_β(ψ),
  b_β = L_β ψ). Its minimum over an interval of y is exact.
- The observed weights are s_β(q) times fixed weights, with s_β affine in q, so each observed
  quantity's range over an interval of q is the range of its end values.
- The coin bound's factors are monotone (coin.max_target_error_box), which turns those ranges into
  a lower bound of b over the interval (:func:`coin_bound_lower`).

The search (a branch and bound over q): evaluate every decomposition at q0 (as before); lower-bound
b on a partition of [0, 1] around q0 (geometric steps, finest next to q0); halve the intervals
whose lower bound falls below the best value by more than the tolerance; where halving no longer
helps (the witnesses are too far from the maximum there), solve the SDP at that q — a new candidate
value and a new witness — and repeat, a few rounds at most. The result carries the certified gap:
the best value minus the smallest lower bound over all q and decompositions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..model import SolverReport
from .coin import CoinFamily, CoinPair
from .overlap_sdp import OverlapBound, Witness, max_distance
from .phase_error import quantum_coin
from .statistics import Estimates

__all__ = ["QSearch", "best_over_q", "coin_bound_lower", "PARTITION"]

#: Offsets q − q0 of the first partition's points on each side of q0: geometric from 1e-8 (×3 per step);
#: the search halves intervals where the lower bound is short (a branch and bound over q).
PARTITION = 1e-8 * 3.0 ** np.arange(0, 18)
#: At most this many rounds of new SDP nodes (each at most one per decomposition).
MAX_ROUNDS = 4
#: Intervals where the lower bound is short are halved (at most MAX_SPLITS times per round) down to this
#: width relative to their distance from q0.
MIN_WIDTH = 1e-3
MAX_SPLITS = 14
#: and the partition of one decomposition never grows beyond this many points (the cost is points × rows).
MAX_POINTS = 600


@dataclass(frozen=True)
class QSearch:
    """Per row: the best certified bound, which decomposition and q gave it, and a certified lower bound
    on the bound of every q ∈ [0, 1] and every decomposition (``lower``; the gap is bound − lower)."""

    bound: np.ndarray
    choice: list[str]
    lower: np.ndarray
    report: SolverReport
    nodes: int


@lru_cache(maxsize=256)
def _partition(family: CoinFamily) -> np.ndarray:
    """Points dq = q − q0 from −q0 to 1 − q0, with 0 among them and the geometric steps of PARTITION (read-only)."""
    left = -PARTITION[PARTITION < family.q0][::-1]
    right = PARTITION[PARTITION < 1.0 - family.q0]
    points = np.concatenate([[-family.q0], left, [0.0], right, [1.0 - family.q0]])
    points.flags.writeable = False
    return points


def _quadratics(family: CoinFamily, witness: Witness) -> np.ndarray:
    """(A, B, κ, C) per β with g_β(y) = A y² + 2B y(1 − y) + C (1 − y)², κ = A − 2B + C ≥ 0 (module docstring)."""
    rows = []
    for t, ur in family.parts:
        a = witness.apply(t[:1])[0]                      # |0>_A v_β(ψ)
        b = witness.apply(t - ur)                        # L_β ψ, row 0 the |0>_A component
        big_a, cross, c = float(np.vdot(a, a).real), float(np.vdot(a, b[0]).real), float(np.vdot(b, b).real)
        kappa = float(np.vdot(a - b[0], a - b[0]).real + np.vdot(b[1:], b[1:]).real)
        rows.append((big_a, cross, kappa, c))
    return np.array(rows)


@lru_cache(maxsize=4096)
def _node(family: CoinFamily, dq: float, epsilon: float) -> tuple[CoinPair, OverlapBound, np.ndarray | None]:
    """The pair at q0 + dq, its certified overlap bound and its witness's quadratics (data-independent: cached)."""
    pair = family.pair(dq)
    overlap = max_distance(pair, epsilon)
    return pair, overlap, None if overlap.witness is None else _quadratics(family, overlap.witness)


@lru_cache(maxsize=256)
def _phi_quadratics(family: CoinFamily) -> np.ndarray:
    """The quadratics of ψ = φ (no side channel): Δ(q) ≥ the offset Σ_β (1 − x_β)² ‖v_β‖²."""
    kets = np.array(family.states.kets)
    return _quadratics(family, Witness(kets, np.zeros_like(kets)))


def _quadratic_min(coef: np.ndarray, y_low: np.ndarray, y_up: np.ndarray) -> np.ndarray:
    """min of g(y) over [y_low, y_up] (vectorised over intervals), less a rounding margin."""
    big_a, cross, kappa, c = coef
    with np.errstate(divide="ignore", invalid="ignore"):
        star = np.where(kappa > 0, (c - cross) / kappa, y_low)
    y = np.clip(star, y_low, y_up)
    terms = (big_a * y**2, 2.0 * cross * y * (1.0 - y), c * (1.0 - y) ** 2)
    return sum(terms) - 1e-12 * sum(np.abs(t) for t in terms)


def _distance_lower(family: CoinFamily, witnesses: list[np.ndarray], left: np.ndarray, right: np.ndarray
                    ) -> np.ndarray:
    """Lower bound of Δ(q) on each interval [left, right] of dq: the best witness, each β's term exact."""
    ys = [(np.minimum(a, b), np.maximum(a, b))
          for a, b in zip(family.one_minus_amplitudes(left), family.one_minus_amplitudes(right))]
    best = np.zeros(len(left))
    for coef in witnesses:
        value = sum(_quadratic_min(coef[beta], *ys[beta]) for beta in range(2))
        best = np.maximum(best, value)
    return best


@lru_cache(maxsize=256)
def _first_distance_lower(family: CoinFamily, epsilon: float) -> np.ndarray:
    """Δ's lower bound on the first partition from ψ = φ and the q0 witness (data-independent: cached)."""
    witnesses = [_phi_quadratics(family)] + [w for w in (_node(family, 0.0, epsilon)[2],) if w is not None]
    points = _partition(family)
    return _distance_lower(family, witnesses, points[:-1], points[1:])


def coin_bound_lower(ranges: dict[str, tuple[np.ndarray, np.ndarray]], distance: np.ndarray) -> np.ndarray:
    """A lower bound of quantum_coin's value over a set of data boxes and distances ≥ ``distance``.

    ``ranges[name] = (smallest, largest)`` over the set, for each end of each box: target detection
    "t_low", "t_up", reference errors "re_low", "re_up", correct "rc_low", "rc_up", and the observed
    errors "obs_low" subtracted at the end. Factor by factor, as in coin.max_target_error_box but
    the other way: T^U ≥ its smallest value, θ_r ≥ arctan √(r_e^U,min / r_c^L,max), the x-term
    (x + 1/x)/2 at most its value at the box's end farthest from 1, Δ/(2√(T^L R^L)) at least
    Δ_min / (2√(T^L_max R^L_max)); and the detection-free relaxation (√r_e^U + √Δ)² at least its
    value at the smallest ends. The exact-data bound (max_target_error) is the case low = up.
    """
    t_low, t_up, re_low, re_up, rc_low, rc_up = (ranges[k] for k in ("t_low", "t_up", "re_low", "re_up", "rc_low",
                                                                      "rc_up"))
    r_up_min = re_up[0] + rc_up[0]
    r_low_max = re_low[1] + rc_low[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        def half_sum(x: np.ndarray) -> np.ndarray:
            return (x + 1.0 / x) / 2.0
        x_term = np.maximum(half_sum(np.maximum(1.0, np.sqrt(t_low[1] / r_up_min))),
                            half_sum(np.minimum(1.0, np.sqrt(t_up[0] / r_low_max))))
        cos_gamma = x_term - distance / (2.0 * np.sqrt(t_low[1] * r_low_max))
        theta_r = np.arctan2(np.sqrt(np.maximum(re_up[0], 0.0)), np.sqrt(np.maximum(rc_low[1], 0.0)))
        theta = np.minimum(np.pi / 2, theta_r + np.arccos(np.clip(np.where(np.isnan(cos_gamma), -1.0, cos_gamma),
                                                                          -1.0, 1.0)))
        factor = np.maximum(t_up[0], 0.0) * np.sin(theta) ** 2
    relaxed = (np.sqrt(np.maximum(re_up[0], 0.0)) + np.sqrt(np.maximum(distance, 0.0))) ** 2
    return np.clip(np.minimum(factor, relaxed) - ranges["obs_low"][1], 0.0, None)


_QUANTITIES = (("t_low", "detection", False), ("t_up", "detection", True), ("re_low", "errors", False),
               ("re_up", "errors", True), ("rc_low", "correct", False), ("rc_up", "correct", True),
               ("obs_low", "observed", False))


@lru_cache(maxsize=256)
def _weight_stack(family: CoinFamily) -> tuple[np.ndarray, np.ndarray]:
    """Weights (quantities, [fixed, β = 0, β = 1], j, o) of the quantities of _QUANTITIES, and which use x_up."""
    stack = np.zeros((len(_QUANTITIES), 3) + family.virtual_detection.shape)
    for i, (_, key, _) in enumerate(_QUANTITIES):
        if key == "detection":
            stack[i, 0] = family.virtual_detection
        stack[i, 1:] = family.weights[key]
    return stack, np.array([upper for _, _, upper in _QUANTITIES])


def _weighted(family: CoinFamily, data: Estimates) -> np.ndarray:
    """A (3, quantities × rows) matrix W: the quantities at q are [1, s_0(q), s_1(q)] @ W (fixed + per β)."""
    stack, upper = _weight_stack(family)
    values = np.where(upper[None, :, None], np.einsum("qcjo,djo->cqd", stack, data.x_up),
                      np.einsum("qcjo,djo->cqd", stack, data.x_low))
    return values.reshape(3, -1)


def _design_groups(data: Estimates) -> list[tuple[np.ndarray, tuple[float, ...]]]:
    """Rows that share one setting distribution p (at their intensity with the most single photons), with that p."""
    design = np.asarray(data.design, float)
    weights = design.sum(axis=1) * np.asarray(data.single_photon)[None, :]
    flat = design.reshape(len(design), -1)
    groups = []
    for unique in np.unique(flat, axis=0):
        rows = np.flatnonzero(np.all(flat == unique, axis=1))
        per_setting = unique.reshape(design.shape[1:])[:, int(np.argmax(weights[rows[0]]))]
        groups.append((rows, tuple(per_setting / per_setting.sum())))
    return groups


@lru_cache(maxsize=4096)
def _gain_quadratics(family: CoinFamily, dq: float, p: tuple[float, ...]) -> np.ndarray | None:
    """Quadratics that bound the sampling gain g(q) from below for setting probabilities p (finite key only).

    g(q) = λ_max(P^{-1/2} L(q)^H L(q) P^{-1/2}) ≥ ‖L(q) w‖² for any w = P^{-1/2} u, ‖u‖ = 1; with u the top
    eigenvector at q0 + dq, ‖L(q) w‖² has the same block-quadratic form in 1 − x_β as Δ's witnesses (a
    "state" ψ_j = w_j in one dimension). None when g = ∞ (the coin needs a setting never sent).
    """
    difference = family.pair(dq).difference
    metric = difference.conj().T @ difference
    probabilities = np.array(p)
    if np.any((probabilities <= 0) & (np.abs(metric).sum(axis=0) > 0)):
        return None
    scale = 1.0 / np.sqrt(np.where(probabilities > 0, probabilities, 1.0))
    top = np.linalg.eigh(scale[:, None] * metric * scale[None, :])[1][:, -1]
    w = (scale * top)[:, None].astype(complex)
    return _quadratics(family, Witness(w, np.zeros_like(w)))


def _effective_distance(family: CoinFamily, data: Estimates, gains: list[tuple[np.ndarray, np.ndarray]],
                        distance_low: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Lower bound of the distance the coin bound uses on each interval (intervals × rows).

    Asymptotically Δ itself; for a finite key Estimates.coin_distance, which is non-decreasing in Δ and g,
    at Δ's and g's lower bounds on the interval.
    """
    rows = data.x_low.shape[0]
    if data.failure_each is None:
        return np.broadcast_to(distance_low[:, None], (len(left), rows))
    gain = np.zeros((len(left), rows))
    ys = [(np.minimum(a, b), np.maximum(a, b))
          for a, b in zip(family.one_minus_amplitudes(left), family.one_minus_amplitudes(right))]
    for members, coef in gains:
        value = np.maximum(sum(_quadratic_min(coef[beta], *ys[beta]) for beta in range(2)), 0.0)
        gain[:, members] = np.maximum(gain[:, members], value[:, None])
    return data.coin_distance(distance_low[:, None], gain)


def _interval_lower(family: CoinFamily, weighted: np.ndarray, distance_low: np.ndarray, left: np.ndarray,
                    right: np.ndarray) -> np.ndarray:
    """Lower bound of b on each interval [left, right] of dq (intervals × rows), the coin bound's distance ≥
    ``distance_low`` (intervals × rows) on each."""
    a, b = (np.column_stack([np.ones(len(ends)), *family.scales(ends)]) @ weighted for ends in (left, right))
    shape = (len(left), len(_QUANTITIES), -1)
    low, high = np.minimum(a, b).reshape(shape), np.maximum(a, b).reshape(shape)
    ranges = {name: (low[:, i], high[:, i]) for i, (name, _, _) in enumerate(_QUANTITIES)}
    return coin_bound_lower(ranges, distance_low)


def best_over_q(families: tuple[CoinFamily, ...], epsilon: float, data: Estimates, tolerance: float = 1e-4
                ) -> QSearch:
    """The smallest certified coin bound over every decomposition and q, with its certified gap (module docstring).

    ``tolerance``: relative; new SDP nodes are added while some lower bound is below
    (1 − tolerance) × the best value, for at most MAX_ROUNDS rounds. The bound is valid whatever the
    tolerance: it is always one family's b(q) with a certified Δ(q).
    """
    rows = data.x_low.shape[0]
    best = np.full(rows, np.inf)
    choice = [""] * rows
    reports: list[SolverReport] = []
    fallback: list[tuple] = []
    witnesses: list[list[np.ndarray]] = []
    weighted = [_weighted(f, data) for f in families]
    points = [_partition(f) for f in families]
    evaluated: list[set[float]] = [set() for _ in families]
    nodes = 0

    gains: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in families]
    groups = [] if data.failure_each is None else _design_groups(data)

    def evaluate(k: int, dq: float) -> None:
        nonlocal nodes
        pair, overlap, quadratics = _node(families[k], dq, epsilon)
        nodes += 1
        evaluated[k].add(dq)
        if quadratics is not None:
            witnesses[k].append(quadratics)
        for members, p in groups:
            quadratics = _gain_quadratics(families[k], dq, p)
            if quadratics is not None:
                gains[k].append((members, quadratics))
        if overlap.report.conservative:
            fallback.append((pair, overlap))
            return
        reports.append(overlap.report)
        value = quantum_coin(pair, overlap.distance, data)
        for i in np.flatnonzero(value < best):
            best[i], choice[i] = value[i], pair.choice

    for k, family in enumerate(families):
        witnesses.append([_phi_quadratics(family)])
        evaluate(k, 0.0)
    if not reports:             # no SDP certified: the trivial distance of each (no key), flagged as conservative
        values = np.array([quantum_coin(pair, overlap.distance, data) for pair, overlap in fallback])
        return QSearch(values.min(axis=0), [fallback[i][0].choice for i in values.argmin(axis=0)],
                       np.zeros(rows), fallback[0][1].report, nodes)
    # beyond this P(ph) the phase-error rate is ≥ 1/2 and the row has no key whatever q: nothing to certify
    with np.errstate(divide="ignore", invalid="ignore"):
        cap = 0.5 * np.maximum(data.key_detections, data.single_key_low) / data.phase_scale
    bounds: list[np.ndarray] = [np.empty(0)] * len(families)

    def refresh(k: int) -> None:
        left, right = points[k][:-1], points[k][1:]
        if len(witnesses[k]) == 2 and len(points[k]) == len(_partition(families[k])):     # the first pass: cached
            distance = _first_distance_lower(families[k], epsilon)
        else:
            distance = _distance_lower(families[k], witnesses[k], left, right)
        effective = _effective_distance(families[k], data, gains[k], distance, left, right)
        bounds[k] = _interval_lower(families[k], weighted[k], effective, left, right)

    for k in range(len(families)):
        refresh(k)
    lower = np.zeros((len(families), rows))
    for round_ in range(MAX_ROUNDS + 1):
        target = np.minimum(best, cap)
        needs = []
        for k, family in enumerate(families):
            for _ in range(MAX_SPLITS + 1):     # refine the partition where the interval arithmetic is too loose
                short = (target[None, :] * (1.0 - tolerance) - bounds[k]) / np.where(target > 0, target, 1.0)[None, :]
                worst = short.max(axis=1)                              # per interval, over rows
                left, right = points[k][:-1], points[k][1:]
                split = (worst > 0) & (right - left > MIN_WIDTH * np.maximum(np.abs(left + right) / 2, 1e-9))
                budget = MAX_POINTS - len(points[k])
                if not split.any() or budget <= 0:
                    break
                chosen = np.flatnonzero(split)[np.argsort(-worst[split])[:budget]]
                middle = (left[chosen] + right[chosen]) / 2.0
                lo, hi = np.concatenate([left[chosen], middle]), np.concatenate([middle, right[chosen]])
                effective = _effective_distance(family, data, gains[k], _distance_lower(family, witnesses[k], lo, hi),
                                                lo, hi)
                children = _interval_lower(family, weighted[k], effective, lo, hi)
                keep = np.ones(len(left), bool)
                keep[chosen] = False
                starts = np.concatenate([left[keep], left[chosen], middle])
                order = np.argsort(starts, kind="stable")
                bounds[k] = np.concatenate([bounds[k][keep], children])[order]
                points[k] = np.append(starts[order], points[k][-1])
            lower[k] = bounds[k].min(axis=0)
            midpoints = (points[k][:-1] + points[k][1:]) / 2.0
            open_ = (worst > 0) & ~np.isin(midpoints, list(evaluated[k]))
            if open_.any():                     # the witnesses are not good enough there: a new node
                needs.append((k, float(midpoints[np.flatnonzero(open_)[np.argmax(worst[open_])]])))
        if not needs or round_ == MAX_ROUNDS:
            break
        for k, dq in needs:
            evaluate(k, dq)
            refresh(k)
    target = np.minimum(best, cap)
    floor = np.minimum(lower.min(axis=0), target)
    gap = float(np.max(np.where(target > 0, (target - floor) / np.where(target > 0, target, 1.0), 0.0)))
    report = reports[0].model_copy(update={
        "message": f"{reports[0].message}; best of {len(families)} decompositions × q ∈ [0, 1] ({nodes} certified "
                   f"SDPs), within {gap:.1e} (relative) of every q and decomposition"})
    return QSearch(best, choice, floor, report, nodes)
