"""Shared fixtures of the mismatch tests."""

from __future__ import annotations

import pytest


def _detector_table(rows: list[list[float]], halfwidth: float = 0.01):
    """A two-detector DetectorTable with point estimates ``rows`` (detector × delay, operating delay
    the first), boxes ± ``halfwidth`` and ``two_mode`` as the calibration forms it: the Table-I
    [[η1, η2], [η2, η1]] at the delay of the smallest η_lo(smaller) / η_hi(larger)."""
    from qkdlab.model import Bound, DetectorTable

    eff = tuple(tuple(Bound(value=v, lower=v - halfwidth, upper=v + halfwidth, unit="") for v in row) for row in rows)
    _, eta1, eta2 = min(((min(col) - halfwidth) / (max(col) + halfwidth), max(col) + halfwidth, min(col) - halfwidth)
                        for col in zip(*rows, strict=True))
    dark = Bound(value=1e-6, lower=0.0, upper=2e-6, unit="")
    return DetectorTable(detectors=("spd1", "spd2"), delays_s=tuple(i * 1e-10 for i in range(len(rows[0]))),
                         efficiency=eff, dark_probability=(dark, dark), operating_delay_s=0.0, mismatch_ratio=dark,
                         two_mode=((eta1, eta2), (eta2, eta1)))


@pytest.fixture
def detector_table():
    """The factory :func:`_detector_table` (rows, halfwidth=0.01) → DetectorTable."""
    return _detector_table
