"""Sweeps on a real dask LocalCluster (2 worker processes): same numbers as one process, lost workers,
and protocol-parameter optimisation on a GYS-like decoy BB84 link."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from qkdlab.sweep.evaluate import evaluate_chunk
from qkdlab.sweep.run import run_sweep
from qkdlab.sweep.spec import parse_spec
from qkdlab.sweep.study import DONE, StudyFile, open_study

DISTANCES = [0.0, 60.0, 120.0, 124.0, 126.0]
BOUNDS = {"signal": [0.05, 1.0], "decoy": [0.005, 0.3], "p_signal": [0.3, 0.89], "basis_prob": [0.5, 0.95]}


def _one_process(path, spec):
    """The reference: every point evaluated in this process, without dask."""
    with StudyFile.open(path, spec) as study:
        study.write(evaluate_chunk(spec.canonical(), [int(i) for i in study.missing()]))
    return open_study(path)


def _assert_identical(a, b):
    assert set(a.data_vars) == set(b.data_vars)
    for name in a.data_vars:
        assert np.array_equal(a[name].values, b[name].values, equal_nan=a[name].dtype.kind == "f"), name


def test_cluster_result_equals_the_one_process_result_bit_for_bit(tmp_path, cluster_client):
    spec = parse_spec({"fixed": {"signal": 0.5, "delta": 0.063, "finite": 1e11},
                       "axes": {"method": ["ltqc", "gllp", "rt"], "epsilon": [0.0, 1e-6], "distance": "0:150:10"},
                       "chunk_size": 5})
    calls = []
    summary = run_sweep(spec, tmp_path / "cluster.h5", client=cluster_client,
                        progress=lambda done, failed, total: calls.append((done, failed, total)))
    assert summary.done == spec.size and summary.missing == 0 and summary.computed == spec.size
    assert summary.workers == 2
    assert calls[0] == (0, 0, spec.size) and calls[-1] == (spec.size, 0, spec.size)
    assert len(calls) == 1 + -(-spec.size // 5)   # one report per written chunk
    cluster = open_study(tmp_path / "cluster.h5")
    _assert_identical(cluster, _one_process(tmp_path / "one.h5", spec))
    assert (cluster.computed == 1).all() and (cluster.key_rate_bps.sel(distance=0.0) > 0).all()


def _wait_for_two_live_workers(client, dead_pid: int) -> None:
    """Until the scheduler has let go of the killed worker and its nanny's replacement has joined."""
    deadline = time.monotonic() + 120
    while True:
        pids = [p for p in client.run(os.getpid, on_error="ignore").values() if isinstance(p, int)]
        if len(pids) == 2 and dead_pid not in pids:
            return
        assert time.monotonic() < deadline, f"the cluster did not get its second worker back: {pids}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def gys_spec(gys):
    return parse_spec({"fixed": gys, "axes": {"distance": DISTANCES},
                       "optimise": {"parameters": BOUNDS, "seed": 1, "starts": 8}, "chunk_size": 1})


@pytest.fixture(scope="module")
def optimised_after_a_lost_worker(tmp_path_factory, cluster_client, gys_spec):
    """The GYS study on the cluster, with one worker SIGKILLed as soon as the first point is written."""
    path = tmp_path_factory.mktemp("gys") / "cluster.h5"
    killed = []

    def kill_one_worker(done, failed, total):
        if done and not killed:
            pid = next(iter(cluster_client.run(os.getpid).values()))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    summary = run_sweep(gys_spec, path, client=cluster_client, progress=kill_one_worker)
    assert killed, "no worker was killed: the test did not test anything"
    _wait_for_two_live_workers(cluster_client, killed[0])   # the session's other tests count on two
    return summary, open_study(path)


def test_a_worker_killed_mid_sweep_loses_nothing(tmp_path, optimised_after_a_lost_worker, gys_spec):
    summary, study = optimised_after_a_lost_worker
    assert summary.missing == 0 and summary.done == gys_spec.size and not summary.lost_chunks
    assert (study.status == DONE).all() and (study.computed == 1).all()
    _assert_identical(study, _one_process(tmp_path / "one.h5", gys_spec))


def test_optimised_rate_beats_default_intensities_at_every_distance(optimised_after_a_lost_worker, gys):
    from qkdlab.analysis import key_rate
    from qkdlab.sweep.parameters import point_inputs

    _, study = optimised_after_a_lost_worker
    fixed = []
    for distance in DISTANCES:   # the default intensities, straight from the analysis (no sweep code path)
        inputs = point_inputs("bb84", {**gys, "distance": distance})
        fixed.append(key_rate(inputs.source, inputs.channel, "lt", distance_km=distance).key_rate_per_pulse)
    fixed = np.array(fixed)
    optimised = study.key_rate_per_pulse.values
    assert np.all(optimised >= fixed)
    assert np.all(optimised[fixed > 0] > 2 * fixed[fixed > 0])         # basis and intensity choice matter
    assert np.array_equal(study.start_key_rate_per_pulse.values, fixed)
    # the cut-off grows: the default intensities give no key at 126 km, the optimised ones do
    assert fixed[-1] == 0 and optimised[-1] > 0
    assert max(np.array(DISTANCES)[optimised > 0]) > max(np.array(DISTANCES)[fixed > 0])


def test_optimal_signal_intensity_falls_with_distance(optimised_after_a_lost_worker):
    _, study = optimised_after_a_lost_worker
    signal_opt = study.optimal_signal.values
    assert np.all(np.diff(signal_opt) < 0)
    # asymptotic decoy BB84 on this link: μ_opt near 0.5 at short distance (Ma et al. 2005 find ≈ 0.48
    # for GYS with infinitely many decoys); the weak decoy goes to its lower bound (ν → 0 is optimal)
    assert 0.4 < signal_opt[0] < 0.55
    assert np.allclose(study.optimal_decoy.values, BOUNDS["decoy"][0], atol=1e-3)
    assert study.optimiser_converged.all() and (study.optimiser_evaluations > 8).all()


def test_an_existing_cluster_is_reached_by_its_scheduler_address(tmp_path, cluster_client):
    spec = parse_spec({"fixed": {"delta": 0.063}, "axes": {"distance": "0:100:10"}})
    summary = run_sweep(spec, tmp_path / "s.h5", scheduler=cluster_client.scheduler.address)
    assert summary.done == spec.size and summary.workers == 2
    _assert_identical(open_study(tmp_path / "s.h5"), _one_process(tmp_path / "one.h5", spec))


def test_the_local_cluster_keeps_dask_housekeeping_off_the_solver_cores(cluster_client):
    import dask

    from qkdlab.sweep.run import QUIET_CLUSTER

    def settings() -> dict:
        return {key: dask.config.get(key) for key in QUIET_CLUSTER}

    # every worker, including the one that replaced the worker killed above (dask configures it anew)
    cluster_client.wait_for_workers(2, timeout=120)
    assert all(found == QUIET_CLUSTER for found in cluster_client.run(settings).values())
