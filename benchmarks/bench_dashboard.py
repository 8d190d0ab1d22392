"""Benchmark: the dashboard under load must not slow the live estimator (issue 23 target).

The live loop runs at ``--rate`` blocks/s (default 10; BB84, δ = 0.063, ε = 1e-6, l_c = 1, blocks
of 1e9 pulses) for ``--seconds`` (default 60) per run, on the same block stream (same seed) in
every run:

1. without the dashboard;
2. with the dashboard's server and no viewer;
3. with the server and ``--viewers`` (default 10) simulated viewers;
4. without the dashboard again (runs 1 and 4 bracket the others, so a drift of the machine's load
   shows; the baseline is their mean).

Before run 3 the history is filled with a day of points (86 400 rows, merged down to its
capacity), so every viewer first loads a full day, as one opened on a day-old run would.

A simulated viewer does on the wire what a browser does: it fetches the page over HTTP (the server
builds a Bokeh document for it then), takes the session token from the page, opens the websocket
with it, asks for the document (``PULL-DOC-REQ``) and then reads every message the server sends,
assembling and JSON-decoding each one with Bokeh's own protocol receiver and reading the plotted
``time`` column out of each update (inline, or a binary buffer after a reload). It does not draw (BokehJS does that in a real browser,
usually on another machine) and sends nothing after the document request, as BokehJS sends nothing
while nobody touches the page. All viewers share one asyncio loop in a child process
(``--viewer-nice``, default 0). Each viewer reports the messages and bytes it got, the blocks it
saw streamed, and how old each streamed block was when it arrived (the page's "within 1 s"
target).

Reported: the estimator's per-block latency (``Update.latency_s``) p50/p99 per run (target: with
the dashboard within 10 % of without), the time ``Feed.publish`` takes, the viewers' figures, and
the resident memory of the live and the server process every 5 s (target: flat).
With ``--pin`` the live loop runs on CPU 0 and the server and the viewers on CPU 1. With
``--interleaved`` the comparison is made on one live loop alternating segments without and with
the dashboard (:func:`interleaved`), which cancels a drift of the machine's load between runs.
Run: ``python benchmarks/bench_dashboard.py [--seconds 60] [--viewers 10] [--pin]``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import re
import subprocess
import signal
import sys
import threading
import time

import numpy as np
import psutil

from qkdlab.analysis import AnalysisSource
from qkdlab.dashboard import DashboardServer, Feed, RunInfo
from qkdlab.live import LiveEstimator, SimulatedLink

SOURCE = AnalysisSource.flawed("bb84", 0.063, 1e-6, correlation_length=1)


class Live:
    """The live loop on one block stream (the same seed in every run): a block every 1/``rate`` s."""

    def __init__(self, rate: float) -> None:
        self.link = SimulatedLink(SOURCE, block_emissions=1e9, distance_km=10.0, seed=1)
        self.estimator = LiveEstimator(SOURCE)
        self.period = 1.0 / rate

    def run(self, seconds: float, feed: Feed | None, server_pid: int | None = None, viewers_pid: int | None = None
            ) -> dict:
        """Estimate (and publish) blocks for ``seconds``; latencies in s, memory samples in MiB, CPU shares."""
        latencies, publish, memory, server_memory = [], [], [], []
        process = psutil.Process()
        server = psutil.Process(server_pid) if server_pid is not None else None
        others = {name: psutil.Process(pid) for name, pid in (("server", server_pid), ("viewers", viewers_pid))
                  if pid is not None}
        cpu = {name: sum(p.cpu_times()[:2]) for name, p in others.items()} | {"live": sum(process.cpu_times()[:2])}
        load = psutil.getloadavg()[0]
        start = next_tick = next_sample = time.monotonic()
        while time.monotonic() - start < seconds:
            block = self.link.next_block()
            update = self.estimator.push(block)
            latencies.append(update.latency_s)
            if feed is not None:
                t = time.perf_counter()
                feed.publish(update, block)
                publish.append(time.perf_counter() - t)
            if time.monotonic() >= next_sample:
                memory.append(process.memory_info().rss / 2**20)
                if server is not None:
                    server_memory.append(server.memory_info().rss / 2**20)
                next_sample += 5.0
            next_tick += self.period
            time.sleep(max(next_tick - time.monotonic(), 0.0))
        elapsed = time.monotonic() - start
        used = {name: (sum(p.cpu_times()[:2]) - cpu[name]) / elapsed for name, p in others.items()}
        used["live"] = (sum(process.cpu_times()[:2]) - cpu["live"]) / elapsed
        return {"latency": latencies, "publish": publish, "load": (load + psutil.getloadavg()[0]) / 2,
                "memory": memory, "server_memory": server_memory, "cpu": used}


def percentiles(run: dict) -> dict:
    ms = 1e3 * np.array(run["latency"])
    out = {"blocks": len(ms), "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
           "load": run["load"], "cpu": run.get("cpu", {})}
    if run["publish"]:
        us = 1e6 * np.array(run["publish"])
        out |= {"publish_p50_us": float(np.percentile(us, 50)), "publish_p99_us": float(np.percentile(us, 99))}
    return out


async def viewer(url: str, connected: asyncio.Queue, stop: asyncio.Event) -> dict:
    """One simulated browser (module docstring): every message received and decoded, nothing drawn."""
    from bokeh.client.websocket import WebSocketClientConnectionWrapper
    from bokeh.protocol import Protocol
    from bokeh.protocol.receiver import Receiver
    from tornado.httpclient import AsyncHTTPClient, HTTPRequest
    from tornado.websocket import websocket_connect

    page = (await AsyncHTTPClient().fetch(url, connect_timeout=300, request_timeout=300)).body.decode()
    token = re.search(r'"token"\s*:\s*"([^"]+)"', page)
    assert token, "no session token in the page"
    ws_url = url.replace("http://", "ws://").split("?")[0].rstrip("/") + "/ws"
    socket = await websocket_connect(HTTPRequest(ws_url, connect_timeout=300, request_timeout=300),
                                     subprotocols=["bokeh", token.group(1)], max_message_size=2**28)
    protocol, receiver = Protocol(), Receiver(Protocol())
    stats = {"messages": 0, "bytes": 0, "streamed": 0, "ages_s": [], "types": {}}

    async def next_message():
        while True:
            fragment = await socket.read_message()
            if fragment is None:
                return None
            stats["bytes"] += len(fragment)
            message = await receiver.consume(fragment)
            if message is not None:
                return message

    assert (await next_message()).msgtype == "ACK"
    await protocol.create("PULL-DOC-REQ").send(WebSocketClientConnectionWrapper(socket))
    last_ms = 1e3 * time.time()          # what is older came with the document
    reader, stopper = asyncio.ensure_future(next_message()), asyncio.ensure_future(stop.wait())
    while True:
        await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if not reader.done():
            reader.cancel()
            break
        message, reader = reader.result(), asyncio.ensure_future(next_message())
        if message is None:
            stats["closed"] = True
            break
        if message.msgtype == "PULL-DOC-REPLY":
            connected.put_nowait(True)
        arrived = time.time()
        stats["messages"] += 1
        stats["types"][message.msgtype] = stats["types"].get(message.msgtype, 0) + 1
        if message.msgtype == "PATCH-DOC":
            buffers = {b.id: b.data for b in message.buffers}
            for event in message.content["events"]:
                # new points come streamed, or in a reload of every column after the history merged old ones
                if event["kind"] not in ("ColumnsStreamed", "ColumnDataChanged"):
                    continue
                data = event["data"]
                times = dict(data["entries"])["time"]
                ms = (np.array(times, dtype=float) if isinstance(times, list)     # streamed rows come inline
                      else np.frombuffer(buffers[times["array"]["data"]["id"]], dtype=times["dtype"]))
                new = ms[ms > last_ms]
                if new.size:
                    last_ms = new.max()
                    stats["streamed"] += new.size
                    stats["ages_s"].extend((arrived - new / 1e3).tolist())
    socket.close()
    return stats


def viewers(url: str, count: int) -> None:
    """Child process: ``count`` viewers on one loop until stdin closes; prints "connected", then their figures."""
    async def all_viewers() -> list[dict]:
        loop, connected, stop = asyncio.get_running_loop(), asyncio.Queue(), asyncio.Event()
        threading.Thread(target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stop.set)), daemon=True).start()
        tasks = [asyncio.ensure_future(viewer(url, connected, stop)) for _ in range(count)]
        for _ in range(count):
            await connected.get()
        print("connected", flush=True)
        return await asyncio.gather(*tasks)

    print(json.dumps(asyncio.run(all_viewers())), flush=True)


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


def figures(name: str, run: dict) -> str:
    cpu = ", ".join(f"{k} {v:.1%}" for k, v in run["cpu"].items())
    return (f"{name:<34} p50 {run['p50_ms']:6.2f} ms  p99 {run['p99_ms']:6.2f} ms  ({run['blocks']} blocks, "
            f"load {run['load']:.1f}; CPU of a core: {cpu})")


def change(run: dict, baseline: dict) -> str:
    text = (f"p50 {run['p50_ms'] / baseline['p50_ms'] - 1:+.1%}, p99 {run['p99_ms'] / baseline['p99_ms'] - 1:+.1%} "
            "vs without (target within 10 %)")
    if "publish_p50_us" in run:
        text += f"; Feed.publish p50 {run['publish_p50_us']:.1f} µs, p99 {run['publish_p99_us']:.1f} µs"
    return text


def start_viewers(server: DashboardServer, args: argparse.Namespace) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, __file__, "--viewers-of", server.url, "--viewers", str(args.viewers),
                              "--viewer-nice", str(args.viewer_nice)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if args.pin:
        psutil.Process(child.pid).cpu_affinity([1])
    assert child.stdout is not None and child.stdout.readline().strip() == "connected", "the viewers did not connect"
    return child


def stop_viewers(child: subprocess.Popen) -> list[dict]:
    out, _ = child.communicate(timeout=300)       # closing stdin ends them
    return json.loads(out.strip().splitlines()[-1])


def report_viewers(seen: list[dict], published: int, dropped: int) -> None:
    ages = np.concatenate([np.array(v["ages_s"]) for v in seen])
    print(f"viewers: {len(seen)}; messages {min(v['messages'] for v in seen)}–{max(v['messages'] for v in seen)} "
          f"each ({sum(v['bytes'] for v in seen) / 2**20:.1f} MiB in all; first viewer: {seen[0]['types']}); blocks "
          f"that reached each {min(v['streamed'] for v in seen)}–{max(v['streamed'] for v in seen)} of {published} "
          f"published while they watched; closed early: {sum(bool(v.get('closed')) for v in seen)}; dropped by the "
          f"feed: {dropped}")
    if ages.size:
        print(f"age of a block when it reached a viewer: p50 {np.median(ages):.2f} s, p99 {np.percentile(ages, 99):.2f}"
              f" s, max {ages.max():.2f} s (target: < 1 s)")


def bracketed(args: argparse.Namespace) -> None:
    """Runs 1–4 of the module docstring, 60 s each."""
    before = percentiles(Live(args.rate).run(args.seconds, None))
    print(figures("without dashboard (before)", before), flush=True)
    feed = Feed(RunInfo.from_estimator(LiveEstimator(SOURCE), "benchmark"), maxlen=100_000)
    with DashboardServer(feed, port=0, nice=args.nice) as server:
        if args.pin:
            psutil.Process(server.pid).cpu_affinity([1])
        idle_run = Live(args.rate).run(args.seconds, feed, server.pid)
        idle = percentiles(idle_run)
        print(figures("server, no viewer", idle), flush=True)
        day_of_updates(feed, server)
        child = start_viewers(server, args)
        published = feed.published
        loaded_run = Live(args.rate).run(args.seconds, feed, server.pid, child.pid)
        loaded = percentiles(loaded_run)
        print(figures(f"server, {args.viewers} viewers", loaded), flush=True)
        time.sleep(2.0)                             # the last blocks reach the viewers
        seen = stop_viewers(child)
    after = percentiles(Live(args.rate).run(args.seconds, None))
    print(figures("without dashboard (after)", after))
    baseline = {k: (before[k] + after[k]) / 2 for k in ("p50_ms", "p99_ms")}
    print(f"server, no viewer: {change(idle, baseline)}")
    print(f"server, {args.viewers} viewers: {change(loaded, baseline)}")
    report_viewers(seen, feed.published - published, feed.dropped)
    for name, run in (("server, no viewer", idle_run), (f"server, {args.viewers} viewers", loaded_run)):
        print(f"memory with {name} (MiB every 5 s): live " + " ".join(f"{m:.0f}" for m in run["memory"])
              + "; server " + " ".join(f"{m:.0f}" for m in run["server_memory"]))


def interleaved(args: argparse.Namespace) -> None:
    """The same comparison with the machine's load drift cancelled: one live loop alternates segments.

    In an "off" segment nothing is published and the server and viewer processes are stopped
    (SIGSTOP: they cannot use any CPU); in an "on" segment they run and every block is published.
    ``--cycles`` pairs of segments of ``seconds / cycles`` each, so each condition gets ``seconds``.
    """
    feed = Feed(RunInfo.from_estimator(LiveEstimator(SOURCE), "benchmark"), maxlen=100_000)
    live, segment = Live(args.rate), args.seconds / args.cycles
    runs: dict[str, list] = {"off": [], "on": []}
    with DashboardServer(feed, port=0, nice=args.nice) as server:
        if args.pin:
            psutil.Process(server.pid).cpu_affinity([1])
        day_of_updates(feed, server)
        child = start_viewers(server, args)
        published, load = feed.published, psutil.getloadavg()[0]
        for cycle in range(args.cycles):
            for state in (("off", "on") if cycle % 2 == 0 else ("on", "off")):
                time.sleep(1.5)                     # the last blocks of an "on" segment reach the viewers
                for pid in (server.pid, child.pid):
                    os.kill(pid, signal.SIGSTOP if state == "off" else signal.SIGCONT)
                runs[state].append(live.run(segment, feed if state == "on" else None,
                                            *((server.pid, child.pid) if state == "on" else ())))
        for pid in (server.pid, child.pid):
            os.kill(pid, signal.SIGCONT)
        time.sleep(2.0)
        seen = stop_viewers(child)
    load = (load + psutil.getloadavg()[0]) / 2
    merged = {k: percentiles({"latency": sum((r["latency"] for r in v), []), "publish": sum((r["publish"] for r in v), []),
                              "load": load, "cpu": {n: np.mean([r["cpu"][n] for r in v]) for n in v[0]["cpu"]}})
              for k, v in runs.items()}
    print(figures(f"interleaved: without ({args.cycles} segments)", merged["off"]))
    print(figures(f"interleaved: {args.viewers} viewers", merged["on"]))
    print(f"interleaved, {args.viewers} viewers: {change(merged['on'], merged['off'])}")
    for state, segments in runs.items():                # the spread between segments of one condition: the noise
        print(f"  {state:>3} segments, p50 / p99 (ms): " + "  ".join(
            f"{np.percentile(r['latency'], 50) * 1e3:.0f}/{np.percentile(r['latency'], 99) * 1e3:.0f}" for r in segments))
    report_viewers(seen, feed.published - published, feed.dropped)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="per run (per condition when interleaved)")
    parser.add_argument("--viewers", type=int, default=10)
    parser.add_argument("--rate", type=float, default=10.0, help="blocks per second")
    parser.add_argument("--nice", type=int, default=10, help="niceness added to the server process")
    parser.add_argument("--viewer-nice", type=int, default=0, help="niceness added to the viewers' process")
    parser.add_argument("--pin", action="store_true",
                        help="pin the live loop to CPU 0 and the dashboard and viewers to CPU 1")
    parser.add_argument("--interleaved", action="store_true", help="alternate short segments with and without")
    parser.add_argument("--cycles", type=int, default=6, help="segments per condition when interleaved")
    parser.add_argument("--viewers-of", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.viewers_of:
        os.nice(args.viewer_nice)
        viewers(args.viewers_of, args.viewers)
        return
    if args.pin:
        psutil.Process().cpu_affinity([0])
    print(f"machine: {psutil.cpu_count()} CPUs, 1-min load average at start {psutil.getloadavg()[0]:.1f}", flush=True)
    (interleaved if args.interleaved else bracketed)(args)


if __name__ == "__main__":
    main()
