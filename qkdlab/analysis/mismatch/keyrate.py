"""Key rate of BB84 with detector-efficiency mismatch: Zhang et al., PRR 3, 013076 (2021), Eq. (3),
K ≥ β − leak_EC, with β the certified bound of the numerical engine.

:func:`mismatch_key_rate` wires the pieces: photon-number bounds (squasher only; Eqs. (19)-(28),
monotonicity checked), the problem of :mod:`.protocol`, and :func:`qkdlab.analysis.numerical.solve`.
The η table's photon-number minima depend only on the table and are cached per table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from qkdlab.analysis.numerical import NumericalResult, solve

from .bounds import PhotonBoundError, PhotonBounds, photon_bounds, photon_number_minima
from .channel import validate_statistics
from .optics import Receiver
from .protocol import build_problem

__all__ = ["MismatchKeyRate", "mismatch_key_rate"]

_MINIMA_CACHE: dict[tuple, dict[str, np.ndarray]] = {}


def _minima(receiver: Receiver, check_up_to: int | None) -> dict[str, np.ndarray]:
    key = (receiver.scheme, receiver.efficiency.tobytes(), receiver.efficiency.shape, check_up_to)
    if key not in _MINIMA_CACHE:
        _MINIMA_CACHE[key] = photon_number_minima(receiver, check_up_to)
    return _MINIMA_CACHE[key]


@dataclass(frozen=True)
class MismatchKeyRate:
    """One certified key-rate point (bits per round) and how it was obtained."""

    key_rate: float
    key_rate_unclipped: float
    certified_bound: float
    step1_value: float
    gap: float
    certified: bool
    status: str
    leakage: float
    b1: float | None
    b2: float | None
    photon_bound: str
    statistics: str
    assumptions: tuple[str, ...]
    reason: str = ""
    numerical: NumericalResult | None = field(default=None, repr=False)


def default_squasher_photons(receiver: Receiver) -> int:
    """The paper's choice: the ≤ 2-photon subspace, except ≤ 1 for the passive receiver with more
    than two modes (Sec. IV D: the ≤ 2 problem is too large there)."""
    return 1 if receiver.scheme == "passive" and receiver.modes > 2 else 2


def mismatch_key_rate(receiver: Receiver, p_fine: np.ndarray, photon_bound: Literal["cutoff", "squasher"] = "squasher",
                      *, cutoff: int = 2, squasher_photons: int | None = None, f_ec: float = 1.0,
                      check_up_to: int | None = None, gap_tolerance: float = 1e-8,
                      warm_start: MismatchKeyRate | None = None,
                      minima: dict[str, np.ndarray] | None = None, sectors: bool = False) -> MismatchKeyRate:
    """Certified key rate for fine-grained statistics ``p_fine`` (rows H, V, D, A; see
    :mod:`.channel`) observed with ``receiver``; ``receiver.statistics`` picks the constraints.

    ``minima``: photon-number minima (d_n, e_n or c_n, monotonicity already checked) to use for the
    squasher's b_k instead of the receiver's own, e.g. those of the doubled emulation hull
    (:mod:`.hull`), which bound every table Eve can emulate. ``sectors``: block the problem by mode
    occupation as well (:func:`.protocol.mode_sectors`; exact, for tables with many modes)."""
    p_fine = validate_statistics(receiver, p_fine)
    bounds: PhotonBounds | None = None
    b: dict[int, float] = {}
    k = squasher_photons if squasher_photons is not None else default_squasher_photons(receiver)
    if photon_bound == "squasher":
        bounds = photon_bounds(receiver, p_fine, minima=minima if minima is not None else _minima(receiver, check_up_to))
        for j, value in ((1, bounds.b1), (2, bounds.b2)):
            if j > k or value is None:
                continue
            if value <= 0:
                raise PhotonBoundError(
                    f"the data cannot support a photon-number bound: b_{j} = {value:.4g} ≤ 0 (observed "
                    f"{', '.join(f'{n} {v:.3g}' for n, v in bounds.observed.items())}); too many double/cross "
                    "clicks or errors for the flag-state squasher")
            b[j] = value
        if not b:
            raise PhotonBoundError("no photon-number bound b_k is available from these data: the flag-state "
                                   "squasher would give Eve every multi-photon round; use --photon-bound cutoff")
    problem = build_problem(receiver, p_fine, photon_bound, cutoff=cutoff, squasher_photons=k, b=b, f_ec=f_ec,
                            sectors=sectors)
    res = solve(problem, gap_tolerance=gap_tolerance, warm_start=warm_start.numerical if warm_start else None)
    assumptions = res.assumptions
    if bounds is not None:
        assumptions += (f"photon-number minima monotone beyond n = {bounds.checked_up_to} (checked up to there)",)
    return MismatchKeyRate(res.key_rate, res.key_rate_unclipped, res.certified_bound, res.step1_value, res.gap,
                           res.certified, res.status, res.leakage, bounds.b1 if bounds else None,
                           bounds.b2 if bounds else None, photon_bound, receiver.statistics, assumptions,
                           res.reason, res)
