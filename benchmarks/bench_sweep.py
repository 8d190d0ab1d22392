"""Benchmark: sweeps on a dask LocalCluster (issue 22 targets).

1. Throughput of a 10^4-point LTQC grid (10 δ × 10 ε × 100 distances, asymptotic, weak-coherent
   decoys) with 1 and 2 local workers; target ≥ 1.8× speed-up from 1 to 2 workers on 2 cores.
2. Overhead per point at about 10 ms of work: a grid whose every point has a new ε (so each
   point solves its overlap SDP), run on one worker: the wall time of the sweep against the
   compute time the worker itself records for its tasks (dask's task stream), so that load
   changes between two separate measurements cannot enter; target < 5 %.
3. Resume of a 90 %-done file: opening it, finding the 1000 missing points, computing and
   writing them (2 workers), against computing all 10^4.

Cluster start-up (seconds: worker processes import the solvers) is timed apart, not counted in
the throughput. The share of the wall time the workers spent computing (dask's task stream)
separates the sweep's own idle time from CPU contention: on a machine shared with other jobs,
two workers can be busy all the time and still not run twice as fast. Run:
``python benchmarks/bench_sweep.py`` (``--quick`` for a tenth of the grid).
Timings on a shared machine are inflated and the speed-up deflated by other load: compare with
``uptime`` and rerun on an idle machine for the record.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
from dask.distributed import get_task_stream

from qkdlab.sweep.run import run_sweep
from qkdlab.sweep.spec import parse_spec
from qkdlab.sweep.study import MISSING, StudyFile


def ltqc_grid(distances: int) -> dict:
    return {"name": "bench LTQC grid", "fixed": {"method": "ltqc", "signal": 0.5, "decoy": 0.1},
            "axes": {"delta": list(np.round(np.linspace(0.0, 0.09, 10), 6)),
                     "epsilon": [0.0] + list(np.round(np.logspace(-9, -5, 9), 15)),
                     "distance": f"0:{2 * (distances - 1)}:2"}}


def sdp_grid(points: int) -> dict:
    """Every point a new ε: each evaluation solves its overlap SDP (about 10 ms)."""
    return {"name": "bench 10 ms points", "fixed": {"method": "ltqc", "delta": 0.063, "distance": 50.0},
            "axes": {"epsilon": list(np.round(np.linspace(1e-7, 1e-5, points), 15))}}


def cluster(workers: int):
    from dask.distributed import Client, LocalCluster

    start = time.perf_counter()
    local = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                         silence_logs=logging.ERROR)
    client = Client(local)
    client.run(importlib.import_module, "qkdlab.sweep.evaluate")   # the workers import the solvers now
    return client, local, time.perf_counter() - start


def compute_seconds(stream) -> float:
    """Seconds the workers spent computing tasks, from dask's task stream."""
    return sum(s["stop"] - s["start"] for task in stream.data for s in task["startstops"] if s["action"] == "compute")


def timed_run(spec, path: Path, client) -> float:
    path.unlink(missing_ok=True)
    start = time.perf_counter()
    summary = run_sweep(spec, path, client=client)
    assert summary.missing == 0 and summary.failed == 0, summary
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 distances instead of 100 (10^3 points)")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    tmp = Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    try:
        grid = parse_spec(ltqc_grid(10 if args.quick else 100))
        sdp = parse_spec(sdp_grid(100 if args.quick else 400))
        results = {}
        for workers in (1, 2):
            client, local, startup = cluster(workers)
            try:
                timed_run(parse_spec({**ltqc_grid(2), "name": "warm-up"}), tmp / "warm.h5", client)
                with get_task_stream(client) as stream:
                    seconds = timed_run(grid, tmp / f"grid{workers}.h5", client)
                results[workers] = seconds
                print(f"{workers} worker(s): {grid.size} LTQC points in {seconds:.1f} s = {grid.size / seconds:.0f} "
                      f"points/s (cluster start-up {startup:.1f} s, not counted); the workers computed "
                      f"{compute_seconds(stream) / (workers * seconds) * 100:.0f} % of the wall time")
                if workers == 1:
                    with get_task_stream(client) as stream:   # the worker's own record of its compute time
                        wall = timed_run(sdp, tmp / "sdp.h5", client)
                    work = compute_seconds(stream)
                    print(f"overhead at {work / sdp.size * 1e3:.1f} ms/point of work: {sdp.size} points on one worker "
                          f"in {wall:.2f} s wall, {work:.2f} s of it computing: overhead "
                          f"{(wall - work) / work * 100:+.1f} % (target < 5 %; file creation included)")
                else:
                    resume = tmp / "resume.h5"
                    shutil.copy(tmp / "grid2.h5", resume)
                    with h5py.File(resume, "r+") as f:   # an interrupted run: the last 10 % not marked done
                        status = f["status"][...].reshape(-1)
                        status[int(0.9 * status.size):] = MISSING
                        f["status"][...] = status.reshape(f["status"].shape)
                    start = time.perf_counter()
                    with StudyFile.open(resume, grid) as study:
                        missing = len(study.missing())
                    opened = time.perf_counter() - start
                    start = time.perf_counter()
                    run_sweep(grid, resume, client=client)
                    again = time.perf_counter() - start
                    print(f"resume of a 90 %-done file: open + find the {missing} missing points {opened * 1e3:.0f} ms; "
                          f"open + compute + write them {again:.1f} s (all {grid.size}: {seconds:.1f} s)")
            finally:
                client.close()
                local.close()
        print(f"speed-up 1 → 2 workers: {results[1] / results[2]:.2f}× (target ≥ 1.8×)")
        print(f"load average after: {os.getloadavg()}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
