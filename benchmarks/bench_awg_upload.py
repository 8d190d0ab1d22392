"""Benchmark: a 1,000,000-sample AWG upload and a property query through pyvisa to the simulated 33500B.

Both go through the real stack (driver -> VisaTransport -> pyvisa -> @qkdsim backend -> emulator),
so the figures include DAC-code conversion, IEEE block framing, SCPI parsing, the error check and
pyvisa's read loop. Run: ``python benchmarks/bench_awg_upload.py [--runs 5] [--queries 2000]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from qkdlab.drivers.awg import Keysight33500B
from qkdlab.sim import SimInstrument, SimulatedBench

RESOURCE = "USB0::0x0957::0x5707::MY00000001::INSTR"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="uploads to time (median reported)")
    parser.add_argument("--queries", type=int, default=2000, help="frequency queries to time (median reported)")
    parser.add_argument("--samples", type=int, default=1_000_000, help="waveform length")
    args = parser.parse_args()

    bench = SimulatedBench([SimInstrument("awg", "keysight_33500b", RESOURCE)], seed=0)
    awg = Keysight33500B(RESOURCE, "awg", visa_library=bench.visa_library)
    try:
        samples = np.sin(np.linspace(0.0, 2.0 * np.pi * 1000, args.samples))
        awg.identify()
        upload_times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            awg.upload_waveform(1, "BENCH", samples)
            upload_times.append(time.perf_counter() - start)
        stored = bench.emulators["awg"].waveform(1, "BENCH")
        assert np.array_equal(stored, np.rint(samples * 32767).astype(np.int16)), "upload corrupted the samples"

        query_times = []
        for _ in range(args.queries):
            start = time.perf_counter()
            _ = awg.ch1.frequency
            query_times.append(time.perf_counter() - start)
    finally:
        awg.close()
        bench.close()

    upload = statistics.median(upload_times)
    query = statistics.median(query_times)
    print(f"upload of {args.samples:,} samples ({2 * args.samples / 1e6:.1f} MB block), median of {args.runs}: "
          f"{upload * 1e3:.1f} ms ({2 * args.samples / upload / 1e6:.0f} MB/s); "
          f"min {min(upload_times) * 1e3:.1f} ms, max {max(upload_times) * 1e3:.1f} ms")
    print(f"property query round trip (awg.ch1.frequency), median of {args.queries}: {query * 1e6:.1f} us "
          f"(p90 {statistics.quantiles(query_times, n=10)[-1] * 1e6:.1f} us)")


if __name__ == "__main__":
    main()
