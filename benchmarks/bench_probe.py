"""Time ``qkdlab bench probe`` on the simulated bench.

Prints: the whole built-in simulated bench probed read-only and with ``allow_set`` (median of 3),
and the cost of one unanswered optional query with and without a probe record. Target: under 5 s
for the bench; the unanswered query costs one ``optional_query_timeout`` once, then nothing.
"""

from __future__ import annotations

import statistics
import time

from qkdlab.bench import Bench
from qkdlab.config import builtin_sim_config, parse_config
from qkdlab.drivers.detector import CountingMode
from qkdlab.probe import probe_bench


def _probe_seconds(allow_set: bool) -> float:
    times = []
    for _ in range(3):
        with Bench(builtin_sim_config(), simulate=True) as bench:
            start = time.perf_counter()
            record = probe_bench(bench, None, allow_set=allow_set, timeout=1.0)
            times.append(time.perf_counter() - start)
        assert record.passed, record.summary()
    return statistics.median(times)


def _unknown_query_seconds(unsupported: dict[str, set[str]] | None) -> tuple[float, float]:
    data = builtin_sim_config().model_dump(mode="json")
    data["instruments"]["spd1"]["sim"]["unknown_commands"] = ["Counter:Counting_Mode?"]
    with Bench(parse_config(data), simulate=True, unsupported_queries=unsupported).open() as bench:
        spd = bench["spd1"]
        first = time.perf_counter()
        spd.counting_mode = CountingMode.TOTALIZE
        second = time.perf_counter()
        spd.counting_mode = CountingMode.FREQUENCY
        end = time.perf_counter()
    return second - first, end - second


if __name__ == "__main__":
    print(f"probe, reads only:        {_probe_seconds(False):.2f} s (median of 3)")
    print(f"probe, --allow-set:       {_probe_seconds(True):.2f} s (median of 3)")
    cold = _unknown_query_seconds(None)
    warm = _unknown_query_seconds({"spd1": {"Counter:Counting_Mode?"}})
    print(f"unknown optional query, no record:   first set {cold[0] * 1e3:.0f} ms, second {cold[1] * 1e3:.1f} ms")
    print(f"unknown optional query, with record: first set {warm[0] * 1e3:.1f} ms, second {warm[1] * 1e3:.1f} ms")
