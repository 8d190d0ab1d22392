"""The live numerical estimator (issue 19): a worker process, newest block first, the block it
belongs to, a conservative zero with the reason on failure; the per-block loop never waits."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest

from qkdlab.analysis import AnalysisSource, Channel
from qkdlab.analysis.mismatch import Receiver, table_i
from qkdlab.live import LiveEstimator, SimulatedLink, run_session
from qkdlab.live.numerical import NumericalWorker


@pytest.fixture(scope="module")
def worker():
    w = NumericalWorker(Receiver("active", table_i(0.1, 0.08), "coarse"))
    yield w
    w.close()


def test_worker_solves_the_newest_block_without_blocking(worker):
    source = AnalysisSource.flawed("bb84", 0.0, 0.0)
    blocks = list(SimulatedLink(source, distance_km=10.0, block_emissions=1e10, seed=1).blocks(3))
    before = worker.latest
    start = time.perf_counter()
    for i, block in enumerate(blocks, 1):
        worker.submit(i, block)
    # submitting never waits for a solve: none has finished when the three submits return (a solve
    # takes a worker process's second or more, three submits microseconds), and they were quick
    assert worker.latest is before
    assert time.perf_counter() - start < 2.0
    latest = worker.wait(120.0)
    assert latest is not None and latest.block_index == 3          # block 2 was superseded while 1 ran
    assert latest.status.startswith("certified") and latest.key_rate_bps > 0 and not latest.reason
    assert latest.certified_at <= time.time()


def test_bad_block_gives_zero_with_the_reason(worker):
    source = AnalysisSource.flawed("bb84", 0.0, 0.0)
    channel = Channel(source="weak-coherent", intensities=(0.5, 0.1, 0.0), intensity_probabilities=(0.8, 0.1, 0.1),
                      bob_z_probability=0.9, detector_efficiency=0.1)
    block = SimulatedLink(source, distance_km=10.0, block_emissions=1e9, seed=2, channel=channel).blocks(1)
    worker.submit(7, next(iter(block)))
    latest = worker.wait(120.0)
    assert latest.block_index == 7 and latest.key_rate_bps == 0.0 and latest.status == "failed"
    assert "probability 1/2" in latest.reason


def test_session_shows_the_numerical_estimate(tmp_path, worker):
    source = AnalysisSource.flawed("bb84", 0.0, 0.0)
    link = SimulatedLink(source, distance_km=10.0, block_emissions=1e10, seed=3)
    result = run_session(LiveEstimator(source, "gllp"), link.blocks(2), title="t", log_path=tmp_path / "log.csv",
                         show=False, numerical=worker)
    assert all(u.accepted and u.latency_s < 5 for u in result.updates)
    worker.wait(120.0)
    assert worker.latest is not None and worker.latest.block_index in (1, 2)
    from qkdlab.live.view import render

    result.state.numerical = worker.latest
    from rich.console import Console

    console = Console(width=200, record=True, file=io.StringIO())
    console.print(render(result.state))
    text = console.export_text()
    assert "mismatch-aware (asymptotic)" in text and f"bit/s for block {worker.latest.block_index}" in text
    assert np.isfinite(worker.latest.key_rate_bps)


def test_cli_worker_solves_on_the_calibrated_hull(detector_table):
    """``qkdlab live --numerical`` with a model: the worker analyses each block on the doubled
    emulation hull of the detector table's confidence boxes (a worst case over the box,
    docs/mismatch-calibrated.md) with the hull's minima and mode sectors, and certifies a rate."""
    from types import SimpleNamespace

    from qkdlab.analysis.mismatch.hull import calibrated_hull
    from qkdlab.cli.live import _numerical_worker

    detectors = detector_table([[0.11, 0.09], [0.09, 0.11]], 0.005)
    hull = calibrated_hull(detectors)
    worker = _numerical_worker(SimpleNamespace(detectors=detectors))
    try:
        assert np.array_equal(worker.receiver.efficiency, hull.analysis_table) and worker.options["sectors"]
        source = AnalysisSource.flawed("bb84", 0.0, 0.0)
        worker.submit(1, next(iter(SimulatedLink(source, distance_km=10.0, block_emissions=1e10, seed=1).blocks(1))))
        latest = worker.wait(120.0)
    finally:
        worker.close()
    assert latest.block_index == 1 and latest.status.startswith("certified") and latest.key_rate_bps > 0
