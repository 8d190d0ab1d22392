"""``qkdlab.probe``: the bench probe on the simulated bench, with and without an unknown query."""

from __future__ import annotations

import time
from pathlib import Path

import h5py
import pytest

from qkdlab.bench import Bench
from qkdlab.config import parse_config
from qkdlab.drivers.detector import CountingMode
from qkdlab.probe import PROBE_KIND, probe_bench, probe_queries, read_probe
from qkdlab.store import Store

UNKNOWN = "Counter:Counting_Mode?"


def small_config(unknown: list[str] | None = None) -> object:
    spd_sim = {"detector": 1, "serial": "ID210A0001"}
    if unknown:
        spd_sim["unknown_commands"] = unknown
    return parse_config({
        "name": "probe test bench",
        "instruments": {
            "spd1": {"driver": "idq_id210", "resource": "USB0::0x1DDC::0x0210::ID210A0001::INSTR", "sim": spd_sim},
            "laser": {"driver": "keysight_816x_laser", "resource": "GPIB0::20::INSTR",
                      "limits": {"max_laser_power": "5 mW"}, "sim": {"role": "source"}},
            "voa": {"driver": "keysight_81577a", "resource": "GPIB0::23::INSTR"},
        },
        "simulation": {"seed": 1, "parameters": {}},
    })


def test_probe_of_the_simulated_bench_passes_and_is_recorded(tmp_path: Path) -> None:
    out = tmp_path / "probe.h5"
    with Bench(small_config(), simulate=True) as bench:
        record = probe_bench(bench, out, timeout=0.5)
        queries = probe_queries(bench["spd1"])
    assert record.passed, record.summary()
    assert queries[UNKNOWN] is True and queries["Detector:Mode?"] is False and "Detector:Trigger_Delay?" in queries
    back = read_probe(out)
    assert back.results == record.results and back.identities == record.identities
    summary = Store(out).runs()[-1]
    assert (summary.kind, summary.status, summary.points) == (PROBE_KIND, "completed", len(record.results))
    with h5py.File(out, "r") as f:
        assert len(f[summary.name]["commands/command"]) == len(record.results)


def test_an_unknown_query_is_named_and_the_driver_then_skips_it(tmp_path: Path) -> None:
    """Acceptance (issue 20): an emulator that does not know ``Counter:Counting_Mode?``."""
    config = small_config([UNKNOWN])
    out = tmp_path / "probe.h5"
    with Bench(config, simulate=True) as bench:
        record = probe_bench(bench, out, timeout=0.3)
    bad = [r for r in record.results if r.status != "answered"]
    assert [(r.instrument, r.command, r.status, r.optional) for r in bad] == [("spd1", UNKNOWN, "timeout", True)]
    assert f"TIMEOUT  query {UNKNOWN} (optional" in record.summary()
    assert record.passed            # an optional query: the driver copes, as the next lines show
    # A bench opened with the probe record sets the counting mode without asking the query at all.
    unsupported = read_probe(out).unsupported_by_instrument()
    with Bench(config, simulate=True, unsupported_queries=unsupported) as bench:
        bench.open()
        spd = bench["spd1"]
        emulator = bench.sim.emulators["spd1"]
        # were the query asked, the set would wait this long for the silence: long enough that no
        # scheduling pause of a loaded machine can pass for it, or hide it
        spd.optional_query_timeout = 5.0
        start = time.monotonic()
        spd.counting_mode = CountingMode.TOTALIZE
        assert time.monotonic() - start < 2.5
        assert emulator.counting_mode == "Totalize"
        assert UNKNOWN.encode() not in emulator.sent_messages()
        assert spd.snapshot()["unsupported queries"] == [UNKNOWN]


def test_without_a_probe_record_the_set_still_succeeds_after_one_short_wait() -> None:
    with Bench(small_config([UNKNOWN]), simulate=True) as bench:
        bench.open()
        spd = bench["spd1"]
        spd.counting_mode = CountingMode.TOTALIZE      # one optional-query timeout, no error
        spd.counting_mode = CountingMode.FREQUENCY     # not asked again
        sent = bench.sim.emulators["spd1"].sent_messages()
        assert sent.count(UNKNOWN.encode()) == 1
        assert bench.sim.emulators["spd1"].counting_mode == "Frequency"


def test_allow_set_writes_back_present_values_within_the_limits() -> None:
    with Bench(small_config(), simulate=True) as bench:
        bench.open()
        bench["laser"].power = 2e-3
        before = bench.sim.model.source.power_w
        record = probe_bench(bench, None, allow_set=True, timeout=0.5)
        sets = [r for r in record.results if r.step == "set"]
        assert sets and all(r.status == "answered" for r in sets), record.summary()
        assert bench.sim.model.source.power_w == pytest.approx(before)


def test_an_unanswered_required_query_fails_the_probe(tmp_path: Path) -> None:
    config = small_config(["Detector:Mode?"])
    with Bench(config, simulate=True) as bench:
        record = probe_bench(bench, None, timeout=0.2)
    assert not record.passed
    assert "TIMEOUT  query Detector:Mode?" in record.summary() and "ATTENTION" in record.summary()


def test_cli_bench_probe_sim_passes_and_names_an_unknown_query(tmp_path: Path) -> None:
    import yaml
    from click.testing import CliRunner

    from qkdlab.cli import main

    out = tmp_path / "probe.h5"
    result = CliRunner().invoke(main, ["bench", "probe", "--sim", "--out", str(out), "--timeout", "0.5"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "PASSED" in result.output and read_probe(out).passed
    config = tmp_path / "bench.yaml"
    data = small_config([UNKNOWN]).model_dump(mode="json")
    config.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(main, ["bench", "probe", str(config), "--sim", "--out", str(tmp_path / "p2.h5"),
                                       "--timeout", "0.3"], catch_exceptions=False)
    assert result.exit_code == 0 and f"TIMEOUT  query {UNKNOWN} (optional" in result.output
    result = CliRunner().invoke(main, ["bench", "probe", str(tmp_path / "missing.yaml"), "--out", str(out)])
    assert result.exit_code == 2 and "error:" in result.output and "Traceback" not in result.output


def test_cli_takes_the_probe_record(tmp_path: Path) -> None:
    """``--probe-record`` (bench check and every scan): drivers skip the queries a probe found unanswered."""
    import yaml
    from click.testing import CliRunner

    from qkdlab.cli import main

    out = tmp_path / "probe.h5"
    config = tmp_path / "bench.yaml"
    data = yaml.safe_load((Path(__file__).resolve().parents[1] / "qkdlab" / "configs" / "sim_bench.yaml").read_text())
    data["instruments"]["spd1"]["sim"]["unknown_commands"] = [UNKNOWN]
    config.write_text(yaml.safe_dump(data))
    runner = CliRunner()
    assert runner.invoke(main, ["bench", "probe", str(config), "--sim", "--out", str(out), "--timeout", "0.3"],
                         catch_exceptions=False).exit_code == 0
    result = runner.invoke(main, ["bench", "check", str(config), "--sim", "--probe-record", str(out)],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert read_probe(out).unsupported_by_instrument()["spd1"] == {UNKNOWN}
