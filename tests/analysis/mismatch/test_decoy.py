"""Decoy-state BB84 with mismatched detectors (issue 19): certified decoy LPs, the channel model,
the key rate against the analytic GLLP-decoy bound, its fall with mismatch, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import poisson

from qkdlab.analysis import AnalysisSource, Channel, key_rate
from qkdlab.analysis.decoy import certified_yield_bounds, vacuum_weak_bounds
from qkdlab.analysis.mismatch import (
    DecoyStatistics,
    MismatchInputError,
    Receiver,
    decoy_mismatch_key_rate,
    decoy_statistics_from_observations,
    photon_number_yields,
    simulate_decoy_statistics,
    table_i,
    yield_bounds_key_rate,
)
from qkdlab.errors import QkdlabError

ETA, DARK, MIS, F_EC = 0.73, 1e-8, 0.01, 1.16
DECOYS = (0.5, 0.1, 0.0)
PROBS = (0.8, 0.1, 0.1)


def h(x: float) -> float:
    return 0.0 if x <= 0 else -x * math.log2(x) - (1 - x) * math.log2(1 - x)


def transmission(km: float) -> float:
    return 10 ** (-0.2 * km / 10)


def matched(statistics: str = "coarse", modes: int = 1) -> Receiver:
    return Receiver("active", np.full((2, modes), ETA), statistics)


@pytest.mark.parametrize("scale", [1.0, 1e-3, 1e-6, 1e-12])
def test_certified_yield_bounds_contain_the_truth_and_beat_the_analytic_bounds(scale):
    """Over the whole range of yields (down to 1e-12): the dual-certified LP bounds bracket the true
    Y_0, Y_1 and are never looser than the analytic vacuum + weak-decoy bounds (Ma et al. 2005), an
    independent formula; an unscaled LP at HiGHS's 1e-7 tolerance would lose this at small scales."""
    y = np.array([1e-3 * scale, 0.5 * scale] + [min(1.0, (n + 1) * scale) for n in range(2, 30)])
    q = np.array([np.sum(poisson.pmf(np.arange(30), m) * y) for m in DECOYS])
    low, up = certified_yield_bounds(q, q, DECOYS, (0, 1), cutoff=12)
    assert low[0] <= y[0] <= up[0] and low[1] <= y[1] <= up[1]
    vw_low, vw_up = vacuum_weak_bounds(q, q, DECOYS)
    assert low[1] >= vw_low * (1 - 1e-9) and up[1] <= vw_up * (1 + 1e-9)
    assert low[0] == pytest.approx(y[0], rel=1e-9)                  # the vacuum decoy measures Y_0 itself


def test_poisson_mixture_of_fock_yields_is_the_coherent_statistics():
    """Σ_n P(n|μ) Y_n = the coherent-pulse statistics (two independent computations), mismatched table."""
    rx = Receiver("active", table_i(0.73, 0.3), "fine")
    t = transmission(40)
    stats = simulate_decoy_statistics(rx, DECOYS, t, misalignment=MIS, dark_count_probability=DARK)
    fock = [photon_number_yields(rx, n, t, misalignment=MIS, dark_count_probability=DARK) for n in range(40)]
    for k, mu in enumerate(DECOYS):
        mix = sum(poisson.pmf(n, mu) * y for n, y in enumerate(fock))
        np.testing.assert_allclose(stats.probabilities[k], mix, rtol=1e-9, atol=1e-15)


def test_observations_give_the_simulated_rate():
    """The Channel's Observations (what live and recorded runs hold) and the decoy channel model agree."""
    source = AnalysisSource.flawed("bb84", 0.0, 0.0)
    channel = Channel(detector_efficiency=ETA, dark_count_probability=DARK, misalignment=MIS, ec_efficiency=F_EC,
                      source="weak-coherent", intensities=DECOYS, intensity_probabilities=PROBS)
    obs = channel.observations(source.states, 60.0)
    from_obs = decoy_statistics_from_observations(obs)
    sim = simulate_decoy_statistics(matched(), DECOYS, transmission(60), misalignment=MIS, dark_count_probability=DARK)
    a = decoy_mismatch_key_rate(matched(), from_obs, f_ec=F_EC)
    b = decoy_mismatch_key_rate(matched(), sim, f_ec=F_EC)
    assert a.certified and b.certified
    assert a.key_rate_per_signal == pytest.approx(b.key_rate_per_signal, rel=1e-6)
    assert a.key_rate_per_pulse == pytest.approx(PROBS[0] * a.key_rate_per_signal)


@pytest.mark.parametrize("km", [0.0, 50.0, 100.0, 150.0])
def test_matched_detectors_beat_gllp_decoy_and_reach_the_infinite_decoy_limit(km):
    """Acceptance: constant η table → the numerical decoy rate ≥ key_rate(..., "gllp", decoys) of
    the same link; it stays below the rate with exact single-photon yields (the LP box contains
    them); with exact yields it is within 5 % of the analytic infinite-decoy GLLP value
    ½ P(1|μ) Y_1 (1 − h(e_1^X)) − leak (Lo, Ma & Chen 2005), computed here by hand."""
    source = AnalysisSource.flawed("bb84", 0.0, 0.0)
    channel = Channel(detector_efficiency=ETA, dark_count_probability=DARK, misalignment=MIS, ec_efficiency=F_EC,
                      source="weak-coherent", intensities=DECOYS, intensity_probabilities=PROBS)
    analytic = key_rate(source, channel, "gllp", distance_km=km)
    rx = matched()
    t = transmission(km)
    stats = simulate_decoy_statistics(rx, DECOYS, t, misalignment=MIS, dark_count_probability=DARK,
                                      intensity_probabilities=PROBS)
    numerical = decoy_mismatch_key_rate(rx, stats, f_ec=F_EC)
    assert numerical.certified and numerical.photon_bound == "squashing-map"
    assert analytic.key_rate_per_pulse > 0
    assert numerical.key_rate_per_pulse >= analytic.key_rate_per_pulse
    fine = photon_number_yields(Receiver("active", rx.efficiency, "fine"), 1, t, misalignment=MIS,
                                dark_count_probability=DARK)
    y1 = np.stack([fine[:, 0] + fine[:, 2] / 2, fine[:, 1] + fine[:, 2] / 2, fine[:, 3] + fine[:, 5] / 2,
                   fine[:, 4] + fine[:, 5] / 2, fine[:, 6]], axis=1)          # coarse: doubles split at random
    y0 = photon_number_yields(rx, 0, t, misalignment=MIS, dark_count_probability=DARK)
    y0c = np.stack([y0[:, 0] + y0[:, 2] / 2, y0[:, 1] + y0[:, 2] / 2, y0[:, 3] + y0[:, 5] / 2,
                    y0[:, 4] + y0[:, 5] / 2, y0[:, 6]], axis=1)
    signal = stats.probabilities[0]
    coarse_signal = np.stack([signal[:, 0] + signal[:, 2] / 2, signal[:, 1] + signal[:, 2] / 2,
                              signal[:, 3] + signal[:, 5] / 2, signal[:, 4] + signal[:, 5] / 2, signal[:, 6]], axis=1)
    exact = yield_bounds_key_rate(rx, y1, y1, y0c, coarse_signal, DECOYS[0], f_ec=F_EC)
    assert exact.certified
    assert numerical.key_rate_per_signal <= exact.key_rate_per_signal + 1e-12
    det = y1[0, 0] + y1[0, 1]
    e1 = y1[2, 3] / (y1[2, 2] + y1[2, 3])
    hand = 0.5 * poisson.pmf(1, DECOYS[0]) * det * (1 - h(e1)) + exact.vacuum_term - exact.leakage
    assert exact.key_rate_per_signal == pytest.approx(hand, rel=0.05)


def test_rate_falls_monotonically_with_mismatch():
    """Acceptance: η2 of a two-mode Table I falling from η1 → the rate falls (same squasher); the
    matched squashing-map rate is the highest."""
    t = transmission(50)
    rates = []
    for eta2 in (ETA, 0.5, 0.3):
        rx = Receiver("active", table_i(ETA, eta2), "coarse")
        stats = simulate_decoy_statistics(rx, DECOYS, t, misalignment=MIS, dark_count_probability=DARK)
        r = decoy_mismatch_key_rate(rx, stats, "squasher", f_ec=F_EC)
        assert r.certified and r.b1 is not None
        rates.append(r.key_rate_per_signal)
    assert rates[0] > rates[1] > rates[2] > 0
    rx = matched(modes=2)
    best = decoy_mismatch_key_rate(rx, simulate_decoy_statistics(rx, DECOYS, t, misalignment=MIS,
                                                                 dark_count_probability=DARK), f_ec=F_EC)
    assert best.key_rate_per_signal >= rates[0]


def test_bad_input_is_one_clear_error():
    rx = matched()
    good = simulate_decoy_statistics(rx, DECOYS, 0.1)
    with pytest.raises(QkdlabError, match="vacuum decoy"):
        DecoyStatistics((0.5, 0.1), good.probabilities[:2], good.outcomes)
    with pytest.raises(MismatchInputError, match="sums to"):
        DecoyStatistics(DECOYS, good.probabilities * 1.1, good.outcomes)
    with pytest.raises(MismatchInputError, match="squashing map exists only"):
        decoy_mismatch_key_rate(Receiver("active", table_i(0.7, 0.3), "coarse"), good, "squashing-map")
    channel = Channel(source="weak-coherent", intensities=DECOYS, intensity_probabilities=PROBS)
    coarse = decoy_statistics_from_observations(channel.observations(AnalysisSource.flawed("bb84", 0, 0).states, 10.0))
    with pytest.raises(MismatchInputError, match="do not fit"):
        decoy_mismatch_key_rate(Receiver("active", np.array([[0.7], [0.5]]), "fine"), coarse)
    with pytest.raises(MismatchInputError, match="f_EC"):
        decoy_mismatch_key_rate(rx, good, f_ec=0.5)
    channel = Channel(source="single-photon")
    obs = channel.observations(AnalysisSource.flawed("bb84", 0.0, 0.0).states, 10.0)
    with pytest.raises(MismatchInputError, match="decoy"):
        decoy_statistics_from_observations(obs)


def test_cli_keyrate_with_decoys() -> None:
    import json

    from click.testing import CliRunner

    from qkdlab.cli.main import main as cli

    runner = CliRunner()
    args = ["keyrate", "--protocol", "bb84-mismatch", "--decoys", "0.5,0.1,0", "--modes", "1", "--eta", "0.73,0.5",
            "--distance", "0,40", "--misalignment", "0.01"]
    out = runner.invoke(cli, args + ["--format", "json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    assert [r["distance_km"] for r in rows] == [0.0, 40.0]
    assert all(r["certified"] and r["photon_bound"] == "squasher" for r in rows)
    assert rows[0]["key_rate_bps"] > rows[1]["key_rate_bps"] > 0
    assert rows[0]["key_rate_bps"] == pytest.approx(rows[0]["key_rate_per_pulse"] * 2.5e9)
    assert any("decoy LP" in a for a in rows[0]["assumptions"])
    bad = runner.invoke(cli, args[:4] + ["0.5,0.1"] + args[5:])
    assert bad.exit_code == 2 and "vacuum decoy" in bad.output
    bad = runner.invoke(cli, ["keyrate", "--protocol", "bb84-mismatch", "--eta", "0.7,0.5", "--photon-bound", "auto"])
    assert bad.exit_code == 2 and "needs --decoys" in bad.output


def test_demo_line_reports_the_decoy_rate_and_the_cost_of_mismatch(detector_table) -> None:
    from types import SimpleNamespace

    from qkdlab.cli.demo import decoy_mismatch_line

    line = decoy_mismatch_line(SimpleNamespace(detectors=detector_table([[0.2, 0.18], [0.15, 0.2]])))
    assert "bit/s certified" in line and "matched detectors" in line and "squashing map" in line
    assert "worst case over the confidence box" in line and "hull modes" in line
    cost = float(line.rsplit("costs ", 1)[1].rstrip("%"))
    assert 0 < cost < 100
    assert decoy_mismatch_line(SimpleNamespace(detectors=None)) is None


@pytest.mark.parametrize("bound", ["squasher", "cutoff"])
def test_cli_decoys_with_a_model_use_the_hull_and_stay_below_table_i(tmp_path, detector_table, bound) -> None:
    """``--decoys … --model``: the rate is the worst case over the confidence box (the doubled
    emulation hull). The box is mirror-symmetric, so both columns of the Table-I form ``two_mode``
    are hull vertices: every Table-I state embeds in the hull problem (Q_S is mode-diagonal) with the
    same statistics and, for the squasher, weaker b_k (the hull's minima are over more modes), so on
    the same simulated data the hull's rate is ≤ Table I's up to Table I's certificate gap. (For an
    asymmetric box Table I's mirrored mode lies outside the box and the hull's rate may be higher:
    Table I then assumes more mismatch than was measured.) The rows name the hull, not the old caveat."""
    import json

    from click.testing import CliRunner

    from qkdlab.analysis.mismatch.hull import calibrated_hull
    from qkdlab.cli.main import main as cli
    from qkdlab.examples import flawed_source_model

    detectors = detector_table([[0.5, 0.4], [0.4, 0.5]])
    (eta1, eta2), _ = detectors.two_mode
    vertices = {tuple(np.round(c, 12)) for c in calibrated_hull(detectors).table.T}
    assert {(eta1, eta2), (eta2, eta1)} <= vertices
    path = tmp_path / "model.json"
    flawed_source_model().model_copy(update={"detectors": detectors}).save(path)
    out = CliRunner().invoke(cli, ["keyrate", "--protocol", "bb84-mismatch", "--decoys", "0.5,0.1,0", "--model",
                                   str(path), "--distance", "10", "--misalignment", "0.01", "--dark-count-prob", "1e-8",
                                   "--ec-efficiency", "1.16", "--photon-bound", bound, "--format", "json"])
    assert out.exit_code == 0, out.output
    (row,) = json.loads(out.stdout)
    text = " ".join(row["assumptions"])
    assert "conv({0} ∪ corners of the confidence boxes)" in text and "docs/mismatch-calibrated.md" in text
    assert "NOT a proven" not in text and row["certified"]
    point = Receiver("active", np.array([[0.5], [0.4]]))
    stats = simulate_decoy_statistics(point, (0.5, 0.1, 0.0), 10 ** (-0.2), misalignment=0.01,
                                      dark_count_probability=1e-8)
    table = decoy_mismatch_key_rate(Receiver("active", table_i(eta1, eta2), "fine"), stats, bound, f_ec=1.16)
    assert table.certified
    slack = table.single_photon_probability * table.numerical.gap + 1e-12
    assert 0 < row["key_rate_per_signal"] <= table.key_rate_per_signal + slack
