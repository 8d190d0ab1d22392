"""Benchmark: store overhead per appended point, on a 10,000-point run (flushed every point).

A point here is what the scans append: a few scalar datasets (bias, power, ...). Every append
resizes each dataset, writes the row and flushes the file in SWMR mode, so the figure is the
full crash-safety cost. Run: ``python benchmarks/bench_store_append.py [--points 10000]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from qkdlab.store import DataGroup, DatasetSpec, FlushPolicy, Store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000, help="points in the run")
    parser.add_argument("--datasets", type=int, default=3, help="scalar datasets per point")
    parser.add_argument("--every", type=int, default=1, help="flush every N points")
    args = parser.parse_args()
    group = DataGroup("data", [DatasetSpec(f"d{i}", "V") for i in range(args.datasets)], signal="d0")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.h5")
        times = []
        with store.new_run("benchmark", [group], flush=FlushPolicy(every_points=args.every)) as run:
            for i in range(args.points):
                values = {f"d{k}": float(i + k) for k in range(args.datasets)}
                start = time.perf_counter()
                run.append("data", **values)
                times.append(time.perf_counter() - start)
        assert store.runs()[0].points == args.points
    times_ms = sorted(t * 1e3 for t in times)
    print(f"append of one point ({args.datasets} datasets, flush every {args.every}), {args.points} points: "
          f"median {statistics.median(times_ms):.3f} ms, p99 {times_ms[int(0.99 * len(times_ms))]:.3f} ms, "
          f"max {times_ms[-1]:.3f} ms")


if __name__ == "__main__":
    main()
