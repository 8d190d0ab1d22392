"""Benchmark: the dashboard under load must not slow the live estimator (issue 23 target).

The live loop runs at 10 blocks/s (BB84, δ = 0.063, ε = 1e-6, l_c = 1, blocks of 1e9 pulses) for
``--seconds`` (default 60) three times: without the dashboard, with the dashboard serving
``--viewers`` (default 10) simulated viewers, and without again (the two runs without bracket the
one with, so a drift of the machine's load shows). A simulated viewer is a real Bokeh client
session over a websocket on 127.0.0.1 (``bokeh.client.pull_session``): the server builds its own
document for it and streams every block to it, exactly as for a browser; the viewers run in a
separate process, as browsers would. Before the loaded run the history is filled with a day of
points (86 400 rows, merged down to its capacity), so every viewer first receives a full day.

Reported: the estimator's per-block latency (``Update.latency_s``) p50/p99 per run (target: with
the dashboard within 10 % of without), the time ``Feed.publish`` takes (p99), whether the viewers
stayed connected, and the resident memory of the live and the server process every 5 s (target:
flat).
Run: ``python benchmarks/bench_dashboard.py [--seconds 60] [--viewers 10]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import threading
import time

import numpy as np
import psutil

from qkdlab.analysis import AnalysisSource
from qkdlab.dashboard import DashboardServer, Feed, RunInfo
from qkdlab.live import LiveEstimator, SimulatedLink

SOURCE = AnalysisSource.flawed("bb84", 0.063, 1e-6, correlation_length=1)


def live_loop(seconds: float, rate: float, feed: Feed | None, memory: list[float],
              server_memory: list[float] | None = None, server_pid: int | None = None) -> dict[str, float]:
    """Estimate blocks at ``rate`` per second; returns latency figures in ms."""
    link = SimulatedLink(SOURCE, block_emissions=1e9, distance_km=10.0, seed=1)
    estimator = LiveEstimator(SOURCE)
    latencies, publish = [], []
    process = psutil.Process()
    start = next_tick = time.monotonic()
    next_sample = start
    while time.monotonic() - start < seconds:
        block = link.next_block()
        update = estimator.push(block)
        latencies.append(update.latency_s)
        if feed is not None:
            t = time.perf_counter()
            feed.publish(update, block)
            publish.append(time.perf_counter() - t)
        if time.monotonic() >= next_sample:
            memory.append(process.memory_info().rss / 2**20)
            if server_pid is not None and server_memory is not None:
                server_memory.append(psutil.Process(server_pid).memory_info().rss / 2**20)
            next_sample += 5.0
        next_tick += 1.0 / rate
        time.sleep(max(next_tick - time.monotonic(), 0.0))
    ms = 1e3 * np.array(latencies)
    result = {"blocks": len(ms), "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}
    if publish:
        result["publish_p99_us"] = float(np.percentile(1e6 * np.array(publish), 99))
    return result


def viewers(url: str, count: int, seconds: float) -> None:
    """Child process: ``count`` Bokeh client sessions on the page; prints whether each stayed connected.

    The server builds a document per session and pushes every patch to it (the server's load is a
    browser's); the client side is not a renderer, so this measures the server, not drawing.
    """
    import asyncio

    from bokeh.client import pull_session

    received = [0] * count

    def one(i: int) -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())
        for attempt in range(10):               # a loaded machine may time a first connection out
            try:
                session = pull_session(url=url)
                break
            except OSError:
                time.sleep(1.0)
        else:
            raise SystemExit("a viewer could not connect")
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            session.force_roundtrip()            # runs the client's loop, which reads the pushed patches
            time.sleep(0.1)
        received[i] = int(session.connected)
        session.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(received), flush=True)


def day_of_updates(feed: Feed, server: DashboardServer) -> None:
    """A day of 1 block/s (one real block, re-stamped 86 400 times) through the feed, before the run."""
    link = SimulatedLink(SOURCE, block_emissions=1e9, seed=9)
    estimator = LiveEstimator(SOURCE)
    block = link.next_block()
    update = estimator.push(block)
    start = time.time() - 86_400
    for i in range(86_400):
        feed.publish(dataclasses.replace(update, index=i, wall_time=start + i), block)
    while server.sent < feed.published:
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--viewers", type=int, default=10)
    parser.add_argument("--rate", type=float, default=10.0, help="blocks per second")
    parser.add_argument("--pin", action="store_true",
                        help="pin the live loop to CPU 0 and the dashboard and viewers to CPU 1")
    parser.add_argument("--viewers-of", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.viewers_of:
        viewers(args.viewers_of, args.viewers, args.seconds)
        return
    if args.pin:
        psutil.Process().cpu_affinity([0])
    memory_off: list[float] = []
    before = live_loop(args.seconds, args.rate, None, memory_off)
    feed = Feed(RunInfo.from_estimator(LiveEstimator(SOURCE), "benchmark"), maxlen=100_000)
    memory_on: list[float] = []
    memory_server: list[float] = []
    with DashboardServer(feed, port=0) as server:
        day_of_updates(feed, server)
        child = subprocess.Popen([sys.executable, __file__, "--viewers-of", server.url, "--viewers",
                                  str(args.viewers), "--seconds", str(args.seconds + 5)],
                                 stdout=subprocess.PIPE, text=True)
        if args.pin:
            for pid in (server.pid, child.pid):
                psutil.Process(pid).cpu_affinity([1])
        time.sleep(3.0)                          # the viewers connect and load a day of history
        loaded = live_loop(args.seconds, args.rate, feed, memory_on, memory_server, server.pid)
        out, _ = child.communicate(timeout=120)
        received = json.loads(out.strip().splitlines()[-1])
    after = live_loop(args.seconds, args.rate, None, [])
    baseline = {k: (before[k] + after[k]) / 2 for k in ("p50_ms", "p99_ms")}
    print(f"load while measuring: {psutil.getloadavg()[0]:.1f} (1-min load average, {psutil.cpu_count()} cores)")
    print(f"estimator latency without dashboard (before): p50 {before['p50_ms']:.2f} ms, p99 {before['p99_ms']:.2f} ms"
          f" ({before['blocks']} blocks)")
    print(f"estimator latency with {args.viewers} viewers:           p50 {loaded['p50_ms']:.2f} ms, "
          f"p99 {loaded['p99_ms']:.2f} ms ({loaded['blocks']} blocks)")
    print(f"estimator latency without dashboard (after):  p50 {after['p50_ms']:.2f} ms, p99 {after['p99_ms']:.2f} ms")
    for key in ("p50_ms", "p99_ms"):
        change = loaded[key] / baseline[key] - 1.0
        print(f"  {key[:3]} with / without: {change:+.1%} (target within ±10 %)")
    print(f"Feed.publish p99: {loaded['publish_p99_us']:.1f} µs")
    print(f"viewers still connected at the end: {sum(received)} of {len(received)} (live loop published "
          f"{loaded['blocks']} blocks after a day of history; dropped: {feed.dropped})")
    print("resident memory of the live process with the dashboard (MiB, every 5 s): " + " ".join(f"{m:.0f}" for m in memory_on))
    print("resident memory of the dashboard's server process (MiB, every 5 s): "
          + " ".join(f"{m:.0f}" for m in memory_server))
    if len(memory_on) > 2:
        print(f"  growth from the second sample to the end: live {memory_on[-1] - memory_on[1]:+.1f} MiB, "
              f"server {memory_server[-1] - memory_server[1]:+.1f} MiB")


if __name__ == "__main__":
    main()
