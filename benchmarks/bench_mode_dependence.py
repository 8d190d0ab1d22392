"""Benchmark: the mode-dependence scan with its default parameters on the simulated bench, and its calibration.

The scan (4 BB84 settings × 8 rounds of a 10 000-point averaged scope trace, a 1001-point OSA
sweep and a 0.1 s time-tagger histogram, plus the dark read-outs) runs ``REPEATS`` times on a
fresh built-in simulated bench; the median wall time is printed with the calibration's. Target:
scan < 10 s. Run: ``python benchmarks/bench_mode_dependence.py`` (pin it with ``taskset -c 0`` on
a loaded machine).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from qkdlab.bench import Bench
from qkdlab.calibration.mode_dependence import calibrate_mode_dependence
from qkdlab.config import builtin_sim_config
from qkdlab.scans import run_scan
from qkdlab.store import Store

REPEATS = 3


def main() -> None:
    scans, calibrations = [], []
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "mode.h5")
        for _ in range(REPEATS):
            start = time.perf_counter()
            with Bench(builtin_sim_config(), simulate=True).open() as bench:
                summary = run_scan("mode-dependence", bench, store)
            scans.append(time.perf_counter() - start)
            start = time.perf_counter()
            _, part = calibrate_mode_dependence(store.read(summary.name), failure_probability=0.01)
            calibrations.append(time.perf_counter() - start)
    print(f"mode-dependence scan  median {statistics.median(scans):6.2f} s of {REPEATS} (target < 10 s); "
          f"runs: {', '.join(f'{t:.2f}' for t in scans)}")
    print(f"calibration           median {statistics.median(calibrations):6.3f} s; ε_MD ≤ {part.upper:.3g}")


if __name__ == "__main__":
    main()
