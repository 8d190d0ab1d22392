"""``qkdlab dashboard FILE`` and ``qkdlab live --serve``: the URL, the page, Ctrl-C, one-line errors."""

from __future__ import annotations

import contextlib
import csv
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

from click.testing import CliRunner

from qkdlab.analysis import AnalysisSource
from qkdlab.cli import main
from qkdlab.examples import flawed_source_model
from qkdlab.live import LinkRecorder, SimulatedLink


def model_file(tmp_path):
    path = tmp_path / "model.json"
    flawed_source_model(epsilon=1e-7).save(path)
    return path


class Lines:
    """A process's stdout, read on a thread so the test can wait for a line with a timeout."""

    def __init__(self, process):
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(iter(process.stdout.readline, "")), daemon=True).start()

    def wait(self, pattern: str, timeout: float = 180.0) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if match := re.search(pattern, line):
                    return match
            time.sleep(0.1)
        raise AssertionError(f"no line matching {pattern!r} in {self.lines}")


def page_status(url: str) -> int:
    port = int(re.search(r":(\d+)/", url).group(1))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/")
    return connection.getresponse().status


@contextlib.contextmanager
def started(args, cwd):
    """The command in a process of its own; killed (with its dashboard server) if the test fails first."""
    process = subprocess.Popen([sys.executable, "-m", "qkdlab.cli", *args], cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()


def _serves_until_ctrl_c(args, cwd, ready: str) -> None:
    """The command prints its dashboard's URL, then ``ready``; the page answers; Ctrl-C ends it cleanly."""
    with started(args, cwd) as process:
        lines = Lines(process)
        url = lines.wait(r"dashboard: (http://127\.0\.0\.1:\d+/)\s*$").group(1)
        lines.wait(ready)
        assert page_status(url) == 200
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "Traceback" not in err


def test_dashboard_serves_a_recorded_run_until_ctrl_c(tmp_path):
    link = SimulatedLink(AnalysisSource.flawed("bb84", 0.063, 1e-7), block_emissions=4e8, seed=1)
    blocks = list(link.blocks(3))
    with LinkRecorder(tmp_path / "rec.h5", blocks[0]) as recorder:
        for block in blocks[1:]:
            recorder.append(block)
    _serves_until_ctrl_c(["dashboard", "rec.h5", "--model", str(model_file(tmp_path)), "--port", "0"], tmp_path,
                         r"3 blocks estimated; the run has ended")


def test_live_serve_shows_the_run_and_stays_up(tmp_path):
    _serves_until_ctrl_c(["live", "--sim", "--model", str(model_file(tmp_path)), "--blocks", "3", "--interval", "0",
                          "--block", "4e8", "--log", "l.csv", "--png", "l.png", "--serve", "--port", "0"], tmp_path,
                         r"the dashboard stays up until Ctrl-C")
    assert len(list(csv.DictReader(open(tmp_path / "l.csv")))) == 3


def test_dashboard_errors_are_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = str(model_file(tmp_path))
    result = CliRunner().invoke(main, ["dashboard", "missing.h5", "--model", model])
    assert result.exit_code == 2 and "missing.h5" in result.output and "Traceback" not in result.output
    link = SimulatedLink(AnalysisSource.flawed("bb84", 0.063, 1e-7), block_emissions=4e8, seed=1)
    with LinkRecorder(tmp_path / "rec.h5", link.next_block()):
        pass
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = CliRunner().invoke(main, ["dashboard", "rec.h5", "--model", model, "--port", port])
        assert result.exit_code == 2 and "cannot serve the dashboard on 127.0.0.1" in result.output
        # another address: the warning comes first (here the port is taken, so nothing ever listens)
        result = CliRunner().invoke(main, ["dashboard", "rec.h5", "--model", model, "--host", "0.0.0.0",
                                           "--port", port])
        assert "warning:" in result.output and "token" in result.output
        assert result.exit_code == 2 and "Traceback" not in result.output
