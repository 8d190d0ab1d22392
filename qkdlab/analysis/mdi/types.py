"""Shared value types of the MDI-QKD analysis (Bourassa et al., PRA 106, 062618 (2022)).

Index conventions used throughout ``qkdlab.analysis.mdi``:

- Alice's and Bob's signal states are indexed in the order of a ``states: tuple[str, ...]``
  label tuple, e.g. ``("0Z", "1Z", "0X", "1X")`` for BB84 or ``("0Z", "1Z", "0X")`` for the
  three-state protocol; Z is the key basis.
- Charlie's successful announcements are indexed in the order of ``outcomes``, e.g.
  ``("psi+", "psi-")`` for the Lo-Curty-Qi Bell-state measurement.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DetectionBounds"]


@dataclass(frozen=True)
class DetectionBounds:
    """Bounds on p_pass for the single-photon (signal-state) components, shape (nA, nB, nR):
    Alice's signal state a, Bob's signal state b, announced outcome r (index into `outcomes`).

    ``p_pass[a, b, r]`` is the probability that Charlie announces outcome r when Alice sends the
    single-photon state a and Bob the single-photon state b (Eq. (A1) of Bourassa et al. with
    m = n = 1, i.e. the yield Y^{r}_{1,1}(a, b)); it is *not* weighted by the probabilities of
    choosing a and b. With decoys these are the bounds of the linear programs of App. A; with
    ideal single-photon sources ``lower == upper``.
    """

    lower: np.ndarray
    upper: np.ndarray
    outcomes: tuple[str, ...]  # e.g. ("psi+", "psi-")

    def __post_init__(self) -> None:
        lower = np.asarray(self.lower, dtype=float)
        upper = np.asarray(self.upper, dtype=float)
        if lower.shape != upper.shape or lower.ndim != 3 or lower.shape[2] != len(self.outcomes):
            raise ValueError(
                f"DetectionBounds: lower {lower.shape} and upper {upper.shape} must both have shape "
                f"(nA, nB, {len(self.outcomes)}) to match outcomes {self.outcomes}"
            )
        if np.any(lower > upper):
            raise ValueError("DetectionBounds: some lower bound exceeds its upper bound")
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "upper", upper)

    @property
    def exact(self) -> bool:
        """Whether the bounds pin every p_pass down exactly (``lower == upper`` everywhere)."""
        return bool(np.array_equal(self.lower, self.upper))
