"""The README's MDI curve (decoys, Model 3, |α|² = 1e-5) through the solver core: every point certified
by the first solver of the default list (no fallbacks), progress reported, and the rates of the
formulation before the conditioning work (commit 79a26dc) kept to solver tolerance."""

from __future__ import annotations

import numpy as np
import pytest

from qkdlab.analysis.mdi import MdiSetup, MdiSource, mdi_key_rate

#: Alice-Charlie distance (km): (key rate per pulse, largest e_ph over Ψ±) of commit 79a26dc, each e_ph a
#: certified upper bound of that formulation's own dual certificate (Hermitian G_r, t unscaled, no
#: whitening), i.e. an independent solve of the same SDP.
BEFORE = {0.0: (0.011619708389205879, 0.013416636404130364), 30.0: (0.000587659478989686, 0.03877131321046848),
          60.0: (2.6678665500260996e-05, 0.09065394535583102), 90.0: (1.3356804340491418e-08, 0.4226136952076344)}


@pytest.fixture(scope="module")
def curve_and_progress():
    progress = []
    curve = mdi_key_rate(MdiSource("mdi-bb84", 3, 1e-5), MdiSetup(0.2, 0.5, 1e-6), np.array(list(BEFORE)),
                         decoys=(0.05, 0.1, 0.6), on_point=lambda i, n: progress.append((i, n)))
    return curve, progress


def test_every_point_is_certified_by_the_first_solver(curve_and_progress) -> None:
    curve, progress = curve_and_progress
    assert progress == [(1, 4), (2, 4), (3, 4), (4, 4)]
    for result in curve:
        report = result.solver
        assert report.certified and not report.conservative
        assert len(report.runs) == 2 and report.attempts == ("CLARABEL", "CLARABEL")     # Ψ+ and Ψ−, no fallback
        assert report.status == "optimal" and report.gap <= 1e-6 and report.seconds > 0


def test_the_rates_before_the_conditioning_work_are_kept(curve_and_progress) -> None:
    curve, _ = curve_and_progress
    for result in curve:
        rate, phase_error = BEFORE[result.distance_km]
        # both are certified upper bounds on the same SDP optimum: the new one is never looser, and the
        # two agree to the solver tolerance (the old 90 km bound carried a 7e-3 certificate gap)
        assert result.phase_error <= phase_error + 1e-7
        assert phase_error - result.phase_error <= (1e-6 if result.distance_km < 90 else 5e-5)
        if result.distance_km < 90:
            assert result.key_rate_per_pulse == pytest.approx(rate, rel=1e-4)
        else:
            assert result.key_rate_per_pulse >= rate
