"""Benchmark: sweeps on a dask LocalCluster (issue 22 targets).

1. Throughput of a 10^4-point LTQC grid (10 δ × 10 ε × 100 distances, asymptotic, weak-coherent
   decoys) with 1 and 2 local workers, both through :func:`qkdlab.sweep.run.local_cluster` and
   :func:`~qkdlab.sweep.run.run_sweep` (the code path of ``qkdlab sweep``); target ≥ 1.8× from 1
   to 2 workers on 2 cores. Each run gets a fresh cluster, so no run finds the overlap SDPs of
   another in its workers' caches; cluster start-up and the workers' imports are timed apart.
   Beside it, the ceiling of the machine for the same work without dask: the grid computed by one
   plain process against two plain processes with one half each.
2. Overhead per point at about 10 ms of work: grids whose every point has a new ε under the GLLP
   coin, so that each point solves one overlap SDP (its cost is printed). The reference is the
   sum of the single-process times of its points (measured in this process, point by point);
   overhead = wall × workers / Σ single-process time − 1, with 1 and 2 workers, for 400 and 800
   points. The whole-sweep figure includes the fixed costs of a sweep (creating the file, the
   first one-point chunks, the tail); the per-point figure is the slope between the two sizes,
   from which the fixed costs cancel; target < 5 %. Also printed: the share of the wall time the
   workers spent in their tasks (dask's task stream), which no load change between two
   measurements can enter, and the CPU seconds of all the sweep's processes against the sum of
   the points' single-process CPU times, which load changes barely enter.
3. Resume of a 90 %-done file: opening it, finding the 1000 missing points, computing and
   writing them (2 workers), against computing all 10^4.

Run ``python benchmarks/bench_sweep.py`` (``--quick`` for a tenth of the grids, ``--repeats N``
for the median of N alternating runs). On a machine shared with other jobs the timings are
inflated and the speed-up deflated: the load average is printed before and after; compare, and
rerun on an idle machine for the record.
"""

from __future__ import annotations

import argparse
import importlib
import multiprocessing
import os
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import h5py
import numpy as np
import psutil
from dask.distributed import get_task_stream

from qkdlab.sweep.evaluate import evaluate_chunk
from qkdlab.sweep.run import local_cluster, run_sweep
from qkdlab.sweep.spec import SweepSpec, parse_spec
from qkdlab.sweep.study import MISSING, StudyFile

#: A point of a source that no grid below has: warms the solvers without filling the caches they use.
WARM = {"fixed": {"method": "ltqc", "signal": 0.5, "decoy": 0.1, "delta": 0.5, "epsilon": 1e-3},
        "axes": {"distance": [0.0]}}


def ltqc_grid(distances: int) -> dict:
    return {"name": "bench LTQC grid", "fixed": {"method": "ltqc", "signal": 0.5, "decoy": 0.1},
            "axes": {"delta": list(np.round(np.linspace(0.0, 0.09, 10), 6)),
                     "epsilon": [0.0] + list(np.round(np.logspace(-9, -5, 9), 15)),
                     "distance": f"0:{2 * (distances - 1)}:2"}}


def sdp_grid(points: int) -> dict:
    """Every point a new ε under the GLLP coin: each point solves one overlap SDP (about 10 ms)."""
    return {"name": "bench 10 ms points", "fixed": {"method": "gllp", "delta": 0.063, "distance": 50.0},
            "axes": {"epsilon": list(np.round(np.linspace(1e-7, 1e-5, points), 15))}}


def warm() -> None:
    """Import and run the solvers once (in a worker or a plain process)."""
    spec = parse_spec(WARM)
    evaluate_chunk(spec.canonical(), [0])


def compute_seconds(stream) -> float:
    """Seconds the workers spent computing tasks, from dask's task stream."""
    return sum(s["stop"] - s["start"] for task in stream.data for s in task["startstops"] if s["action"] == "compute")


def cpu_seconds(processes: list[psutil.Process]) -> float:
    return sum(p.cpu_times().user + p.cpu_times().system for p in processes)


def cluster_run(spec: SweepSpec, path: Path, workers: int) -> dict:
    """One sweep on a fresh local cluster: start-up, wall time of run_sweep, workers' and coordinator's CPU.

    CPU seconds do not depend on how much of the machine other jobs take (only a little, through
    caches): the CPU of the coordinating process (client, scheduler, nannies, writer) and of all
    processes of the sweep together say how much of 2 idle cores the sweep itself would use.
    """
    path.unlink(missing_ok=True)
    start = time.perf_counter()
    with local_cluster(workers) as client:
        client.run(importlib.import_module, "qkdlab.sweep.evaluate")
        client.run(warm)
        startup = time.perf_counter() - start
        me = psutil.Process()
        processes = [me, *me.children(recursive=True)]
        before, coordinator = cpu_seconds(processes), cpu_seconds([me])
        with get_task_stream(client) as stream:
            start = time.perf_counter()
            summary = run_sweep(spec, path, client=client)
            wall = time.perf_counter() - start
        total, coordinator = cpu_seconds(processes) - before, cpu_seconds([me]) - coordinator
    assert summary.missing == 0 and summary.failed == 0 and summary.computed == spec.size, summary
    return {"wall": wall, "startup": startup, "busy": compute_seconds(stream) / (workers * wall),
            "coordinator": coordinator / wall, "cpu": total, "workers_cpu": total - coordinator}


def _plain_part(spec_json: str, indices: list[int]) -> float:
    start = time.process_time()
    evaluate_chunk(spec_json, indices)
    return time.process_time() - start


def plain_run(spec: SweepSpec, processes: int) -> tuple[float, float]:
    """Wall time and total CPU seconds of the grid split into ``processes`` contiguous parts, one per
    plain (warmed) process: what the machine gives the same work without dask at that moment."""
    parts = np.array_split(np.arange(spec.size), processes)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context, initializer=warm) as pool:
        list(pool.map(time.sleep, [0.5] * processes))   # every process started and warmed
        start = time.perf_counter()
        cpu = sum(pool.map(_plain_part, [spec.canonical()] * processes, [p.tolist() for p in parts]))
        return time.perf_counter() - start, cpu


def single_process_seconds(spec: SweepSpec) -> tuple[list[float], list[float]]:
    """Each point's wall time and CPU milliseconds, evaluated one by one in this process."""
    spec_json = spec.canonical()
    times, cpu = [], []
    for i in range(spec.size):
        start, thread = time.perf_counter(), time.thread_time()
        evaluate_chunk(spec_json, [i])
        times.append(time.perf_counter() - start)
        cpu.append((time.thread_time() - thread) * 1e3)
    return times, cpu


def resume(grid: SweepSpec, done_file: Path, tmp: Path) -> None:
    path = tmp / "resume.h5"
    shutil.copy(done_file, path)
    with h5py.File(path, "r+") as f:   # an interrupted run: the last 10 % not marked done
        status = f["status"][...].reshape(-1)
        status[int(0.9 * status.size):] = MISSING
        f["status"][...] = status.reshape(f["status"].shape)
    start = time.perf_counter()
    with StudyFile.open(path, grid) as study:
        missing = len(study.missing())
    opened = time.perf_counter() - start
    with local_cluster(2) as client:
        client.run(warm)
        start = time.perf_counter()
        run_sweep(grid, path, client=client)
        again = time.perf_counter() - start
    print(f"resume of a 90 %-done file: open + find the {missing} missing points {opened * 1e3:.0f} ms; "
          f"open + compute + write them on 2 workers {again:.1f} s (cluster start not counted)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 distances instead of 100, 100 SDP points")
    parser.add_argument("--repeats", type=int, default=1, help="alternating runs per figure (median)")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    tmp = Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    try:
        grid = parse_spec(ltqc_grid(10 if args.quick else 100))
        runs: dict[int, list[dict]] = {1: [], 2: []}
        plain: dict[int, list[float]] = {1: [], 2: []}
        plain_cpu: dict[int, list[float]] = {1: [], 2: []}
        for _ in range(args.repeats):
            for workers in (1, 2):
                runs[workers].append(cluster_run(grid, tmp / f"grid{workers}.h5", workers))
                wall, cpu_s = plain_run(grid, workers)
                plain[workers].append(wall)
                plain_cpu[workers].append(cpu_s)
        walls = {w: statistics.median(r["wall"] for r in runs[w]) for w in runs}
        for w, rs in runs.items():
            print(f"{w} worker(s): {grid.size} LTQC points in {walls[w]:.1f} s = {grid.size / walls[w]:.0f} points/s "
                  f"(start-up + imports {statistics.median(r['startup'] for r in rs):.1f} s, not counted); workers "
                  f"in their tasks {statistics.median(r['busy'] for r in rs) * 100:.0f} % of the wall time; the "
                  f"coordinating process used {statistics.median(r['coordinator'] for r in rs) * 100:.1f} % of a core")
        cpu = {w: statistics.median(r["cpu"] for r in runs[w]) for w in runs}
        alone = statistics.median(r["workers_cpu"] for r in runs[1])
        print(f"CPU seconds of all the sweep's processes: {cpu[1]:.1f} s with 1 worker ({alone:.1f} s of them the "
              f"worker's), {cpu[2]:.1f} s with 2. Projection for 2 idle cores, not a measurement: 1 worker takes "
              f"its {alone:.1f} s (the coordinator runs on the other core), 2 workers at best {cpu[2]:.1f} / 2 s: "
              f"{2 * alone / cpu[2]:.2f}×")
        ceiling = statistics.median(plain[1]) / statistics.median(plain[2])
        print(f"speed-up 1 → 2 workers: {walls[1] / walls[2]:.2f}× (target ≥ 1.8×); the machine's ceiling for the "
              f"same work without dask (1 vs 2 plain processes, {statistics.median(plain[1]):.1f} s vs "
              f"{statistics.median(plain[2]):.1f} s): {ceiling:.2f}×; dask 1 worker vs 1 plain process: "
              f"{walls[1] / statistics.median(plain[1]):.3f}×")
        print(f"CPU seconds of the plain processes: {statistics.median(plain_cpu[1]):.1f} s for 1, "
              f"{statistics.median(plain_cpu[2]):.1f} s for 2 (what sharing the cores costs without dask: "
              f"{statistics.median(plain_cpu[2]) / statistics.median(plain_cpu[1]) - 1:+.1%})")

        long = sdp_grid(200 if args.quick else 800)
        short = {**long, "axes": {"epsilon": long["axes"]["epsilon"][::2]}}
        reference, cpu_ms = single_process_seconds(parse_spec(long))
        sums = {"long": sum(reference), "short": sum(reference[::2])}
        print(f"10 ms points: GLLP points with a new ε each (one overlap SDP per point), one process: median "
              f"{statistics.median(reference) * 1e3:.1f} ms per point ({statistics.median(cpu_ms):.1f} ms of CPU)")
        for workers in (1, 2):
            walls = {}
            for name, data in (("short", short), ("long", long)):
                spec = parse_spec(data)
                run = [cluster_run(spec, tmp / "sdp.h5", workers) for _ in range(args.repeats)]
                walls[name] = statistics.median(r["wall"] for r in run)
                cpu_used = statistics.median(r["cpu"] for r in run)
                cpu_ref = sum(cpu_ms if name == "long" else cpu_ms[::2]) / 1e3
                print(f"  {workers} worker(s), {spec.size} points: wall {walls[name]:.2f} s (creating the file "
                      f"included), Σ single-process {sums[name]:.2f} s: overhead {walls[name] * workers / sums[name] - 1:+.1%}; "
                      f"workers in their tasks {statistics.median(r['busy'] for r in run) * 100:.0f} % of the wall time; "
                      f"CPU of all the sweep's processes against Σ single-process CPU: {cpu_used / cpu_ref - 1:+.1%}")
            per_point = (walls["long"] - walls["short"]) * workers / (sums["long"] - sums["short"]) - 1
            print(f"  {workers} worker(s): overhead per point (the slope between the two sizes, which the fixed "
                  f"costs of a sweep cancel out of): {per_point:+.1%} (target < 5 %)")
        resume(grid, tmp / "grid2.h5", tmp)
        print(f"load average after: {os.getloadavg()}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
