"""Photon-number bounds b_1, b_2 from double clicks, effective errors and cross clicks:
Zhang et al., PRR 3, 013076 (2021), Sec. III C, Eqs. (10)-(28).

Operators (Bob's POVM including his basis probability ½ in the active scheme, so that these are
the paper's Eqs. (10), (11), (22) with the POVMs of its Ref. [17]):

    F_DC = 𝟙_A ⊗ (M_HV + M_DA)                                              (10)
    F_EE = Σ_{x} M_x^A ⊗ (M_{x̄} + ½ M_{xx̄})   (x̄ the other outcome of x's basis)  (11)
    F_CC = 𝟙_A ⊗ M_cross                                                    (22)

The minima over n-photon states (Eqs. (12), (13), (23)) are SDPs whose value is the smallest
eigenvalue of the n-photon block of F: min {Tr(ρF) : ρ ⪰ 0, Tr ρ = 1} = λ_min(F) (Rayleigh). We
compute λ_min; the tests also solve the SDP. The paper observes, without proof, that d_n ≥ d_3 and
e_n ≥ e_3 for n ≥ 3 (active) and c_n ≥ c_3 (n ≥ 3), c_n ≥ c_2 (n ≥ 2) (passive); the bounds
below rely on it, so :func:`photon_number_minima` checks it for the given η table up to
``check_up_to`` photons and raises :class:`PhotonBoundError` if it fails (beyond that n it stays an
assumption, recorded in the result). With those inequalities, since Σ p_n = 1,

    active:  b_2 = 1 − min(d_obs/d_3, e_obs/e_3)      (19),   b_1 = 1 − e_obs/min(e_2, e_3)   (21)
    passive: b_2 = 1 − c_obs/c_3                      (27),   b_1 = 1 − c_obs/c_2             (28)

(a ratio with a zero minimum gives no bound and is skipped).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .optics import ALICE_POVM, MismatchInputError, Receiver

__all__ = ["PhotonBoundError", "PhotonBounds", "active_click_operators", "click_operators", "monotonicity_failure",
           "observed_rates", "photon_bounds", "photon_number_minima"]

#: Slack allowed in the monotonicity check (floating-point eigenvalues).
_MONOTONE_TOL = 1e-10
#: Default photon number up to which monotonicity is checked, per single-photon dimension 2M.
_DEFAULT_CHECK = {2: 8, 4: 6, 6: 5, 8: 4}


class PhotonBoundError(MismatchInputError):
    """The photon-number bounds b_k cannot be established for this table or these data."""


def click_operators(receiver: Receiver, n: int) -> dict[str, np.ndarray]:
    """F_DC, F_EE (active) or F_CC (passive) on the n-photon block (Alice ⊗ Bob)."""
    eye = np.eye(2)
    if receiver.scheme == "passive":
        return {"cross": np.kron(eye, receiver.cross_click(n))}
    return active_click_operators(receiver.fine_povm(n))


def active_click_operators(fine: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """F_DC (Eq. 10) and F_EE (Eq. 11) on Alice ⊗ Bob from the active receiver's fine POVM."""
    pairs = {"H": ("V", "HV"), "V": ("H", "HV"), "D": ("A", "DA"), "A": ("D", "DA")}
    fee = sum(np.kron(ALICE_POVM[x], fine[err] + 0.5 * fine[dbl]) for x, (err, dbl) in pairs.items())
    return {"double": np.kron(np.eye(2), fine["HV"] + fine["DA"]), "error": fee}


def photon_number_minima(receiver: Receiver, check_up_to: int | None = None) -> dict[str, np.ndarray]:
    """{'double': [d_0..d_N], 'error': [e_0..e_N]} or {'cross': [c_0..c_N]} by minimum eigenvalue,
    with the monotonicity the bounds need checked for n ≤ N = ``check_up_to``."""
    top = check_up_to if check_up_to is not None else _DEFAULT_CHECK.get(receiver.single_photon_dim, 4)
    if top < 3:
        raise PhotonBoundError(f"check_up_to={top}: the monotonicity check needs photon numbers up to at least 3")
    mins: dict[str, list[float]] = {}
    for n in range(top + 1):
        for name, op in click_operators(receiver, n).items():
            mins.setdefault(name, []).append(float(np.linalg.eigvalsh(op)[0]))
    out = {k: np.array(v) for k, v in mins.items()}
    checks = [("double", 3, 3), ("error", 3, 3)] if receiver.scheme == "active" else [("cross", 3, 3), ("cross", 2, 2)]
    for name, ref, start in checks:
        failure = monotonicity_failure(out[name], name, ref, start)
        if failure:
            raise PhotonBoundError(failure)
    return out


def monotonicity_failure(minima: np.ndarray, name: str, ref: int, start: int) -> str | None:
    """Why minima[n] ≥ minima[ref] fails for some n ≥ ``start`` (None when it holds up to len − 1)."""
    worst = minima[start:].min()
    if worst >= minima[ref] - _MONOTONE_TOL:
        return None
    n_bad = start + int(np.argmin(minima[start:]))
    return (f"the {name}-click minimum is not monotone for this efficiency table: at n = {n_bad} it is "
            f"{worst:.6g} < {minima[ref]:.6g} at n = {ref}; the photon-number bounds of Zhang et al. "
            "Eqs. (19)-(28) do not hold here, use --photon-bound cutoff (an assumption) instead")


def observed_rates(receiver: Receiver, p: np.ndarray) -> dict[str, float]:
    """d_obs, e_obs (active) or c_obs (passive) from fine-grained p(x, y) (rows H, V, D, A)."""
    fine = receiver.fine_povm(1).keys()
    col = {y: j for j, y in enumerate(fine)}
    x = {"H": 0, "V": 1, "D": 2, "A": 3}
    if receiver.scheme == "passive":
        return {"cross": float(p[0, col["cross"]] + p[1, col["cross"]])}
    double = float(sum(p[x[a], col[d]] for a in ("H", "V") for d in ("HV", "DA")))
    pairs = {"H": ("V", "HV"), "V": ("H", "HV"), "D": ("A", "DA"), "A": ("D", "DA")}
    error = float(sum(p[x[a], col[err]] + 0.5 * p[x[a], col[dbl]] for a, (err, dbl) in pairs.items()))
    return {"double": double, "error": error}


@dataclass(frozen=True)
class PhotonBounds:
    """b_1, b_2 (``None``: no bound from these data) with the minima and rates they came from."""

    b1: float | None
    b2: float | None
    minima: dict[str, tuple[float, ...]]
    observed: dict[str, float]
    checked_up_to: int


def _ratio(obs: float, minimum: float) -> float:
    return math.inf if minimum <= _MONOTONE_TOL else obs / minimum


def photon_bounds(receiver: Receiver, p: np.ndarray, check_up_to: int | None = None,
                  minima: dict[str, np.ndarray] | None = None) -> PhotonBounds:
    """b_1 and b_2 of Eqs. (19), (21) (active) or (27), (28) (passive) for fine-grained p(x, y)."""
    mins = minima if minima is not None else photon_number_minima(receiver, check_up_to)
    obs = observed_rates(receiver, p)
    if receiver.scheme == "active":
        d, e = mins["double"], mins["error"]
        r2 = min(_ratio(obs["double"], d[3]), _ratio(obs["error"], e[3]))
        r1 = _ratio(obs["error"], min(e[2], e[3]))
    else:
        c = mins["cross"]
        r2 = _ratio(obs["cross"], c[3])
        r1 = _ratio(obs["cross"], c[2])
    top = len(next(iter(mins.values()))) - 1
    return PhotonBounds(None if math.isinf(r1) else 1 - r1, None if math.isinf(r2) else 1 - r2,
                        {k: tuple(float(x) for x in v) for k, v in mins.items()}, obs, top)
