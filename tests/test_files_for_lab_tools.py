"""qkdlab's HDF5 files as other lab tools see them: h5py, xarray (h5netcdf), NeXus (nexusformat).

Each test opens the files with the other tool, not with qkdlab, so a layout change that breaks a
lab's own scripts fails here.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from qkdlab.bench import Bench
from qkdlab.cli import main
from qkdlab.scans import SCANS, run_scan
from qkdlab.store import SCHEMA_VERSION, Store, open_run

xr = pytest.importorskip("xarray")
nexus = pytest.importorskip("nexusformat.nexus")

OLD_FILE = Path(__file__).parent / "data" / "schema1-run.h5"  # written by qkdlab 0.1.0 at schema 1


@pytest.fixture(scope="module")
def bench_file(tmp_path_factory) -> Path:
    """Every characterization scan with its defaults on the simulated bench (the demo's first step)."""
    path = tmp_path_factory.mktemp("lab") / "bench.h5"
    with Bench.simulated(seed=5).open() as bench:
        for kind in SCANS:
            assert run_scan(kind, bench, Store(path)).status == "completed"
    return path


def _groups_with_datasets(path: Path) -> list[str]:
    found: list[str] = []

    def visit(name: str, obj: object) -> None:
        if isinstance(obj, h5py.Group) and any(isinstance(v, h5py.Dataset) for v in obj.values()):
            found.append(name)
    with h5py.File(path, "r") as handle:
        handle.visititems(visit)
    return found


def test_xarray_sees_named_dimensions_in_every_group(bench_file: Path) -> None:
    groups = _groups_with_datasets(bench_file)
    assert len(groups) > 30
    for group in groups:
        with xr.open_dataset(bench_file, engine="h5netcdf", group=group) as ds:
            phony = [d for d in ds.dims if str(d).startswith("phony_dim")]
            assert not phony, f"{group}: anonymous dimensions {phony}"
    with xr.open_dataset(bench_file, engine="h5netcdf", group="run_0001/sweep") as sweep:
        assert "bias" in sweep.coords and sweep["power"].dims == ("point",)
    with xr.open_dataset(bench_file, engine="h5netcdf", group="run_0006/traces") as traces:
        assert "time" in traces.coords and traces["volts"].dims == ("point", "time")


def test_open_run_gives_the_same_labelled_data_as_h5netcdf(bench_file: Path) -> None:
    for run in Store(bench_file).runs():
        data = Store(bench_file).read(run.name)
        for group in data.groups:
            mine = open_run(bench_file, run.name, group)
            with xr.open_dataset(bench_file, engine="h5netcdf", group=f"{run.name}/{group}") as theirs:
                for key in mine.data_vars:
                    np.testing.assert_array_equal(np.asarray(mine[key]), np.asarray(theirs[key]))
                    assert mine[key].dims == theirs[key].dims
            assert mine.attrs["status"] == "completed"


def test_every_default_plot_resolves_in_a_nexus_reader(bench_file: Path) -> None:
    root = nexus.nxload(str(bench_file))
    entries = [e for name, e in root.entries.items() if name.startswith("run_")]
    assert len(entries) == len(SCANS)
    for entry in entries:
        assert str(entry["end_time"].nxvalue) >= str(entry["start_time"].nxvalue)
        assert entry["title"].nxvalue and entry["status"].nxvalue == "completed"
        data = entry.plottable_data
        signal_, axes = data.nxsignal, data.nxaxes
        assert signal_ is not None and len(axes) == signal_.ndim, entry.nxname
        for dim, axis in enumerate(axes):
            values = np.asarray(axis.nxvalue)
            assert values.ndim == 1 and values.shape[0] == signal_.shape[dim], (entry.nxname, axis.nxname)
            steps = np.diff(values)
            assert np.all(steps > 0) or np.all(steps < 0), f"{entry.nxname}: axis {axis.nxname} is not monotonic"
    with h5py.File(bench_file, "r") as handle:
        unclassed = []
        handle.visititems(lambda name, obj: unclassed.append(name) if isinstance(obj, h5py.Group)
                          and "NX_class" not in obj.attrs else None)
    assert not unclassed, f"groups without NX_class: {unclassed}"


SCAN = [sys.executable, "-m", "qkdlab.cli", "scan", "extinction-ratio", "--sim", "--points", "300",
        "--fine-points", "41", "--repeats", "3"]


def _timed_scan(out: Path, hold_reader: bool) -> tuple[float, str | None]:
    """Run a scan in another process; optionally keep a SWMR reader open from its start until after it ends."""
    start = time.monotonic()
    process = subprocess.Popen([*SCAN, "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reader = None
    try:
        while hold_reader and reader is None and process.poll() is None:
            try:
                reader = h5py.File(out, "r", swmr=True)
                if "run_0001/status" not in reader:
                    reader.close()
                    reader = None
            except OSError:
                time.sleep(0.02)
        _, err = process.communicate(timeout=300)
        elapsed = time.monotonic() - start
        assert process.returncode == 0, err
        status = None
        if reader is not None:  # still open: the finished state must be visible through it
            reader["run_0001/status"].refresh()
            status = reader["run_0001/status"][()].decode()
    finally:
        if reader is not None:
            reader.close()
    return elapsed, status


def test_a_swmr_reader_cannot_break_a_finishing_scan(tmp_path: Path) -> None:
    alone, _ = _timed_scan(tmp_path / "alone.h5", hold_reader=False)
    watched, seen = _timed_scan(tmp_path / "watched.h5", hold_reader=True)
    assert seen == "completed"  # the writer recorded its end while the reader held the file
    run = Store(tmp_path / "watched.h5").runs()[0]
    assert run.status == "completed" and run.points == 300
    assert run.start_time <= run.stop_time and run.stop_time[:4] == run.start_time[:4]
    assert watched < 1.2 * alone + 1.0, (watched, alone)  # no lock wait (it was 10 s)


WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    from qkdlab.store import DataGroup, DatasetSpec, Store
    group = DataGroup("sweep", [DatasetSpec("bias", "V"), DatasetSpec("power", "W"),
                                DatasetSpec("trace", "V", shape=(8,))], signal="power", axes=["bias"],
                      fixed={"time": (np.arange(8) * 1e-9, "s")})
    with Store(sys.argv[1]).new_run("killme", [group]) as run:
        for i in range(100000):
            run.append("sweep", bias=float(i), power=float(i) * 1e-3, trace=np.full(8, float(i)))
            time.sleep(0.002)
""")


def test_after_sigkill_repair_opens_the_file_in_every_reader(tmp_path: Path) -> None:
    path = tmp_path / "crash.h5"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    writer = subprocess.Popen([sys.executable, str(script), str(path)])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runs = Store(path).runs() if path.exists() else []
            if runs and runs[0].points >= 40:
                break
            time.sleep(0.05)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    committed = Store(path).read(1).data("sweep", "power").size
    assert committed >= 40
    with pytest.raises(OSError):
        h5py.File(path, "r")  # the dead writer's flags: plain readers refuse before the repair
    result = CliRunner().invoke(main, ["runs", str(path), "--repair"])
    assert result.exit_code == 0, result.output
    assert "repaired" in result.output and "failed" in result.output
    with h5py.File(path, "r") as handle:
        assert handle["run_0001/status"][()].decode() == "failed"
        np.testing.assert_allclose(handle["run_0001/sweep/power"][:], np.arange(committed) * 1e-3)
    with xr.open_dataset(path, engine="h5netcdf", group="run_0001/sweep") as ds:
        assert ds.sizes["point"] == committed and ds.sizes["time"] == 8
    entry = nexus.nxload(str(path))["run_0001"]
    assert entry.plottable_data.nxsignal.shape == (committed,)
    again = CliRunner().invoke(main, ["runs", str(path), "--repair"])
    assert again.exit_code == 0 and "needs no repair" in again.output


def test_files_written_before_schema_2_still_read(tmp_path: Path) -> None:
    old = tmp_path / "old.h5"
    shutil.copy(OLD_FILE, old)
    [run] = Store(old).runs()
    assert (run.status, run.points, run.kind) == ("completed", 3, "extinction-ratio")
    assert run.stop_time >= run.start_time
    ds = open_run(old, 1)
    np.testing.assert_allclose(ds["bias"].values, [0.0, 1.0, 2.0])
    with Bench.simulated(seed=1).open() as bench:  # a new run in an old file: the file says schema 2 now
        run_scan("extinction-ratio", bench, Store(old), points=11, fine_points=5, repeats=1)
    assert [r.status for r in Store(old).runs()] == ["completed", "completed"]
    with h5py.File(old, "r") as handle:
        assert handle.attrs["qkdlab_schema_version"] == SCHEMA_VERSION == 2
