"""The dashboard in a real headless Chromium: panels with units, streaming, the alarm banner, replay, tokens."""

from __future__ import annotations

import http.cookiejar
import threading
import time
import urllib.error
import urllib.request

import h5py
import numpy as np
import pytest
from browser_helpers import ARTIFACTS, DEEP_TEXT, bokeh, plotted, wait_for
from PIL import Image

from qkdlab.analysis import AnalysisSource
from qkdlab.dashboard import DashboardServer, Feed, RunInfo, estimate_into
from qkdlab.dashboard.page import PANELS
from qkdlab.live import LinkRecorder, LiveEstimator, SimulatedLink, follow_link_run, read_link_run

SOURCE = AnalysisSource.flawed("bb84", 0.063, 1e-7)


def qber_jump(block, fraction=0.12):
    """The same block with ``fraction`` of the correct key-round clicks moved to the wrong outcome."""
    jumped = []
    for group in block:
        counts = group.count_array.copy()
        z = group.basis_index("Z")
        for j, label in enumerate(group.settings):
            if label.startswith("Z"):
                bit = int(label[1])
                moved = np.floor(counts[j, :, z, bit] * fraction)
                counts[j, :, z, bit] -= moved
                counts[j, :, z, 1 - bit] += moved
        jumped.append(group.model_copy(update={"counts": tuple(map(tuple, counts.tolist()))}))
    return tuple(jumped)


class Producer(threading.Thread):
    """The live loop in miniature: a block every ``interval`` s, estimated and published."""

    def __init__(self, feed, estimator, link, interval=1.0):
        super().__init__(daemon=True)
        self.feed, self.estimator, self.link, self.interval = feed, estimator, link, interval
        self.inject = threading.Event()
        self.injected_at: float | None = None     # wall clock (time.time), as the browser's Date.now()
        self.halt = threading.Event()
        self.last_index = 0

    def run(self):
        while not self.halt.is_set():
            block = self.link.next_block()
            if self.inject.is_set() and self.injected_at is None:
                block = qber_jump(block)
                update = self.estimator.push(block)
                assert any(a.kind == "qber" for a in update.alarms)
                self.feed.publish(update, block)
                self.injected_at = time.time()
            else:
                self.feed.publish(self.estimator.push(block), block)
            self.last_index = self.estimator.pushed
            self.halt.wait(self.interval)


@pytest.fixture
def live_page(browser):
    estimator = LiveEstimator(SOURCE)
    feed = Feed(RunInfo.from_estimator(estimator, "browser test"))
    producer = Producer(feed, estimator, SimulatedLink(SOURCE, block_emissions=1e9, distance_km=10.0, seed=4))
    with DashboardServer(feed, port=0) as server:
        producer.start()
        browser.get(server.url)
        assert wait_for(lambda: plotted(browser) and len(plotted(browser)["time"]) > 0, 180, 0.25), "no points plotted"
        yield browser, producer, server
        producer.halt.set()
        producer.join(5)


def test_the_page_shows_every_panel_with_units_and_streams_points(live_page):
    browser, producer, server = live_page
    panels = bokeh(browser, "return Object.fromEntries(%s.map(n => { const f = doc.get_model_by_name(n);"
                            " return [n, [f.title.text, f.left[0].axis_label, f.below[0].axis_label]]; }));"
                   % list(PANELS))
    assert set(panels) == set(PANELS)
    for name, (title, ylabel, xlabel) in panels.items():
        assert title, name
        assert ylabel.endswith(")") and "(" in ylabel, f"{name}: y axis {ylabel!r} has no unit"
        assert xlabel == "time (UTC)", name
    assert "ε_sec = 1e-10" in panels["keyrate"][0]
    text = browser.execute_script(DEEP_TEXT)
    assert "ε in use = 1e-07" in text and "conservative fallbacks: 0" in text and "producer" in text
    before = len(plotted(browser)["time"])
    grown = wait_for(lambda: len(plotted(browser)["time"]) >= before + 3, 60, 0.25)
    assert grown, "the key-rate plot gained no points as blocks arrived"
    data = plotted(browser)
    assert all(r > 0 for r in data["rate_bps"]) and data["total_bits"] == sorted(data["total_bits"])
    assert {"det_Z0", "det_X1", "dark_Z0"} <= set(data)
    # a second viewer (its own tab and session) follows the same run, and the first one goes on
    first = browser.current_window_handle
    browser.switch_to.new_window("tab")
    try:
        browser.get(server.url)
        target = producer.last_index + 2
        assert wait_for(lambda: (d := plotted(browser)) and d["index"] and d["index"][-1] >= target, 60, 0.25)
        second = plotted(browser)
    finally:
        browser.close()
        browser.switch_to.window(first)
    assert wait_for(lambda: plotted(browser)["index"][-1] >= target, 60, 0.25)
    again = plotted(browser)
    n = len(second["index"])
    assert again["index"][:n] == second["index"] and again["total_bits"][:n] == second["total_bits"]


def test_a_qber_jump_shows_the_alarm_banner_within_2_s_and_a_screenshot(live_page):
    browser, producer, server = live_page
    assert "ALARM" not in browser.execute_script(DEEP_TEXT)
    # the page has caught up with the run (so the time measured below is the alarm's, not a backlog's)
    assert wait_for(lambda: plotted(browser)["index"][-1] >= producer.last_index - 1, 60, 0.25)
    # The browser itself notes when the banner's model turns visible (and its text at that moment):
    # the time measured is the dashboard's, not that of Selenium's polls on a loaded machine.
    assert bokeh(browser, "const m = doc.get_model_by_name('alarm-banner'); window.qkdlabAlarm = null;"
                          "m.property('visible').change.connect(() => { if (m.visible && !window.qkdlabAlarm)"
                          " window.qkdlabAlarm = [Date.now() / 1000, m.text]; }); return true;")
    producer.inject.set()
    assert wait_for(lambda: producer.injected_at, 10, 0.01)
    # (polled slowly: the browser holds the time, and each poll is work for a loaded renderer)
    arrived = wait_for(lambda: browser.execute_script("return window.qkdlabAlarm;"), 10, interval=0.25)
    assert arrived, "no alarm banner"
    at, banner = arrived
    print(f"alarm banner in the browser's document {at - producer.injected_at:.2f} s after the block")
    assert at - producer.injected_at < 2.0
    assert "ALARM" in banner and "QBER" in banner and "above the alarm threshold" in banner and "UTC" in banner
    text = wait_for(lambda: (t := browser.execute_script(DEEP_TEXT)) and "ALARM" in t and t, 10, interval=0.1)
    assert text and "QBER" in text and "above the alarm threshold" in text and "UTC" in text   # drawn on the page
    time.sleep(1.0)                      # let the plots draw the jump
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "dashboard.png"
    assert browser.save_screenshot(str(path))
    pixels = np.asarray(Image.open(path).convert("L"), dtype=float)
    assert pixels.shape[0] > 500 and pixels.shape[1] > 800
    assert pixels.var() > 200.0, "the screenshot is blank"
    assert (pixels < 200).mean() > 0.02, "the screenshot has almost no drawn pixels"


def test_replay_shows_the_numbers_of_the_hdf5_record(browser, tmp_path):
    path = tmp_path / "link.h5"
    link = SimulatedLink(SOURCE, block_emissions=5e8, distance_km=20.0, seed=8)
    blocks = list(link.blocks(5))
    with LinkRecorder(path, blocks[0]) as recorder:
        for block in blocks[1:]:
            recorder.append(block)
    estimator = LiveEstimator(SOURCE)
    feed = Feed(RunInfo.from_estimator(estimator, f"replay of {path.name}"))
    with DashboardServer(feed, port=0) as server:
        browser.get(server.url)                      # an empty page first, as when a run starts
        assert wait_for(lambda: (d := plotted(browser)) is not None and d["time"] == [], 120, 0.25)
        assert estimate_into(feed, estimator, follow_link_run(path, poll_s=0.05)) == 5
        data = wait_for(lambda: (d := plotted(browser)) and len(d["time"]) == 5 and d, 120)
    assert data, "the replay did not plot 5 blocks"
    assert wait_for(lambda: "run ended: 5 blocks" in browser.execute_script(DEEP_TEXT), 5, 0.1)
    # The record itself, read with h5py and counted by hand (no qkdlab code on this side) ...
    with h5py.File(path, "r") as handle:
        run = handle[sorted(k for k in handle if k.startswith("run_"))[-1]]
        counts = run["blocks"]["counts"][()]          # (block, group, setting, intensity, basis, outcome)
        emissions = run["blocks"]["emissions"][()]
        rate = float(run["parameters"]["repetition_rate_hz"][()])
    for i in range(5):
        c = counts[i].sum(axis=0)
        z_right = c[0, 0, 0, 0] + c[1, 0, 0, 1]       # settings Z0, Z1 at the signal intensity, Bob in Z
        z_wrong = c[0, 0, 0, 1] + c[1, 0, 0, 0]
        x_right = c[2, 0, 1, 0] + c[3, 0, 1, 1]
        x_wrong = c[2, 0, 1, 1] + c[3, 0, 1, 0]
        assert data["qber_z"][i] == pytest.approx(100 * z_wrong / (z_right + z_wrong), rel=1e-12)
        assert data["qber_x"][i] == pytest.approx(100 * x_wrong / (x_right + x_wrong), rel=1e-12)
        assert data["emissions"][i] == emissions[i].sum()
        assert data["det_Z1"][i] == pytest.approx(c[..., 0, 1].sum() / (emissions[i].sum() / rate), rel=1e-12)
    # ... and the finite-key numbers of an independent offline estimate over the same record.
    offline = LiveEstimator(SOURCE)
    updates = [offline.push(b) for b in read_link_run(path)]
    assert data["total_bits"] == pytest.approx([u.accumulated.key_length_bits for u in updates], rel=1e-12)
    assert data["rate_bps"] == pytest.approx([u.block.key_rate_bps for u in updates], rel=1e-12)
    assert data["phase_error"] == pytest.approx([100 * u.block.phase_error for u in updates], rel=1e-12)


def test_a_token_protected_page_loads_in_the_browser_and_refuses_without_it(browser):
    estimator = LiveEstimator(SOURCE)
    feed = Feed(RunInfo.from_estimator(estimator, "token"))
    link = SimulatedLink(SOURCE, block_emissions=5e8, seed=9)
    for block in link.blocks(2):
        feed.publish(estimator.push(block), block)
    with DashboardServer(feed, port=0, token="s3cret-token") as server:
        browser.delete_all_cookies()
        browser.get(server.url.split("?")[0])
        assert "403" in browser.page_source
        browser.get(server.url)                  # ?token=… → cookie → the page, its scripts and its websocket
        assert wait_for(lambda: (d := plotted(browser)) and len(d["time"]) == 2, 120)
        assert "token" not in browser.current_url
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        assert opener.open(server.url).status == 200
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(server.url.replace("s3cret-token", "wrong"))
        assert refused.value.code == 403
