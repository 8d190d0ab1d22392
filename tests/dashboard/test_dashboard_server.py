"""The dashboard without a browser: bounded history, rows, the non-blocking feed, access control (403)."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import threading
import time

import numpy as np
import psutil
import pytest

from qkdlab.analysis import AnalysisSource
from qkdlab.dashboard import Board, DashboardServer, Feed, History, RunInfo, is_loopback
from qkdlab.dashboard.outbox import Outbox, decode_batch, encode_batch, read_batches
from qkdlab.dashboard.rows import merge_rows
from qkdlab.dashboard.viewers import Viewers
from qkdlab.examples import flawed_source_model
from qkdlab.live import LiveEstimator, SimulatedLink
from qkdlab.live.estimator import Update

SOURCE = AnalysisSource.flawed("bb84", 0.063, 1e-7)


def fake_row(i: int) -> dict[str, float]:
    return {"time": 1e3 * i, "index": float(i), "width": 1.0, "rate_bps": float(i % 7), "total_bits": float(i)}


def test_a_day_at_one_block_per_second_stays_bounded_and_keeps_the_totals():
    history = History(capacity=4000)
    day = 86_400
    for i in range(1, day + 1):
        history.append(fake_row(i))
    widths = np.array([r["width"] for r in history.rows])
    assert len(history) <= 4000 and history.appended == day
    assert widths.sum() == day                                   # every block is still represented
    assert np.all(widths[:-1] >= widths[1:])                     # older points are coarser, never finer
    assert np.all(widths[-2000:] == 1)                           # the newest half at full resolution
    assert [r["index"] for r in history.rows[-2000:]] == list(range(day - 1999, day + 1))
    # block-weighted means are preserved exactly: Σ width·rate equals the sum over all blocks
    assert sum(r["width"] * r["rate_bps"] for r in history.rows) == pytest.approx(sum(i % 7 for i in range(1, day + 1)))
    assert history.rows[-1]["total_bits"] == day and history.rows[0]["total_bits"] == history.rows[0]["index"]


def test_viewers_get_the_tail_or_a_reload():
    history = History(capacity=8)
    for i in range(6):
        history.append(fake_row(i))
    seen, generation = history.appended, history.generation
    history.append(fake_row(6))
    assert history.since(seen)["index"] == [6.0] and history.generation == generation
    for i in range(7, 10):
        history.append(fake_row(i))
    assert history.generation > generation                       # merged: the viewer must reload
    assert sum(history.columns()["width"]) == 10
    with pytest.raises(ValueError, match="at least 8"):
        History(capacity=2)


def test_merged_rows_average_by_width_and_keep_the_newest_total():
    a = {"time": 0.0, "index": 1.0, "width": 1.0, "qber_z": 1.0, "total_bits": 5.0}
    b = {"time": 3.0, "index": 4.0, "width": 3.0, "qber_z": 2.0, "total_bits": 9.0}
    merged = merge_rows([a, b])
    assert merged == {"time": 2.25, "index": 4.0, "width": 4.0, "qber_z": 1.75, "total_bits": 9.0}


def test_rows_carry_the_estimator_numbers_and_physical_rates():
    estimator = LiveEstimator(SOURCE)
    feed = Feed(RunInfo.from_estimator(estimator, "rows"))
    link = SimulatedLink(SOURCE, block_emissions=1e9, distance_km=10.0, seed=2)
    board = Board(feed.info)
    for block in link.blocks(2):
        update = estimator.push(block)
        feed.publish(update, block)
    feed.publish(estimator.push("junk"))
    messages = feed.take()
    assert len(messages) == 3 and feed.dropped == 0
    board.take(decode_batch(encode_batch(messages)))          # as the server process receives them
    assert board.accepted == 2 and board.rejected == 1 and "rejected block" in board.last_rejection
    row = board.history.rows[-1]
    assert row["qber_z"] == pytest.approx(100 * update.block.qber, rel=1e-12)    # the estimator's own QBER
    assert row["rate_bps"] == update.block.key_rate_bps and row["total_bits"] == update.accumulated.key_length_bits
    last = estimator.push(link.next_block())
    assert row["total_bits"] < last.accumulated.key_length_bits  # (the next block adds key)
    # the simulated detectors' dark-count probability is 2.5e-5 per slot at 1 GHz: 25 kc/s each
    for label in board.detectors:
        assert row[f"dark_{label}"] == pytest.approx(2.5e4, rel=0.1)
    assert board.detectors == ("Z0", "Z1", "X0", "X1")
    assert 0 < row["qber_z"] < 1 and 0 < row["qber_x"] < 1 and row["phase_error"] > row["qber_z"]


def test_the_run_info_names_each_epsilon_part_and_where_it_came_from():
    model = flawed_source_model(epsilon=1e-7)
    info = RunInfo.from_estimator(LiveEstimator(model), "info", model)
    assert info.epsilon == pytest.approx(model.epsilon.total)
    assert [p[0] for p in info.epsilon_parts] == [p.name for p in model.epsilon.parts]
    assert all(p[2] in ("measured", "bounded-by-design", "assumed-absent") and p[3] for p in info.epsilon_parts)


def test_publishing_never_waits_for_a_stalled_server():
    """The server process is stopped (SIGSTOP, as a hung server): publish stays at microseconds.

    A publish that waited for the server would wait until SIGCONT, i.e. for ever: the loop runs on
    a thread joined with a timeout, so that failure is a clear assertion, not a hung test. Timing
    is judged by the median (microseconds) and a maximum far above any scheduling pause of a
    loaded machine (a single slow call there is the OS, not the feed).
    """
    estimator = LiveEstimator(SOURCE)
    feed = Feed(RunInfo.from_estimator(estimator, "stall"), maxlen=50)
    block = SimulatedLink(SOURCE, block_emissions=1e8, seed=3).next_block()
    update = estimator.push(block)
    times: list[float] = []

    def publish_many() -> None:
        for _ in range(1000):
            start = time.perf_counter()
            feed.publish(update, block)
            times.append(time.perf_counter() - start)
            time.sleep(0.001)

    with DashboardServer(feed, port=0) as server:
        os.kill(server.pid, signal.SIGSTOP)
        try:
            publisher = threading.Thread(target=publish_many, daemon=True)
            publisher.start()
            publisher.join(120)
            assert not publisher.is_alive(), f"publish blocked on the stalled server after {len(times)} calls"
            assert np.median(times) < 1e-3 and max(times) < 1.0, (np.median(times), max(times))
            assert feed.dropped > 0                             # the pipe filled; the oldest updates went
        finally:
            os.kill(server.pid, signal.SIGCONT)
        assert get(server.port, "/").status == 200              # the server recovers
    assert not psutil.pid_exists(server.pid) or psutil.Process(server.pid).status() == psutil.STATUS_ZOMBIE


def get(port: int, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)  # a loaded machine
    connection.request("GET", path, headers=headers or {})
    return connection.getresponse()


WEBSOCKET = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
             "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "bokeh, x"}


def test_every_request_and_the_websocket_need_the_token():
    feed = Feed(RunInfo.from_estimator(LiveEstimator(SOURCE), "token"))
    with DashboardServer(feed, port=0, token="right-token") as server:
        port = server.port
        assert get(port, "/").status == 403
        assert get(port, "/?token=wrong").status == 403
        assert get(port, "/static/js/bokeh.min.js").status == 403
        assert get(port, "/ws", WEBSOCKET).status == 403
        assert get(port, "/ws?token=wrong", WEBSOCKET).status == 403
        admitted = get(port, "/?token=right-token")
        assert admitted.status == 302 and admitted.getheader("Location") == "/"
        cookie = admitted.getheader("Set-Cookie")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        jar = {"Cookie": cookie.split(";")[0]}
        assert get(port, "/", jar).status == 200
        assert get(port, "/static/js/bokeh.min.js", jar).status == 200
        assert get(port, "/", {"Cookie": f"qkdlab_dashboard_{port}=wrong"}).status == 403
        # with the cookie the upgrade reaches Bokeh's websocket handler (which then checks its own session token)
        assert get(port, "/ws", jar | WEBSOCKET | {"Origin": f"http://127.0.0.1:{port}"}).status != 403
        assert get(port, "/ws", jar | WEBSOCKET | {"Origin": "http://evil.example"}).status == 403


def test_loopback_by_default_and_a_token_elsewhere():
    feed = Feed(RunInfo.from_estimator(LiveEstimator(SOURCE), "hosts"))
    local = DashboardServer(feed)
    assert local.host == "127.0.0.1" and local.port == 8050 and local.token is None
    assert local.url == "http://127.0.0.1:8050/"
    remote = DashboardServer(feed, host="0.0.0.0")
    assert remote.token and len(remote.token) >= 32 and remote.url.endswith(f"?token={remote.token}")
    assert DashboardServer(feed, host="192.168.1.5").token != remote.token
    assert is_loopback("localhost") and is_loopback("::1") and is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0") and not is_loopback("lab-pc.example")
    with DashboardServer(feed, port=0) as server:         # loopback server: other Host names are refused
        assert get(server.port, "/").status == 200
        assert get(server.port, "/", {"Host": "attacker.example"}).status == 403



class FakeLoop:
    """The three IOLoop calls :class:`Viewers` makes, on a clock the test moves."""

    def __init__(self):
        self.now, self.timers = 0.0, {}

    def time(self):
        return self.now

    def call_later(self, delay, callback):
        handle = object()
        self.timers[handle] = (self.now + delay, callback)
        return handle

    def remove_timeout(self, handle):
        self.timers.pop(handle, None)

    def advance(self, to):
        while due := sorted((t, h) for h, (t, _) in self.timers.items() if t <= to):
            self.now = due[0][0]
            self.timers.pop(due[0][1])[1]()
        self.now = to


class FakeDoc:
    def __init__(self, loop):
        self.loop, self.updates, self.destroyed = loop, [], None

    def add_next_tick_callback(self, callback):
        self.updates.append(self.loop.now)
        callback()

    def on_session_destroyed(self, callback):
        self.destroyed = callback


def test_pages_are_updated_together_right_after_data_a_few_times_a_second():
    loop = FakeLoop()
    viewers = Viewers(loop, min_interval_s=0.25, max_delay_s=0.5)
    docs = [FakeDoc(loop) for _ in range(10)]
    for doc in docs:
        viewers.add(doc, lambda: None)
    arrivals = [0.1 * i + 0.013 for i in range(100)]            # 10 blocks/s for 10 s
    for t in arrivals:
        loop.advance(t)
        viewers.data_arrived()
    loop.advance(20.0)
    updates = list(docs[0].updates)
    assert all(doc.updates == updates for doc in docs)              # all pages at the same moments
    assert len(updates) <= 10 / 0.25 + 1                            # at most 4 per second, not one per block
    assert np.all(np.diff(updates) >= 0.25 - 1e-9)
    assert set(updates) <= set(arrivals) | {arrivals[-1] + 0.5}    # on arrival (the last one: by the timer)
    for t in arrivals:                                              # every block on the page within 0.5 s
        assert any(t <= u <= t + 0.5 + 1e-9 for u in updates), t
    docs[3].destroyed(None)                                         # a closed page is no longer updated
    assert len(viewers) == 9
    loop.advance(21.0)
    viewers.data_arrived()
    assert len(docs[3].updates) == len(updates) and len(docs[0].updates) == len(updates) + 1
    with pytest.raises(ValueError, match="max_delay_s"):
        Viewers(loop, min_interval_s=0.5, max_delay_s=0.25)


def test_at_one_block_per_second_every_block_is_pushed_at_once():
    loop = FakeLoop()
    viewers = Viewers(loop)
    doc = FakeDoc(loop)
    viewers.add(doc, lambda: None)
    for t in (1.0, 2.0, 3.05, 4.0):
        loop.advance(t)
        viewers.data_arrived()
    assert doc.updates == [1.0, 2.0, 3.05, 4.0]


def test_the_outbox_never_blocks_and_delivers_everything_in_order_once_the_reader_catches_up():
    """A reader that does not read (a stalled server) fills the socket; publish still returns at once,
    the backlog thread delivers the rest when reading resumes, with no further publish."""
    feed = Feed(RunInfo.from_estimator(LiveEstimator(SOURCE), "outbox"), maxlen=100_000)
    ours, theirs = socket.socketpair()
    outbox = Outbox(feed, ours, batch=50)
    feed.attach(outbox.pump)
    reason = "x" * 2000                                  # ~2 kB per message: the socket buffer fills quickly
    times = []
    for i in range(3000):
        start = time.perf_counter()
        feed.publish(Update(i, 0.0, False, reason=f"{i} {reason}"))
        times.append(time.perf_counter() - start)
    assert outbox.sent < feed.published                  # the socket is full: the rest waits
    assert np.percentile(times, 99) < 0.01 and max(times) < 0.1, max(times)
    received = []
    with theirs.makefile("rb") as stream:
        batches = read_batches(stream)
        while len(received) < 3000:
            received += [int(m["reason"].split()[0]) for m in next(batches)]
        outbox.close(5)
        assert list(batches) == []                       # closed: the reader's iteration ends
    assert received == list(range(3000)) and feed.dropped == 0
