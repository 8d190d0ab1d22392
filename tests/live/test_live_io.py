"""Live producers and outputs: HDF5 link runs (record, replay, follow), time-tag ingest, sessions, CLI, demo."""

import csv
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from click.testing import CliRunner

from qkdlab.analysis import AnalysisSource, Channel, StateSet
from qkdlab.cli import main
from qkdlab.errors import DataError
from qkdlab.live import (LinkRecorder, LiveEstimator, SimulatedLink, block_from_events, follow_link_run,
                         read_link_run, run_session, slots_from_tags)
from qkdlab.live.ingest import count_detections
from qkdlab.store import Store
from qkdlab.examples import flawed_source_model

SOURCE = AnalysisSource.flawed("bb84", 0.063, 1e-7, correlation_length=1)


def model_file(tmp_path):
    path = tmp_path / "model.json"
    flawed_source_model(epsilon=1e-7).save(path)
    return path


def test_recorded_run_replays_to_the_same_numbers(tmp_path):
    link = SimulatedLink(SOURCE, block_emissions=4e8, seed=1)
    blocks = list(link.blocks(4))
    with LinkRecorder(tmp_path / "link.h5", blocks[0]) as recorder:
        for block in blocks[1:]:
            recorder.append(block)
    replay = read_link_run(tmp_path / "link.h5")
    strip = lambda block: [g.model_dump(exclude={"origin"}) for g in block]  # noqa: E731
    assert [strip(b) for b in replay] == [strip(b) for b in blocks]
    live, offline = LiveEstimator(SOURCE), LiveEstimator(SOURCE)
    a = [live.push(b) for b in blocks][-1].accumulated
    b = [offline.push(b) for b in replay][-1].accumulated
    assert a.key_length_bits == b.key_length_bits > 0
    with pytest.raises(DataError, match="no qkd-link run run_0007"):
        read_link_run(tmp_path / "link.h5", 7)


WRITER = textwrap.dedent("""
    import select, sys, time
    from qkdlab.analysis import AnalysisSource
    from qkdlab.live import LinkRecorder, SimulatedLink
    link = SimulatedLink(AnalysisSource.flawed("bb84", 0.063, 1e-7, correlation_length=1), block_emissions=4e8, seed=2)
    with LinkRecorder(sys.argv[1], link.next_block()) as rec:
        print("written 1", flush=True)
        for k in range(2, int(sys.argv[2]) + 1):
            # "step": the next block only once the test says it has followed the previous one
            if sys.argv[3] == "step" and not (select.select([sys.stdin], [], [], 60)[0] and sys.stdin.readline()):
                sys.exit(f"block {k - 1} was not followed within 60 s")
            rec.append(link.next_block())
            print(f"written {k}", flush=True)
        if sys.argv[3] == "hang":
            time.sleep(60)
""")


def test_follower_gets_blocks_while_another_process_writes(tmp_path):
    """Each block reaches the follower while the writer still runs, before the next one is written."""
    path = tmp_path / "link.h5"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), "6", "step"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    received = 0
    try:
        assert writer.stdout.readline().strip() == "written 1", writer.communicate()
        for block in follow_link_run(path, poll_s=0.05):
            received += 1
            assert len(block) == 2
            if received < 6:
                writer.stdin.write("next\n")
                writer.stdin.flush()
        _, err = writer.communicate(timeout=60)
        assert writer.returncode == 0, err          # no block had to wait for the follow to end
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.communicate()
    assert received == 6
    assert read_link_run(path)[-1] is not None


def test_follower_ends_when_the_writer_dies(tmp_path):
    path = tmp_path / "link.h5"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), "3", "hang"], stdout=subprocess.PIPE, text=True)
    try:
        assert [writer.stdout.readline().strip() for _ in range(3)][-1] == "written 3"
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
    blocks = list(follow_link_run(path, poll_s=0.05))
    assert len(blocks) == 3


def test_ingest_counts_match_a_brute_force_loop():
    rng = np.random.default_rng(4)
    template = Channel(source="weak-coherent", intensities=(0.5, 0.1, 0.0),
                       intensity_probabilities=(0.8, 0.1, 0.1)).observations(StateSet.flawed("bb84", 0.0), 1.0)
    slots = 500
    setting, intensity, basis = rng.integers(0, 4, slots), rng.integers(0, 3, slots), rng.integers(0, 2, slots)
    event_slot = np.sort(rng.integers(0, slots, 300))
    event_outcome = rng.integers(0, 2, 300)
    block = block_from_events(template, setting, intensity, basis, event_slot, event_outcome, groups=2,
                              rng=np.random.default_rng(0))
    emissions = np.zeros((2, 4, 3))
    counts = np.zeros((2, 4, 3, 2, 2))
    for k in range(slots):
        emissions[k % 2, setting[k], intensity[k]] += 1
    for k in np.unique(event_slot):
        outcomes = set(event_outcome[event_slot == k])
        if len(outcomes) == 1:
            counts[k % 2, setting[k], intensity[k], basis[k], outcomes.pop()] += 1
        else:
            counts[k % 2, setting[k], intensity[k], basis[k]].sum()
    got = np.array([g.count_array for g in block])
    assert np.array_equal(np.array([g.emission_array for g in block]), emissions)
    singles = got.sum() - counts.sum()
    mixed = sum(len(set(event_outcome[event_slot == k])) > 1 for k in np.unique(event_slot))
    assert singles == mixed                                   # each double click counted once, at a random bit
    assert np.all(got >= counts)


def test_double_clicks_get_a_fair_random_bit_and_tags_map_to_slots():
    slots = np.repeat(np.arange(20000), 2)
    outcomes = np.tile([0, 1], 20000)
    counts = count_detections(np.zeros(20000, int), np.zeros(20000, int), np.zeros(20000, int), slots, outcomes,
                              1, 1, 1, rng=np.random.default_rng(3))
    assert counts.sum() == 20000
    assert abs(counts[0, 0, 0, 0, 0] / 20000 - 0.5) < 0.02
    assert list(slots_from_tags(np.array([0, 790, 1210, 40_000]), 800.0)) == [0, 1, 2, 50]
    with pytest.raises(ValueError, match="outside the block"):
        count_detections(np.zeros(5, int), np.zeros(5, int), np.zeros(5, int), np.array([7]), np.array([0]), 1, 1, 1)


def test_a_session_interrupted_by_ctrl_c_closes_its_log(tmp_path):
    link = SimulatedLink(SOURCE, block_emissions=4e8, seed=3)

    def producer():
        yield from link.blocks(3)
        raise KeyboardInterrupt

    result = run_session(LiveEstimator(SOURCE), producer(), title="t", log_path=tmp_path / "log.csv",
                         png_path=tmp_path / "h.png", show=False)
    assert result.interrupted and len(result.updates) == 3
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert len(rows) == 3 and float(rows[-1]["total_key_bits"]) > 0
    assert (tmp_path / "h.png").stat().st_size > 10_000


def run_cli(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_live_cli_with_the_simulated_link_and_follow(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = model_file(tmp_path)
    result = run_cli("live", "--sim", "--model", str(model), "--blocks", "3", "--interval", "0", "--block", "4e8",
                     "--record", "rec.h5", "--log", "a.csv", "--png", "a.png")
    assert result.exit_code == 0, result.output
    assert "3 blocks estimated" in result.output
    assert len(read_link_run("rec.h5")) == 3
    result = run_cli("live", "--follow", "rec.h5", "--model", str(model), "--log", "b.csv", "--png", "b.png")
    assert result.exit_code == 0, result.output
    a, b = (list(csv.DictReader(open(name))) for name in ("a.csv", "b.csv"))
    assert [r["total_key_bits"] for r in a] == [r["total_key_bits"] for r in b]


@pytest.mark.parametrize("args,message", [
    (["--sim", "--follow", "x.h5"], "exactly one producer"),
    ([], "exactly one producer"),
    (["--sim", "--method", "lt"], "assumes ε = 0"),
    (["--follow", "missing.h5"], "missing.h5"),
])
def test_live_cli_errors(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    model = model_file(tmp_path)
    result = CliRunner().invoke(main, ["live", "--model", str(model), *args])
    assert result.exit_code != 0 and message in result.output
    assert "Traceback" not in result.output


def test_ctrl_c_ends_the_live_cli_cleanly(tmp_path):
    model = model_file(tmp_path)
    process = subprocess.Popen([sys.executable, "-m", "qkdlab.cli", "live", "--sim", "--model", str(model),
                                "--interval", "0.2", "--block", "2e8", "--log", "l.csv", "--png", "l.png",
                                "--record", "rec.h5"],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = tmp_path / "l.csv"
    try:
        deadline = time.monotonic() + 180  # the first estimate waits for the SDPs: slow on a loaded machine
        while not (log.exists() and len(log.read_text().splitlines()) >= 3):   # a header and two blocks
            assert process.poll() is None, f"the live command ended by itself: {process.communicate()}"
            assert time.monotonic() < deadline, "no two blocks estimated within 180 s"
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, err
    rows = list(csv.DictReader(open(tmp_path / "l.csv")))
    assert rows and all(r["accepted"] == "1" for r in rows)
    assert (tmp_path / "l.png").exists()
    assert "Traceback" not in err
    [recorded] = Store(tmp_path / "rec.h5").runs()  # the record says the session was stopped
    assert recorded.status == "aborted" and "Ctrl-C" in recorded.reason and recorded.points >= 2


def test_demo_runs_the_whole_job(tmp_path):
    result = run_cli("demo", "--out", str(tmp_path / "demo"), "--live-blocks", "2")
    assert result.exit_code == 0, result.output
    for name in ("bench.h5", "source-model.json", "key-rates.png", "live-log.csv", "live-history.png"):
        assert (tmp_path / "demo" / name).stat().st_size > 0, name
    for text in ("extinction ratio", "back-reflection isolation", "qubit flaw δ", "side-channel bound ε",
                 "secret-key rate", "max distance"):
        assert text in result.output
    rows = list(csv.DictReader(open(tmp_path / "demo" / "live-log.csv")))
    assert len(rows) == 2 and float(rows[-1]["total_key_bits"]) > 0
    assert rows[-1]["total_method"] in ("ltqc", "gllp", "rt")           # the live run uses best, names the winner
    assert "best" in result.output and "(ltqc)" in result.output        # the rate table names the winner too
    from qkdlab.live.log import COLUMNS, UNITS
    assert set(UNITS) == set(COLUMNS)                                    # every column has its unit in the sidecar
