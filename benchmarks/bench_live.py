"""Benchmark: live-estimator update latency and time-tag ingest rate (issue 6 targets).

Update latency (median and 99th percentile) for blocks of 1e6 and 1e9 emissions, with the
calibrated-like source of the demo (BB84, δ = 0.063, ε = 1e-6, pulse correlations l_c = 1, decoy
states): target median under 50 ms. Ingest: detection events (sorted time tags, 1e7 events over
4e7 pulse slots, two post-processing groups) turned into counts per second: target at least 1e7
events/s; Alice's per-slot emission counting is timed separately.
Run: ``python benchmarks/bench_live.py``.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from qkdlab.analysis import AnalysisSource
from qkdlab.live import LiveEstimator, SimulatedLink
from qkdlab.live.ingest import count_detections, count_emissions


def latency(block_emissions: float, blocks: int) -> list[float]:
    source = AnalysisSource.flawed("bb84", 0.063, 1e-6, correlation_length=1)
    link = SimulatedLink(source, block_emissions=block_emissions, distance_km=10.0, seed=1)
    estimator = LiveEstimator(source)
    data = list(link.blocks(blocks))
    return [estimator.push(b).latency_s for b in data]


def ingest(events: int, slots: int, repeats: int = 5) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    setting = rng.integers(0, 4, slots).astype(np.int8)
    intensity = rng.integers(0, 3, slots).astype(np.int8)
    basis = rng.integers(0, 2, slots).astype(np.int8)
    event_slot = np.sort(rng.integers(0, slots, events))
    outcome = rng.integers(0, 2, events).astype(np.int8)
    event_times, slot_times = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        count_detections(setting, intensity, basis, event_slot, outcome, 4, 3, 2, groups=2)
        event_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        count_emissions(setting, intensity, 4, 3, groups=2)
        slot_times.append(time.perf_counter() - start)
    return events / statistics.median(event_times), slots / statistics.median(slot_times)


def main() -> None:
    for size, count in ((1e6, 200), (1e9, 200)):
        values = sorted(latency(size, count))
        p99 = values[min(int(0.99 * len(values)), len(values) - 1)]
        print(f"update latency, blocks of {size:.0e} pulses ({count} blocks): median "
              f"{statistics.median(values) * 1e3:.1f} ms, 99th percentile {p99 * 1e3:.1f} ms   (target median < 50 ms)")
    events_rate, slots_rate = ingest(10_000_000, 40_000_000)
    print(f"time-tag ingest: {events_rate / 1e6:.1f} M detection events/s into counts   (target >= 10 M/s); "
          f"emission counting {slots_rate / 1e6:.0f} M slots/s")


if __name__ == "__main__":
    main()
