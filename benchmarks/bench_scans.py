"""Benchmark: all seven characterization scans with their default settings on the simulated bench.

Each scan opens the built-in simulated bench afresh (as ``qkdlab scan KIND --sim`` does) and
writes its run into one HDF5 file. The target is under 60 s for all seven together on 2 cores
(``bench_mode_dependence.py`` times the mode-dependence scan alone, target < 10 s).
Run: ``python benchmarks/bench_scans.py``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from qkdlab.bench import Bench
from qkdlab.config import builtin_sim_config
from qkdlab.scans import SCANS, run_scan
from qkdlab.store import Store


def main() -> None:
    total = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "all.h5")
        for kind in SCANS:
            start = time.perf_counter()
            with Bench(builtin_sim_config(), simulate=True).open() as bench:
                summary = run_scan(kind, bench, store)
            elapsed = time.perf_counter() - start
            total += elapsed
            print(f"{kind:22s} {summary.status:9s} {summary.points:6d} points  {elapsed:6.2f} s")
    print(f"{'all seven':22s} {'':9s} {'':6s}         {total:6.2f} s (target < 60 s)")


if __name__ == "__main__":
    main()
